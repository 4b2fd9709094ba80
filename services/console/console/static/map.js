// Peta: draws every Posyandu the console's GeoJSON gives, coloured by facility (fill) and
// verification (ring). The GeoJSON is the registry's, passed through by the console: points
// that cannot be drawn are skipped and counted here, and the colours chosen here; without tiles
// the points show on a plain background with the kecamatan names at their centroids.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var map = L.map(el, { zoomControl: true }).setView([-1.24, 116.87], 12);
  var tileUrl = el.getAttribute("data-tile-url");
  var note = document.getElementById("no-tiles");
  if (tileUrl) {
    var layer = L.tileLayer(tileUrl, { attribution: el.getAttribute("data-tile-attribution"), maxZoom: 19 });
    var failed = 0;
    layer.on("tileerror", function () { failed += 1; if (failed > 3 && note) { note.hidden = false; } });
    layer.addTo(map);
  } else if (note) {
    note.hidden = false;
  }
  var labelsEl = document.getElementById("kecamatan-labels");
  var labels = labelsEl ? JSON.parse(labelsEl.textContent || "[]") : [];
  var coloursEl = document.getElementById("map-colours");
  var colours = coloursEl ? JSON.parse(coloursEl.textContent || "{}") : {};
  var fills = colours.fill || {};
  var rings = colours.ring || {};
  labels.forEach(function (k) {
    var span = document.createElement("span");
    span.textContent = k.name;
    L.marker([k.lat, k.lon], {
      icon: L.divIcon({ className: "kecamatan-label", html: span, iconSize: null }),
      interactive: false, keyboard: false
    }).addTo(map);
  });

  function finite(v) { return typeof v === "number" && isFinite(v); }
  function drawable(f) {
    var c = f && f.geometry && f.geometry.type === "Point" && f.geometry.coordinates;
    return !!c && c.length >= 2 && finite(c[0]) && finite(c[1]) &&
      Math.abs(c[0]) <= 180 && Math.abs(c[1]) <= 90;
  }
  function popup(p) {
    var box = document.createElement("div");
    var title = document.createElement("strong");
    title.textContent = p.name || "";
    box.appendChild(title);
    var line = document.createElement("div");
    line.textContent = [p.kelurahan_name, p.posyandu_type, p.facility_status, p.verification_status]
      .filter(Boolean).join(" · ");
    box.appendChild(line);
    if (p.location_precision === "approximate") {
      var approx = document.createElement("div");
      approx.textContent = el.getAttribute("data-approximate");
      box.appendChild(approx);
    }
    var link = document.createElement("a");
    link.href = "/peta/posyandu/" + encodeURIComponent(p.id);
    link.textContent = el.getAttribute("data-open");
    box.appendChild(link);
    return box;
  }
  // A marker is reachable with Tab and opens its popup with Enter or Space.
  function keyboard(marker, name) {
    var path = marker.getElement && marker.getElement();
    if (!path) { return; }
    path.setAttribute("tabindex", "0");
    path.setAttribute("role", "button");
    path.setAttribute("aria-label", name);
    path.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { marker.openPopup(); e.preventDefault(); }
    });
  }
  fetch(el.getAttribute("data-geojson"), { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
    .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
    .then(function (fc) {
      var drawn = 0;
      var skipped = fc.skipped || 0;
      var points = [];
      (fc.features || []).forEach(function (f) {
        if (!drawable(f)) { skipped += 1; return; }
        var c = f.geometry.coordinates;
        var p = f.properties || {};
        var marker = L.circleMarker([c[1], c[0]], {
          radius: 7, weight: 3, fillOpacity: 0.9, fillColor: fills[p.facility_status || "not_assessed"] || "#999999",
          color: rings[p.verification_status] || "#ffffff",
          className: "posyandu-marker"
        }).bindPopup(popup(p)).addTo(map);
        keyboard(marker, p.name || "");
        points.push([c[1], c[0]]);
        drawn += 1;
      });
      document.getElementById("marker-count").textContent = String(drawn);
      document.getElementById("skipped-count").textContent = String(skipped);
      if (points.length) { map.fitBounds(points, { padding: [20, 20], maxZoom: 15 }); }
      el.setAttribute("data-state", "ready");
    })
    .catch(function () { el.setAttribute("data-state", "error"); });
}());
