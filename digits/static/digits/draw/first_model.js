// Until a model is served (a fresh start trains the first one in the
// worker), the drawing page says so with the training run's progress, read
// from a small JSON endpoint every second, and comes alive by itself once a
// model is served: onServed(version) is called once, the banner goes away.

import { getJSON } from "../api.js";

const POLL_MS = 1000;

function describe(run) {
  if (!run) return "No model is served, and none is training: `make run` (or `python manage.py train_baseline`) trains one.";
  if (run.status === "queued") return "Waiting for the worker to start training it…";
  if (run.status === "running" && run.epoch === 0) return "Training started: loading TensorFlow and MNIST…";
  if (run.status === "running") return `Epoch ${run.epoch} of ${run.epochs} done.`;
  if (run.status === "succeeded") return "Trained: loading it into the server…";
  return `Its training ${run.status}: ${run.error || "see the worker's log"}.`;
}

export function waitForFirstModel(banner, onServed) {
  const bar = banner.querySelector("progress");
  const text = banner.querySelector("#first-model-text");
  const title = banner.querySelector("h2");

  async function poll() {
    let data = null;
    try {
      const answer = await getJSON(banner.dataset.url);
      if (answer.ok) data = answer.data;
    } catch (_) {
      /* the server is away for a moment: ask again */
    }
    if (data?.served) {
      banner.hidden = true;
      onServed(data.version);
      return;
    }
    if (data) {
      const run = data.run;
      bar.max = run?.epochs || 1;
      bar.value = run?.status === "succeeded" ? bar.max : run?.epoch || 0;
      text.textContent = describe(run);
      title.textContent = run ? "The first model is training" : "No model yet";
      banner.dataset.status = run?.status || "none";
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
}
