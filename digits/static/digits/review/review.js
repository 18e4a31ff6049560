// The review queue: one drawing at a time, decided with the keyboard.
//
// The next few drawings are fetched (and their images loaded) ahead, so a
// decision shows the next one at once; decisions go to the server in the
// background, one after the other, so an undo always takes back the last one.
import { api, detailText } from "../api.js";

const root = document.getElementById("review");
if (root) start();

function start() {
  const $ = (id) => document.getElementById(id);
  const AHEAD = 4; // drawings kept ready behind the one on screen

  let current = null; // the sample on screen
  let ahead = []; // prefetched samples, images loading
  const saving = new Map(); // id -> sample, decisions sent or waiting to be sent
  let undoing = 0; // undos sent or waiting to be sent
  let chain = Promise.resolve(); // server writes, in order
  let fetching = null;
  let generation = 0; // bumped when the order changes; older answers are dropped
  let exhausted = false; // the last fetch found nothing more
  let written = 0; // decisions and undos the server has answered; counts asked before one are stale
  let counts = {
    pending: Number($("remaining-count").textContent),
    disagreements: Number($("remaining-disagreements").textContent),
  };

  const order = () => $("order").value; // oldest, disagreements or uncertain

  function notice(text, isError = false) {
    const el = $("notice");
    el.textContent = text;
    el.classList.toggle("error", isError);
  }

  function setSaving() {
    root.dataset.saving = String(saving.size + undoing);
  }

  // The shared API helper, throwing on an HTTP error so a failed write is one catch.
  async function request(url, options = {}) {
    let answer;
    try {
      answer = await api(url, options);
    } catch (_) {
      throw new Error("cannot reach the server; check the connection.");
    }
    if (!answer.ok) {
      const error = new Error(detailText(answer.data));
      error.status = answer.status;
      throw error;
    }
    return answer.data;
  }

  // Counts from the server, less the decisions it has not seen yet.
  function setCounts(serverCounts) {
    const inFlight = [...saving.values()];
    counts = {
      pending: Math.max(0, serverCounts.pending - inFlight.length),
      disagreements: Math.max(0, serverCounts.disagreements - inFlight.filter((s) => s.disagrees).length),
    };
    renderCounts();
  }

  function renderCounts() {
    $("remaining-count").textContent = counts.pending;
    $("remaining-disagreements").textContent = counts.disagreements;
  }

  function preload(sample) {
    const image = new Image();
    image.src = sample.drawing_url;
    sample.image = image;
  }

  function knownIds() {
    const ids = [...ahead.map((s) => s.id), ...saving.keys()];
    if (current) ids.push(current.id);
    return ids;
  }

  function fill() {
    if (fetching || ahead.length >= AHEAD) return fetching;
    const asked = generation;
    const writtenBefore = written;
    const params = new URLSearchParams({
      disagreements_first: order() === "disagreements",
      uncertain_first: order() === "uncertain",
      limit: AHEAD + 1,
    });
    knownIds().forEach((id) => params.append("exclude", id));
    fetching = request(`${root.dataset.queueUrl}?${params}`, { method: "GET" })
      .then((data) => {
        if (asked !== generation) return;
        const known = new Set(knownIds());
        const fresh = data.samples.filter((s) => !known.has(s.id));
        fresh.forEach(preload);
        ahead.push(...fresh);
        exhausted = fresh.length === 0;
        // Counts counted before a decision that has since landed would undo it on screen.
        if (saving.size === 0 && writtenBefore === written) setCounts(data.counts);
        if (!current) showNext();
      })
      .catch((error) => notice(`Could not load drawings: ${error.message}`, true))
      .finally(() => {
        fetching = null;
        if (asked !== generation) fill();
      });
    return fetching;
  }

  function showNext() {
    current = ahead.shift() || null;
    render();
    fill();
  }

  function render() {
    const box = $("sample");
    $("empty").hidden = Boolean(current) || !exhausted;
    box.hidden = !current;
    // Nothing on screen: nothing to approve or reject (undo still works).
    root.querySelectorAll("button[data-key]").forEach((b) => (b.disabled = !current && b.dataset.key !== "u"));
    if (!current) {
      delete box.dataset.sampleId;
      return;
    }
    const s = current;
    box.dataset.sampleId = s.id;
    $("drawing").src = s.drawing_url;
    $("input").src = s.input_url;
    $("label").textContent = s.label;
    $("label-source").textContent = `(${s.label_source})`;
    $("predicted").textContent = s.predicted ?? "–";
    $("confidence").textContent = s.confidence == null ? "" : `${Math.round(s.confidence * 100)}% sure`;
    $("margin").textContent =
      s.margin == null ? "" : `${Math.round(s.margin * 100)} points ahead of its second choice`;
    $("disagrees").hidden = !s.disagrees;
    // Why the triage left it to a person (or quarantined it), and from whom.
    $("triage").hidden = !s.triage;
    $("triage").textContent = s.triage ? `Triage: ${s.triage.replace("_", " ")}, ${s.triage_reason} · from ${s.client_id}` : "";
    box.classList.toggle("disagreeing", s.disagrees);
    $("sample-id").textContent = s.id;
    // A drawing's history: how each later version read it ("v1: 7 (99%) → v3: 9 (97%)").
    $("history").hidden = !s.history.length;
    $("history").textContent = s.history.length
      ? "Read by " + s.history.map((r) => `v${r.version}: ${r.predicted} (${Math.round(r.confidence * 100)}%)`).join(" → ")
      : "";
    $("model-version").textContent = s.model_version == null ? "–" : `v${s.model_version}`;
  }

  // Queue a server write behind the ones already sent.
  function enqueue(job) {
    const result = chain.then(job);
    chain = result.catch(() => {});
    return result;
  }

  const DONE = { approve: "approved", reject: "rejected", relabel: "relabelled" };

  function decide(action, label = null) {
    if (!current) return;
    const sample = current;
    saving.set(sample.id, sample);
    setSaving();
    counts.pending = Math.max(0, counts.pending - 1);
    if (sample.disagrees) counts.disagreements = Math.max(0, counts.disagreements - 1);
    renderCounts();
    showNext();
    const url = root.dataset.decisionUrl.replace(/\/0\/decision$/, `/${sample.id}/decision`);
    enqueue(() => request(url, { method: "POST", body: { action, label } }))
      .then((data) => {
        written += 1;
        saving.delete(sample.id);
        setCounts(data.counts);
        const as = action === "relabel" ? ` as ${label}` : "";
        notice(`Sample ${sample.id} ${DONE[action]}${as}. (u undoes)`);
      })
      .catch((error) => {
        saving.delete(sample.id);
        notice(`Sample ${sample.id}: ${error.message}`, true);
        if (error.status !== 409) ahead.unshift(sample); // not saved: show it again later
      })
      .finally(setSaving);
  }

  function undo() {
    undoing += 1;
    setSaving();
    enqueue(() => request(root.dataset.undoUrl, { method: "POST", body: {} }))
      .then((data) => {
        written += 1;
        undoing -= 1;
        const sample = data.sample;
        ahead = ahead.filter((s) => s.id !== sample.id);
        if (current && current.id !== sample.id) ahead.unshift(current);
        preload(sample);
        current = sample;
        exhausted = false;
        render();
        setCounts(data.counts);
        notice(`Undone: sample ${sample.id} is ${sample.status} again.`);
      })
      .catch((error) => {
        undoing -= 1;
        notice(error.message, true);
      })
      .finally(setSaving);
  }

  function press(key) {
    if (key === "a") decide("approve");
    else if (key === "r") decide("reject");
    else if (key === "u") undo();
    else if (/^[0-9]$/.test(key)) decide("relabel", Number(key));
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    if (target.isContentEditable || ["TEXTAREA", "SELECT"].includes(target.tagName)) return;
    if (target.tagName === "INPUT" && target.type !== "checkbox") return;
    const key = event.key.toLowerCase();
    if (/^([aru]|[0-9])$/.test(key)) {
      event.preventDefault();
      press(key);
    }
  });

  root.querySelectorAll("button[data-key]").forEach((button) => {
    button.addEventListener("click", () => {
      button.blur();
      press(button.dataset.key);
    });
  });

  $("order").addEventListener("change", () => {
    const url = new URL(window.location);
    url.searchParams.delete("disagreements");
    if (order() === "oldest") url.searchParams.delete("order");
    else url.searchParams.set("order", order());
    $("order").blur(); // the keys decide again at once
    window.history.replaceState(null, "", url);
    generation += 1;
    ahead = [];
    current = null;
    exhausted = false;
    render();
    fill();
  });

  setSaving();
  fill();
}
