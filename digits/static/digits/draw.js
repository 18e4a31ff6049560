// Digit Lab drawing page: draw, predict live, look inside the CNN, label.
// Everything shown is drawn here from the API's numbers (canvas and SVG).
(() => {
  "use strict";

  const PAD_SIZE = 280; // internal canvas pixels: what is sent, whatever its size on screen
  const STROKE = 20; // in pad pixels: shrunk to 20x20, about MNIST's 2 px strokes
  const DEBOUNCE_MS = 90;
  const TILE_PX = 52; // on-screen size of one feature-map tile
  const CAPTIONS = {
    Conv2D: "A convolution: each channel is one small learned filter slid over the layer before; it lights up where its pattern appears.",
    MaxPooling2D: "Max pooling keeps the strongest response in each 2×2 patch: half the size, the same patterns, a little shift-proof.",
    Dense: "A dense layer weighs every number of the layer before to compute each of its own.",
  };
  const NAMED_CAPTIONS = {
    conv1: "First convolution: 32 filters of 3×3 pixels looking at your drawing directly. They find edges and stroke directions.",
    conv2: "Second convolution: combines the edges into corners, curves and stroke ends.",
    pool1: "First pooling: the same maps at half the size, so later filters see a wider area.",
    conv3: "Third convolution: 64 filters, each seeing about a third of the digit: loops, bars, junctions.",
    conv4: "Fourth convolution: parts of digits (a closed top loop, a long diagonal) become separate channels.",
    pool2: "Last pooling: 4×4 maps of 64 part detectors. This is what the dense layers read.",
    dense: "128 hidden units, each a learned mix of all the part detectors. Brighter means more active.",
  };

  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const focusDigits = JSON.parse($("focus-digits").textContent);

  const state = {
    strokes: [], // each an array of [x, y]
    drawing: null,
    pointerId: null,
    timer: null,
    inFlight: false,
    again: false,
    seq: 0,
    last: null, // {image, digit, revision}
    revision: 0, // bumped at every change of the drawing
    notBefore: 0, // no prediction is sent before this time (Retry-After)
    failures: 0, // network errors in a row, for the back-off
    mode: "free",
    promptDigit: null,
    modelVersion: null,
    layers: {}, // name -> decoded layer
    why: null, // {digit, probabilities, input, maps: [{scale, bytes}]} of the last explained drawing
    whyDigit: null, // the digit whose map is pinned by a tap; null: the predicted one
    hoverDigit: null, // the digit whose bar the mouse is over
    saving: false,
  };

  // --- colours ----------------------------------------------------------------
  // viridis, from dark violet to yellow, as 256 RGB entries
  const STOPS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [110, 206, 88], [181, 222, 43], [253, 231, 37]];
  const LUT = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (STOPS.length - 1);
    const k = Math.min(Math.floor(t), STOPS.length - 2);
    const f = t - k;
    for (let c = 0; c < 3; c++) LUT[i * 3 + c] = STOPS[k][c] + f * (STOPS[k + 1][c] - STOPS[k][c]);
  }

  // --- the pad ----------------------------------------------------------------
  function clearPad() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, PAD_SIZE, PAD_SIZE);
  }

  function drawStroke(points) {
    ctx.strokeStyle = ctx.fillStyle = "#000";
    ctx.lineWidth = STROKE;
    ctx.lineCap = ctx.lineJoin = "round";
    if (points.length === 1) {
      ctx.beginPath();
      ctx.arc(points[0][0], points[0][1], STROKE / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    for (let i = 1; i < points.length; i++) ctx.lineTo(points[i][0], points[i][1]);
    ctx.stroke();
  }

  function redraw() {
    clearPad();
    state.strokes.forEach(drawStroke);
  }

  function padPoint(event) {
    const rect = pad.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) / rect.width) * PAD_SIZE,
      ((event.clientY - rect.top) / rect.height) * PAD_SIZE,
    ];
  }

  pad.addEventListener("pointerdown", (event) => {
    if (state.drawing || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    state.pointerId = event.pointerId;
    state.drawing = [padPoint(event)];
    state.strokes.push(state.drawing);
    hideThanks();
    redraw();
    drawingChanged();
  });

  pad.addEventListener("pointermove", (event) => {
    if (!state.drawing || event.pointerId !== state.pointerId) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) state.drawing.push(padPoint(e));
    redraw();
    drawingChanged();
    schedulePredict();
  });

  function endStroke(event) {
    if (!state.drawing || event.pointerId !== state.pointerId) return;
    state.drawing = null;
    state.pointerId = null;
    predictSoon(0);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  $("undo").addEventListener("click", () => {
    state.strokes.pop();
    redraw();
    drawingChanged();
    state.strokes.length ? predictSoon(0) : showBlank();
  });
  $("clear").addEventListener("click", () => {
    state.strokes = [];
    redraw();
    drawingChanged();
    showBlank();
  });

  // --- predicting -------------------------------------------------------------
  function schedulePredict() {
    if (state.timer === null) predictSoon(DEBOUNCE_MS);
  }

  function predictSoon(delay) {
    // Never before a Retry-After the server asked for.
    delay = Math.max(delay, state.notBefore - Date.now());
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      state.timer = null;
      predict();
    }, delay);
  }

  async function postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = { detail: `The server answered ${response.status}.` };
    }
    const retryAfter = parseFloat(response.headers.get("Retry-After"));
    return { ok: response.ok, status: response.status, data, retryAfter: retryAfter > 0 ? retryAfter : 1 };
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
    if (!state.strokes.length) return showBlank();
    if (state.inFlight) {
      state.again = true; // one request at a time; the latest drawing goes next
      return;
    }
    state.inFlight = true;
    const seq = ++state.seq;
    const revision = state.revision;
    const image = pad.toDataURL("image/png");
    try {
      // Explain once a stroke ends, not on every move while drawing (it costs a few ms of server time).
      const explanation = !state.drawing;
      const body = { image, activations: true, explanation };
      const { ok, status, data, retryAfter } = await postJSON("/api/digits/predict", body);
      state.failures = 0;
      if (seq !== state.seq) return;
      if (!state.strokes.length) showBlank();
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
        predictSoon(0);
      }
    }
  }

  function detailText(data) {
    if (typeof data.detail === "string") return data.detail;
    return "The server refused that drawing.";
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
    $("digit").textContent = "?";
    $("confidence").textContent = "";
    renderBars(null);
    clearWhy();
    $("labelling").hidden = true;
    $("collect-save").hidden = true;
    setStatus(state.strokes.length ? "Draw a digit first: that is hardly anything." : "Draw a digit first.", state.strokes.length > 0);
  }

  function showPrediction(data, image, revision) {
    state.last = { image, digit: data.digit, revision };
    showPending();
    $("digit").textContent = data.digit;
    $("confidence").textContent = `${(data.confidence * 100).toFixed(1)}% sure`;
    renderBars(data.probabilities);
    renderInput(data.input);
    if (data.explanation) setWhy(data);
    else $("why").classList.add("stale"); // the map is of an earlier stroke; a new one comes when it ends
    renderLayers(data.activations || []);
    if (data.model.version !== state.modelVersion) loadModel(data.model.version);
    setStatus("Keep drawing, or tell the model whether it is right.");
    if (state.mode === "collect") {
      $("labelling").hidden = true;
      $("collect-save").hidden = false;
      $("save-prompted").textContent = `Done: save my ${state.promptDigit}`;
    } else {
      $("collect-save").hidden = true;
      $("labelling").hidden = false;
      $("confirm").textContent = `Yes, that's a ${data.digit}`;
    }
  }

  // --- probabilities and the input --------------------------------------------
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const row = document.createElement("div");
    row.className = "bar";
    row.dataset.digit = d;
    row.tabIndex = 0;
    row.setAttribute("role", "button");
    row.setAttribute("aria-label", `Why or why not a ${d}?`);
    row.innerHTML = `<span>${d}</span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
    // A mouse shows a digit's map while it hovers; a tap (or Enter) pins it, tapping again unpins.
    row.addEventListener("pointerenter", (e) => e.pointerType === "mouse" && hoverWhy(d));
    row.addEventListener("pointerleave", (e) => e.pointerType === "mouse" && hoverWhy(null));
    row.addEventListener("click", () => pinWhy(d));
    row.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), pinWhy(d)));
    $("bars").appendChild(row);
    bars.push(row);
  }

  function renderBars(probabilities) {
    const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    bars.forEach((row, d) => {
      const p = probabilities ? probabilities[d] : 0;
      row.querySelector(".fill").style.width = `${(p * 100).toFixed(1)}%`;
      row.querySelector(".pct").textContent = probabilities ? `${(p * 100).toFixed(1)}%` : "";
      row.classList.toggle("top", d === top);
    });
  }

  function renderInput(rows) {
    const canvas = $("input28");
    const g = canvas.getContext("2d");
    const img = g.createImageData(28, 28);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const v = rows[y][x];
        const i = (y * 28 + x) * 4;
        img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
        img.data[i + 3] = 255;
      }
    }
    g.putImageData(img, 0, 0);
  }

  // --- why this digit (occlusion maps) -----------------------------------------
  function setWhy(data) {
    const maps = data.explanation.maps.map((m) => ({ scale: m.scale, bytes: decodeBytes(m.data) }));
    state.why = { digit: data.digit, probabilities: data.probabilities, input: data.input, maps };
    $("why").classList.remove("stale");
    drawWhy(state.hoverDigit ?? state.whyDigit);
  }

  function hoverWhy(digit) {
    state.hoverDigit = digit;
    drawWhy(digit ?? state.whyDigit);
  }

  function clearWhy() {
    state.why = null;
    state.whyDigit = null;
    const canvas = $("why28");
    canvas.getContext("2d").clearRect(0, 0, 28, 28);
    delete canvas.dataset.digit;
    $("why").classList.remove("stale");
    $("why-caption").textContent = "Draw a digit to see which of its ink made the model decide.";
    bars.forEach((row) => row.classList.remove("asked"));
  }

  function pinWhy(digit) {
    if (!state.why) return;
    state.whyDigit = state.whyDigit === digit || digit === state.why.digit ? null : digit;
    drawWhy(state.whyDigit);
  }

  function drawWhy(wanted) {
    const why = state.why;
    if (!why) return;
    const digit = wanted ?? why.digit;
    const map = why.maps[digit];
    const canvas = $("why28");
    const g = canvas.getContext("2d");
    const img = g.createImageData(28, 28);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const i = y * 28 + x;
        const t = (map.bytes[i] - 128) / 127; // -1 .. 1 of this map's own scale
        const a = Math.min(1, Math.abs(t)) ** 0.6; // lift faint evidence into view
        const ink = why.input[y][x] * 0.35; // the drawing, dimmed, underneath
        const [r, gr, b] = t >= 0 ? [220, 38, 38] : [37, 99, 235]; // red toward, blue against
        img.data.set([ink + a * (r - ink), ink + a * (gr - ink), ink + a * (b - ink), 255], i * 4);
      }
    }
    g.putImageData(img, 0, 0);
    canvas.dataset.digit = digit;
    bars.forEach((row, d) => row.classList.toggle("asked", d === digit && digit !== why.digit));
    const pct = `${(why.probabilities[digit] * 100).toFixed(1)}%`;
    $("why-caption").textContent =
      digit === why.digit
        ? `Why a ${digit}: red ink pushed the model toward ${digit}, blue ink against it. ` +
          "Hover over or tap another digit's bar to ask why not that one."
        : `Why not a ${digit}? Blue ink argues against a ${digit}; red ink would fit one. ` +
          `The model gives ${digit} ${pct}.`;
  }

  // --- inside the CNN -----------------------------------------------------------
  function decodeBytes(base64) {
    const raw = atob(base64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function decodeLayer(layer) {
    return { ...layer, bytes: decodeBytes(layer.data) };
  }

  function value(layer, byte) {
    return layer.min + (byte / 255) * (layer.max - layer.min);
  }

  function layerSection(layer) {
    let section = document.querySelector(`.layer[data-layer="${layer.name}"]`);
    if (section) return section;
    section = document.createElement("div");
    section.className = "layer";
    section.dataset.layer = layer.name;
    const shape = layer.shape.join("×");
    const caption = NAMED_CAPTIONS[layer.name] || CAPTIONS[layer.type] || "";
    section.innerHTML = `<h3>${layer.name} <span class="shape">${layer.type} · ${shape}</span></h3><p class="caption"></p>`;
    section.querySelector(".caption").textContent = caption;
    const canvas = document.createElement("canvas");
    canvas.setAttribute("aria-label", `${layer.name} feature maps`);
    section.appendChild(canvas);
    canvas.addEventListener("pointermove", (e) => inspectAt(layer.name, canvas, e));
    canvas.addEventListener("pointerdown", (e) => inspectAt(layer.name, canvas, e));
    $("layers").appendChild(section);
    return section;
  }

  function renderLayers(activations) {
    const placeholder = $("layers").querySelector("p.muted");
    if (placeholder && activations.length) placeholder.remove();
    for (const raw of activations) {
      if (raw.name === "output") continue; // the probability bars show it
      const layer = decodeLayer(raw);
      state.layers[layer.name] = layer;
      const canvas = layerSection(layer).querySelector("canvas");
      if (layer.shape.length === 3) drawMaps(layer, canvas);
      else drawVector(layer, canvas);
      canvas.dataset.ready = "true";
    }
    if (state.inspecting) drawInspector(...state.inspecting);
  }

  function grid(layer) {
    const [h, w, c] = layer.shape;
    const cols = Math.min(c, 8);
    return { h, w, c, cols, rows: Math.ceil(c / cols) };
  }

  function drawMaps(layer, canvas) {
    // One canvas per layer, channels as tiles with a 1px gap: one putImageData, not hundreds.
    const { h, w, c, cols, rows } = grid(layer);
    const width = cols * (w + 1) - 1;
    const height = rows * (h + 1) - 1;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      canvas.style.width = `${cols * TILE_PX}px`;
    }
    const g = canvas.getContext("2d");
    const img = g.createImageData(width, height);
    img.data.fill(255); // white gaps
    for (let ch = 0; ch < c; ch++) {
      const ox = (ch % cols) * (w + 1);
      const oy = Math.floor(ch / cols) * (h + 1);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = layer.bytes[(y * w + x) * c + ch];
          const i = ((oy + y) * width + ox + x) * 4;
          img.data[i] = LUT[v * 3];
          img.data[i + 1] = LUT[v * 3 + 1];
          img.data[i + 2] = LUT[v * 3 + 2];
        }
      }
    }
    g.putImageData(img, 0, 0);
  }

  function drawVector(layer, canvas) {
    // A dense layer's units as a 16-wide grid of cells.
    const n = layer.shape[0];
    const cols = Math.min(n, 16);
    const rows = Math.ceil(n / cols);
    if (canvas.width !== cols) {
      canvas.width = cols;
      canvas.height = rows;
      canvas.style.width = `${cols * 22}px`;
    }
    const g = canvas.getContext("2d");
    const img = g.createImageData(cols, rows);
    for (let u = 0; u < cols * rows; u++) {
      const v = u < n ? layer.bytes[u] : 0;
      img.data.set([LUT[v * 3], LUT[v * 3 + 1], LUT[v * 3 + 2], u < n ? 255 : 0], u * 4);
    }
    g.putImageData(img, 0, 0);
  }

  function inspectAt(name, canvas, event) {
    const layer = state.layers[name];
    if (!layer) return;
    const rect = canvas.getBoundingClientRect();
    const px = ((event.clientX - rect.left) / rect.width) * canvas.width;
    const py = ((event.clientY - rect.top) / rect.height) * canvas.height;
    let index;
    if (layer.shape.length === 3) {
      const { h, w, cols, c } = grid(layer);
      index = Math.floor(py / (h + 1)) * cols + Math.floor(px / (w + 1));
      if (index < 0 || index >= c) return;
    } else {
      index = Math.floor(py) * canvas.width + Math.floor(px);
      if (index < 0 || index >= layer.shape[0]) return;
    }
    state.inspecting = [name, index];
    drawInspector(name, index);
  }

  function drawInspector(name, index) {
    const layer = state.layers[name];
    if (!layer) return;
    const canvas = $("inspect");
    const g = canvas.getContext("2d");
    $("inspector").hidden = false;
    if (layer.shape.length !== 3) {
      const v = value(layer, layer.bytes[index]);
      canvas.width = canvas.height = 1;
      const b = layer.bytes[index];
      g.fillStyle = `rgb(${LUT[b * 3]},${LUT[b * 3 + 1]},${LUT[b * 3 + 2]})`;
      g.fillRect(0, 0, 1, 1);
      $("inspect-label").textContent = `${name}, unit ${index} of ${layer.shape[0]}: ${v.toFixed(3)}`;
      return;
    }
    const { h, w, c } = grid(layer);
    canvas.width = w;
    canvas.height = h;
    const img = g.createImageData(w, h);
    let lo = 255;
    let hi = 0;
    for (let i = 0; i < h * w; i++) {
      const b = layer.bytes[i * c + index];
      lo = Math.min(lo, b);
      hi = Math.max(hi, b);
      img.data.set([LUT[b * 3], LUT[b * 3 + 1], LUT[b * 3 + 2], 255], i * 4);
    }
    g.putImageData(img, 0, 0);
    $("inspect-label").textContent =
      `${name} (${layer.type}), channel ${index + 1} of ${c}, ${h}×${w}: ` +
      `min ${value(layer, lo).toFixed(3)}, max ${value(layer, hi).toFixed(3)}` +
      (hi === lo && hi === 0 && layer.min === 0 ? " (silent for this drawing)" : "");
  }

  // --- the architecture ---------------------------------------------------------
  async function loadModel(version) {
    state.modelVersion = version;
    $("model-version").textContent = `v${version}`;
    try {
      const response = await fetch("/api/models/current", { credentials: "same-origin" });
      if (!response.ok) return;
      const model = await response.json();
      state.modelVersion = model.version;
      $("model-version").textContent = `v${model.version}`;
      renderArchitecture(model.architecture);
    } catch (_) {
      /* the diagram waits for the next prediction */
    }
  }

  function renderArchitecture(layers) {
    const svgNS = "http://www.w3.org/2000/svg";
    const boxW = 118;
    const boxH = 74;
    const gap = 22;
    const width = layers.length * (boxW + gap) + 10;
    const total = layers.reduce((sum, l) => sum + l.params, 0);
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("width", width);
    svg.setAttribute("height", boxH + 40);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `The CNN's ${layers.length} layers, ${total} parameters in all`);
    const colours = { Conv2D: "#dbeafe", MaxPooling2D: "#dcfce7", Dense: "#fef3c7", Flatten: "#f3e8ff", Dropout: "#f1f5f9" };
    const el = (tag, attrs, text) => {
      const node = document.createElementNS(svgNS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      svg.appendChild(node);
      return node;
    };
    layers.forEach((layer, i) => {
      const x = 5 + i * (boxW + gap);
      el("rect", { x, y: 5, width: boxW, height: boxH, rx: 8, fill: colours[layer.type] || "#fff", stroke: "#94a3b8" });
      el("text", { x: x + 8, y: 24, class: "name" }, layer.name);
      el("text", { x: x + 8, y: 40 }, layer.type);
      el("text", { x: x + 8, y: 56 }, layer.output_shape.map((d) => d ?? "?").join("×"));
      el("text", { x: x + 8, y: 71, class: "muted" }, `${layer.params.toLocaleString()} params`);
      if (i < layers.length - 1) {
        el("line", { x1: x + boxW + 2, y1: 5 + boxH / 2, x2: x + boxW + gap - 4, y2: 5 + boxH / 2, stroke: "#64748b", "stroke-width": 2 });
        el("path", { d: `M${x + boxW + gap - 4},${boxH / 2} l-6,-4 v8 z`, fill: "#64748b", transform: "translate(0,5)" });
      }
    });
    el("text", { x: 5, y: boxH + 30, class: "muted" }, `${total.toLocaleString()} learned parameters in all`);
    $("architecture").replaceChildren(svg);
  }

  // --- labelling and collect mode -------------------------------------------------
  const digitButtons = $("digit-buttons");
  for (let d = 0; d < 10; d++) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = d;
    button.dataset.digit = d;
    button.addEventListener("click", () => {
      if (!state.last) return;
      save(d, d === state.last.digit ? "confirmed" : "corrected");
    });
    digitButtons.appendChild(button);
  }
  $("confirm").addEventListener("click", () => state.last && save(state.last.digit, "confirmed"));
  $("save-prompted").addEventListener("click", () => state.last && save(state.promptDigit, "prompted"));

  async function save(label, labelSource) {
    if (state.saving || !state.last || state.last.revision !== state.revision) return;
    state.saving = true;
    const predicted = state.last.digit;
    try {
      const { ok, status, data, retryAfter } = await postJSON("/api/digits/samples", {
        image: state.last.image,
        label,
        label_source: labelSource,
      });
      if (status === 429) {
        showSaveProblem(`Too many drawings from here just now: your drawing was not saved. Try again in ${Math.ceil(retryAfter)} s.`);
        return;
      }
      if (!ok) {
        showSaveProblem(`Not saved: ${detailText(data)}`);
        return;
      }
      $("count").textContent = data.count;
      const agreed = predicted === label ? "" : ` The model said ${predicted}; your drawing helps it learn.`;
      showThanks(`Thank you! Saved as a ${label}: drawing number ${data.count} from you.${agreed}`);
      state.strokes = [];
      redraw();
      drawingChanged();
      showBlank();
      setStatus("Draw another digit.");
      if (state.mode === "collect") nextPrompt();
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
    $("thanks").textContent = text;
    $("thanks").classList.add("problem");
    $("thanks").hidden = false;
  }

  function hideThanks() {
    $("thanks").hidden = true;
  }

  async function nextPrompt() {
    let prompt;
    try {
      const response = await fetch("/api/digits/prompt", { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      prompt = await response.json(); // {digit, reason}: the digit the model is weakest on lately, mostly
    } catch (_) {
      // offline or refused: still favour the focus digits, and say why this one
      const focus = Math.random() < 0.6 && focusDigits.length;
      const digit = focus ? focusDigits[Math.floor(Math.random() * focusDigits.length)] : Math.floor(Math.random() * 10);
      prompt = { digit, reason: "The server did not say which digits the model needs most; any drawing helps." };
    }
    state.promptDigit = prompt.digit;
    $("prompt-digit").textContent = prompt.digit;
    $("prompt-reason").textContent = prompt.reason;
    $("prompt").hidden = false;
  }

  function setMode(mode) {
    state.mode = mode;
    for (const [id, m] of [["mode-free", "free"], ["mode-collect", "collect"]]) {
      $(id).classList.toggle("active", m === mode);
      $(id).setAttribute("aria-pressed", String(m === mode));
    }
    // The request shows once it names a digit (nextPrompt), never empty.
    if (mode === "collect") nextPrompt();
    else $("prompt").hidden = true;
    if (state.last) predictSoon(0);
  }
  $("mode-free").addEventListener("click", () => setMode("free"));
  $("mode-collect").addEventListener("click", () => setMode("collect"));

  // --- start ------------------------------------------------------------------
  clearPad();
  renderBars(null);
  fetch("/api/models/current", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then((model) => {
      if (!model) {
        $("model-version").textContent = "none yet";
        return;
      }
      state.modelVersion = model.version;
      $("model-version").textContent = `v${model.version}`;
      renderArchitecture(model.architecture);
    })
    .catch(() => {});
})();
