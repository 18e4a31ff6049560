// Digit Lab drawing page: draw, predict live, see why, look inside the CNN,
// label. Everything shown is drawn here from the API's numbers (canvas and
// SVG); the URLs come from the template (data-* of #lab).

import { detailText, getJSON, postJSON } from "../api.js";
import { layerCaptions, renderArchitecture } from "./architecture.js";
import { nextPrompt, showPrompt } from "./collect.js";
import { Compare } from "./compare.js";
import { Explanation } from "./explanation.js";
import { waitForFirstModel } from "./first_model.js";
import { Layers } from "./layers.js";
import { Pad } from "./pad.js";
import { createBars, renderBars, renderInput, renderVerdict, shownProbabilities } from "./result.js";

const DEBOUNCE_MS = 90;
// While a stroke is drawn, at most one prediction every LIVE_GAP_MS (from
// one send to the next), however fast the answers come: the bytes a drawing
// costs stay bounded on a fast server too (bench/README.md, 2026-12-04).
// A stroke's end is asked for at once.
const LIVE_GAP_MS = 200;
const $ = (id) => document.getElementById(id);
const urls = $("lab").dataset; // predictUrl, samplesUrl, promptUrl, modelUrl
const focusDigits = JSON.parse($("focus-digits").textContent);

const state = {
  timer: null,
  inFlight: false,
  again: false,
  seq: 0,
  last: null, // {image, digit, revision}
  revision: 0, // bumped at every change of the drawing
  notBefore: 0, // no prediction is sent before this time (Retry-After)
  sentAt: 0, // when the last prediction set off (Date.now())
  failures: 0, // network errors in a row, for the back-off
  mode: "free",
  promptDigit: null,
  modelVersion: null,
  saving: false,
};

const pad = new Pad($("pad"), {
  onStart: () => {
    hideThanks();
    drawingChanged();
  },
  onMove: () => {
    drawingChanged();
    if (state.timer === null) predictSoon(Math.max(DEBOUNCE_MS, liveGapLeft()));
  },
  onEnd: () => predictSoon(0),
});
const bars = createBars($("bars"), { onHover: (d) => why.hover(d), onPick: (d) => why.pin(d) });
const why = new Explanation({ box: $("why"), canvas: $("why28"), caption: $("why-caption"), bars });
const layers = new Layers({
  container: $("layers"),
  inspector: $("inspector"),
  inspectCanvas: $("inspect"),
  inspectLabel: $("inspect-label"),
  onShown: (names) => showLayers(names),
});

// Staff only: the drawing through another registered version, side by side.
const compare = $("compare")
  ? new Compare({ root: $("compare"), predictUrl: urls.predictUrl, onChange: () => state.last && predictSoon(0) })
  : null;

$("undo").addEventListener("click", () => {
  pad.undo();
  drawingChanged();
  pad.empty ? showBlank() : predictSoon(0);
});
$("clear").addEventListener("click", () => {
  pad.clear();
  drawingChanged();
  showBlank();
});

// --- predicting ---------------------------------------------------------------
function predictSoon(delay) {
  // Never before a Retry-After the server asked for.
  delay = Math.max(delay, state.notBefore - Date.now());
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    state.timer = null;
    predict();
  }, delay);
}

function liveGapLeft() {
  return state.sentAt + LIVE_GAP_MS - Date.now();
}

// The answer on screen is for the drawing as it is now, or it is marked
// pending (dimmed, labelling disabled) until that answer arrives.
function drawingChanged() {
  state.revision++;
  showPending();
}

function showPending() {
  const pending = state.last !== null && state.last.revision !== state.revision;
  document.querySelector(".result-card").classList.toggle("pending", pending);
  for (const button of document.querySelectorAll("#labelling button, #collect-save button")) button.disabled = pending;
}

// 429 (too many requests), 503 or no answer at all: try the latest drawing
// again after Retry-After (or a growing pause when the server is unreachable).
function retryLater(seconds, text) {
  state.notBefore = Date.now() + seconds * 1000;
  showPending();
  setStatus(text, true);
  predictSoon(0);
}

async function predict() {
  if (pad.empty) return showBlank();
  if (state.inFlight) {
    state.again = true; // one request at a time; the latest drawing goes next
    return;
  }
  if (pad.drawing && liveGapLeft() > 0) return predictSoon(liveGapLeft()); // a timer set before the last send
  state.inFlight = true;
  state.sentAt = Date.now();
  const seq = ++state.seq;
  const revision = state.revision;
  // While a stroke is drawn only the probabilities: a few hundred bytes an
  // answer on a slow link. When it ends, why; then (askStale, below) the maps
  // of the layers on screen, in an answer of their own so that they do not
  // hold the answer up (the others follow when they are scrolled into view).
  const ended = !pad.drawing;
  try {
    const image = await pad.image();
    const body = { image, activations: false, explanation: ended };
    const { ok, status, data, retryAfter } = await postJSON(urls.predictUrl, body);
    state.failures = 0;
    if (seq !== state.seq) return;
    if (pad.empty) showBlank();
    else if (status === 503 && data.code === "no_model") retryLater(retryAfter, "No model yet: your digit is read as soon as it is ready.");
    else if (status === 429 || status === 503) retryLater(retryAfter, "Busy: the answer follows in a moment.");
    else if (ok) showPrediction(data, image, revision);
    else if (data.code === "blank") showBlank();
    else setStatus(detailText(data), true);
  } catch (err) {
    const pause = Math.min(2 ** state.failures++, 10);
    if (seq === state.seq) retryLater(pause, "Cannot reach the server; trying again.");
  } finally {
    state.inFlight = false;
    if (state.again) {
      state.again = false;
      predictSoon(pad.drawing ? liveGapLeft() : 0);
    } else layers.askStale(); // the maps on screen, now that the answer is
  }
}

// The maps of layers on screen, for the drawing whose answer is shown: after
// the answer to a stroke's end, and when a layer is scrolled into view.
async function showLayers(names) {
  const last = state.last;
  const coming = state.inFlight || state.timer !== null || pad.drawing || last?.revision !== state.revision;
  if (!last || coming) return; // askStale runs again after the next answer
  try {
    const { ok, data } = await postJSON(urls.predictUrl, { image: last.image, activations: names });
    if (ok && state.last === last) layers.render(data.activations || [], last.revision);
  } catch (_) {
    /* they come with the next answer */
  }
}

function setStatus(text, warn = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("warn", warn);
}

function showBlank() {
  state.last = null;
  state.seq++;
  showPending();
  renderVerdict(null);
  renderBars(bars, null);
  why.clear();
  compare?.clear();
  $("labelling").hidden = true;
  $("unsure").hidden = true;
  $("collect-save").hidden = true;
  setStatus(pad.empty ? "Draw a digit first." : "Draw a digit first: that is hardly anything.", !pad.empty);
}

function showPrediction(data, image, revision) {
  state.last = { image, digit: data.digit, revision };
  showPending();
  renderVerdict(data);
  renderBars(bars, shownProbabilities(data));
  renderInput($("input28"), data.input);
  if (data.explanation) {
    why.set(data);
    compare?.show(data, image);
  } else why.stale(); // the map is of an earlier stroke; a new one comes when it ends
  layers.setCurrent(revision);
  if (data.activations) layers.render(data.activations, revision);
  if (data.model.version !== state.modelVersion) loadModel();
  setStatus("Keep drawing, or tell the model whether it is right.");
  if (state.mode === "collect") {
    $("labelling").hidden = true;
    $("collect-save").hidden = false;
    $("save-prompted").textContent = `Done: save my ${state.promptDigit}`;
  } else {
    $("collect-save").hidden = true;
    $("labelling").hidden = false;
    // Unsure: ask first, and offer its guess as one answer among the others.
    $("unsure").hidden = !data.unsure;
    $("labelling").classList.toggle("asking", Boolean(data.unsure));
    $("confirm").textContent = data.unsure ? `It is a ${data.digit}` : `Yes, that's a ${data.digit}`;
  }
}

// --- the served model: its version, diagram and layer captions ----------------
async function loadModel() {
  try {
    const { ok, data: model } = await getJSON(urls.modelUrl);
    if (!ok) {
      if (state.modelVersion === null) $("model-version").textContent = "none yet";
      return;
    }
    state.modelVersion = model.version;
    $("model-version").textContent = `v${model.version}`;
    renderArchitecture($("architecture"), model.architecture);
    layers.setCaptions(layerCaptions(model.architecture));
    layers.setArchitecture(model.architecture);
  } catch (_) {
    /* the diagram waits for the next prediction */
  }
}

// --- labelling and collect mode -------------------------------------------------
for (let d = 0; d < 10; d++) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = d;
  button.dataset.digit = d;
  button.addEventListener("click", () => state.last && save(d, d === state.last.digit ? "confirmed" : "corrected"));
  $("digit-buttons").appendChild(button);
}
$("confirm").addEventListener("click", () => state.last && save(state.last.digit, "confirmed"));
$("save-prompted").addEventListener("click", () => state.last && save(state.promptDigit, "prompted"));

async function save(label, labelSource) {
  if (state.saving || !state.last || state.last.revision !== state.revision) return;
  state.saving = true;
  const predicted = state.last.digit;
  try {
    const body = { image: state.last.image, label, label_source: labelSource };
    const { ok, status, data, retryAfter } = await postJSON(urls.samplesUrl, body);
    if (status === 429) {
      const wait = Math.ceil(retryAfter);
      showSaveProblem(`Too many drawings from here just now: your drawing was not saved. Try again in ${wait} s.`);
      return;
    }
    if (!ok) {
      showSaveProblem(`Not saved: ${detailText(data)}`);
      return;
    }
    $("count").textContent = data.count;
    const agreed = predicted === label ? "" : ` The model said ${predicted}; your drawing helps it learn.`;
    showThanks(`Thank you! Saved as a ${label}: drawing number ${data.count} from you.${agreed}`);
    pad.clear();
    drawingChanged();
    showBlank();
    setStatus("Draw another digit.");
    if (state.mode === "collect") askNext();
  } catch (_) {
    showSaveProblem("Cannot reach the server: your drawing was not saved. Check your connection and try again.");
  } finally {
    state.saving = false;
  }
}

function showThanks(text) {
  $("thanks").textContent = text;
  $("thanks").classList.remove("problem");
  $("thanks").hidden = false;
}

// Next to the button that was pressed (on a phone the status line is scrolled away).
function showSaveProblem(text) {
  setStatus(text, true);
  showThanks(text);
  $("thanks").classList.add("problem");
}

function hideThanks() {
  $("thanks").hidden = true;
}

async function askNext() {
  const prompt = await nextPrompt(urls.promptUrl, focusDigits);
  if (state.mode !== "collect") return;
  state.promptDigit = prompt.digit;
  showPrompt(prompt);
}

function setMode(mode) {
  state.mode = mode;
  for (const [id, m] of [["mode-free", "free"], ["mode-collect", "collect"]]) {
    $(id).classList.toggle("active", m === mode);
    $(id).setAttribute("aria-pressed", String(m === mode));
  }
  // The request shows once it names a digit (askNext), never empty.
  if (mode === "collect") askNext();
  else $("prompt").hidden = true;
  if (state.last) predictSoon(0);
}
$("mode-free").addEventListener("click", () => setMode("free"));
$("mode-collect").addEventListener("click", () => setMode("collect"));

// --- start ------------------------------------------------------------------
renderBars(bars, null);
loadModel();
// A fresh start: no model yet. Once one is served, show it and read the drawing at once.
if ($("first-model")) {
  waitForFirstModel($("first-model"), () => {
    state.notBefore = 0;
    loadModel();
    if (!pad.empty) predictSoon(0);
  });
}
