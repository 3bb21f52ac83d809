// The console's one script: live progress over server-sent events. Every page works
// without it; with it, the rows and counts marked data-job follow their jobs.
"use strict";
(function () {
  var holder = document.querySelector("[data-live]");
  if (!holder || !window.EventSource) return;
  var ids = holder.getAttribute("data-live");
  if (!ids) return;
  var source = new EventSource("/console/live?jobs=" + encodeURIComponent(ids));
  function set(root, field, fn) {
    var el = root.querySelector('[data-field="' + field + '"]');
    if (el) fn(el);
  }
  source.addEventListener("job", function (e) {
    var j = JSON.parse(e.data);
    document.querySelectorAll('[data-job="' + j.id + '"]').forEach(function (root) {
      set(root, "status", function (el) {
        el.textContent = j.status;
        el.className = "badge " + j["class"];
      });
      set(root, "bar", function (el) { el.value = j.percent; el.textContent = j.percent + " %"; });
      set(root, "count", function (el) { el.textContent = j.completed + "/" + j.total; });
      set(root, "succeeded", function (el) { el.textContent = j.succeeded; });
    });
    if (j.outcomes) {
      Object.keys(j.outcomes).forEach(function (o) {
        var cell = document.querySelector('[data-outcome="' + o + '"]');
        if (cell) cell.textContent = j.outcomes[o];
      });
    }
  });
  source.addEventListener("end", function () {
    source.close();
    var done = document.querySelector("[data-live-done]");
    if (done) done.hidden = false;
    // A final job has nothing left to cancel.
    document.querySelectorAll("[data-live-cancel]").forEach(function (el) { el.hidden = true; });
  });
  source.addEventListener("logout", function () {
    source.close();
    window.location.reload();
  });
})();
