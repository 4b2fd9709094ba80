// The import's progress bar: polls the console's JSON route and reloads the page (with the
// per-row report) once the job has finished. Without JavaScript the page refreshes itself.
(function () {
  "use strict";
  var box = document.getElementById("import-job");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (s) {
        document.getElementById("import-bar").value = s.percent;
        document.getElementById("import-percent").textContent = s.percent + "%";
        document.getElementById("import-status").textContent = s.status;
        document.getElementById("import-rows").textContent = s.rows_done + "/" + s.rows_total;
        if (s.finished) { window.location.reload(); } else { window.setTimeout(tick, 1000); }
      })
      .catch(function () { window.setTimeout(tick, 3000); });
  }
  window.setTimeout(tick, 500);
}());
