// The live progress of the training run in flight, on the /models/ page and
// on the admin's list of runs: poll the latest run (the URL is the script
// tag's data-url) until it finishes, and update whichever of the two shows it;
// each answer is also announced as a "training-run" event.
(() => {
  "use strict";

  const url = document.currentScript.dataset.url;
  const $ = (id) => document.getElementById(id);

  function setBar(bar, run) {
    bar.max = run.epochs || 1;
    bar.value = run.status === "succeeded" ? bar.max : run.epoch;
  }

  function show(run) {
    // The admin's change list: the bar in the run's row, its "n/m" after it.
    const row = document.querySelector(`progress[data-run="${run.id}"]`);
    if (row) {
      setBar(row, run);
      if (row.nextSibling) row.nextSibling.textContent = ` ${run.epoch}/${run.epochs}`;
    }
    // The models page.
    if (!$("run-progress")) return;
    const last = run.history.length ? run.history[run.history.length - 1] : null;
    $("run-status").textContent = run.status;
    setBar($("run-progress"), run);
    $("run-epochs").textContent = `epoch ${run.epoch}/${run.epochs}`;
    if (last) $("run-metrics").textContent = `loss ${last.loss.toFixed(4)}, accuracy ${last.accuracy.toFixed(4)}`;
    $("run-message").textContent = run.message || run.error;
    const heartbeat = $("run-heartbeat");
    if (heartbeat && run.heartbeat_at) heartbeat.textContent = new Date(run.heartbeat_at).toLocaleString();
  }

  (function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((run) => {
        if (!run) return;
        show(run);
        document.dispatchEvent(new CustomEvent("training-run", { detail: run })); // the run's curve (models_charts.js)
        if (run.status === "queued" || run.status === "running") setTimeout(poll, 1000);
      })
      .catch(() => setTimeout(poll, 5000)); // the server is away: try again, more slowly
  })();
})();
