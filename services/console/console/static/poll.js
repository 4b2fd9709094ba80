// A progress page: polls the JSON route named by [data-poll-url], moves the bar and the
// [data-field] counts, and reloads the page (with its final tally) once finished.
(function () {
  "use strict";
  var box = document.querySelector("[data-poll-url]");
  if (!box) { return; }
  var url = box.getAttribute("data-poll-url");
  var bar = box.querySelector("progress");
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (s) {
        if (bar) { bar.value = s.percent; }
        box.querySelectorAll("[data-field]").forEach(function (el) {
          var v = s[el.getAttribute("data-field")];
          if (v !== undefined) { el.textContent = String(v); }
        });
        if (s.finished) { window.location.reload(); } else { window.setTimeout(tick, 1000); }
      })
      .catch(function () { window.setTimeout(tick, 3000); });
  }
  window.setTimeout(tick, 500);
}());
