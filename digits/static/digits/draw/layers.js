// Inside the CNN: every conv and pooling layer's feature maps, the dense
// units, and an enlarged view of the channel under the pointer.
//
// With ``onShown``, a layer's maps are asked for only while its section is on
// screen: the sections are laid out from the served architecture, an
// IntersectionObserver keeps the set of those in view (``wanted``), and one
// scrolled into view with maps of an older drawing asks for fresh ones.

import { decodeBytes } from "../api.js";

const TILE_PX = 52; // on-screen size of one feature-map tile
// The layers the API returns activations of (models/inference.py's
// VISIBLE_LAYER_TYPES); the last, "output", is the probabilities the bars show.
const SHOWN_TYPES = ["Conv2D", "MaxPooling2D", "Dense"];
const OUTPUT = "output";

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
const rgb = (v) => [LUT[v * 3], LUT[v * 3 + 1], LUT[v * 3 + 2]];

function value(layer, byte) {
  return layer.min + (byte / 255) * (layer.max - layer.min);
}

function grid(layer) {
  const [h, w, c] = layer.shape;
  const cols = Math.min(c, 8);
  return { h, w, c, cols, rows: Math.ceil(c / cols) };
}

export class Layers {
  constructor({ container, inspector, inspectCanvas, inspectLabel, onShown = null }) {
    Object.assign(this, { container, inspector, inspectCanvas, inspectLabel, onShown });
    this.layers = {}; // name -> decoded layer
    this.captions = {}; // name -> caption, from the served architecture
    this.inspecting = null;
    this.inView = new Set(); // names of the sections on screen
    this.drawnFor = {}; // name -> the drawing (key) its maps are of
    this.current = null; // the key of the drawing on screen
    this.observer = onShown && new IntersectionObserver((entries) => this.seen(entries), { rootMargin: "100px" });
  }

  setCaptions(captions) {
    this.captions = captions;
    for (const section of this.container.querySelectorAll(".layer")) {
      section.querySelector(".caption").textContent = captions[section.dataset.layer] || "";
    }
  }

  // One section per shown layer of the served version, before any maps
  // arrive, so that the observer can tell which are on screen.
  setArchitecture(architecture) {
    if (!this.observer) return;
    for (const layer of architecture) {
      if (!SHOWN_TYPES.includes(layer.type) || layer.name === OUTPUT) continue;
      this.section({ name: layer.name, type: layer.type, shape: layer.output_shape.filter((d) => d !== null) });
    }
  }

  // The layers whose maps the screen shows now, in model order.
  wanted() {
    return [...this.container.querySelectorAll(".layer")].map((s) => s.dataset.layer).filter((n) => this.inView.has(n));
  }

  seen(entries) {
    for (const entry of entries) {
      const name = entry.target.dataset.layer;
      if (entry.isIntersecting) this.inView.add(name);
      else this.inView.delete(name);
    }
    this.askStale();
  }

  // Layers on screen with maps of another drawing than the one shown ask for theirs.
  askStale() {
    const stale = this.wanted().filter((name) => this.drawnFor[name] !== this.current);
    if (this.onShown && this.current !== null && stale.length) this.onShown(stale);
  }

  // A new drawing (``key``) is on screen: maps of older ones are dimmed until theirs arrive.
  setCurrent(key) {
    this.current = key;
    for (const section of this.container.querySelectorAll(".layer")) {
      section.classList.toggle("stale", this.drawnFor[section.dataset.layer] !== key);
    }
  }

  render(activations, key = null) {
    const placeholder = this.container.querySelector("p.muted");
    if (placeholder && activations.length) placeholder.remove();
    for (const raw of activations) {
      if (raw.name === OUTPUT) continue; // the bars show it
      const layer = { ...raw, bytes: decodeBytes(raw.data) };
      this.layers[layer.name] = layer;
      const section = this.section(layer);
      const canvas = section.querySelector("canvas");
      if (layer.shape.length === 3) this.drawMaps(layer, canvas);
      else this.drawVector(layer, canvas);
      canvas.dataset.ready = "true";
      this.drawnFor[layer.name] = key;
      section.classList.toggle("stale", key !== this.current);
    }
    if (this.inspecting) this.drawInspector(...this.inspecting);
  }

  section(layer) {
    let section = this.container.querySelector(`.layer[data-layer="${layer.name}"]`);
    if (section) return section;
    section = document.createElement("div");
    section.className = "layer";
    section.dataset.layer = layer.name;
    section.innerHTML = '<h3><span class="name"></span> <span class="shape"></span></h3><p class="caption"></p>';
    section.querySelector(".name").textContent = layer.name;
    section.querySelector(".shape").textContent = `${layer.type} · ${layer.shape.join("×")}`;
    section.querySelector(".caption").textContent = this.captions[layer.name] || "";
    const canvas = document.createElement("canvas");
    canvas.setAttribute("aria-label", `${layer.name} feature maps`);
    section.appendChild(canvas);
    this.fit(layer, canvas);
    this.observer?.observe(section);
    canvas.addEventListener("pointermove", (e) => this.inspectAt(layer.name, canvas, e));
    canvas.addEventListener("pointerdown", (e) => this.inspectAt(layer.name, canvas, e));
    this.container.appendChild(section);
    return section;
  }

  // The canvas sized for a layer: feature maps as tiles with a 1 px gap, or dense units 16 a row.
  fit(layer, canvas) {
    let width, height, cssWidth;
    if (layer.shape.length === 3) {
      const { h, w, cols, rows } = grid(layer);
      [width, height, cssWidth] = [cols * (w + 1) - 1, rows * (h + 1) - 1, cols * TILE_PX];
    } else {
      width = Math.min(layer.shape[0], 16);
      [height, cssWidth] = [Math.ceil(layer.shape[0] / width), width * 22];
    }
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      canvas.style.width = `${cssWidth}px`;
    }
    return { width, height };
  }

  drawMaps(layer, canvas) {
    // One canvas per layer, channels as tiles with a 1px gap: one putImageData, not hundreds.
    const { h, w, c, cols } = grid(layer);
    const { width, height } = this.fit(layer, canvas);
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

  drawVector(layer, canvas) {
    // A dense layer's units as a 16-wide grid of cells.
    const n = layer.shape[0];
    const { width: cols, height: rows } = this.fit(layer, canvas);
    const g = canvas.getContext("2d");
    const img = g.createImageData(cols, rows);
    for (let u = 0; u < cols * rows; u++) {
      const v = u < n ? layer.bytes[u] : 0;
      img.data.set([...rgb(v), u < n ? 255 : 0], u * 4);
    }
    g.putImageData(img, 0, 0);
  }

  inspectAt(name, canvas, event) {
    const layer = this.layers[name];
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
    this.inspecting = [name, index];
    this.drawInspector(name, index);
  }

  drawInspector(name, index) {
    const layer = this.layers[name];
    if (!layer) return;
    const canvas = this.inspectCanvas;
    const g = canvas.getContext("2d");
    this.inspector.hidden = false;
    if (layer.shape.length !== 3) {
      const b = layer.bytes[index];
      canvas.width = canvas.height = 1;
      g.fillStyle = `rgb(${rgb(b).join(",")})`;
      g.fillRect(0, 0, 1, 1);
      this.inspectLabel.textContent = `${name}, unit ${index} of ${layer.shape[0]}: ${value(layer, b).toFixed(3)}`;
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
      img.data.set([...rgb(b), 255], i * 4);
    }
    g.putImageData(img, 0, 0);
    this.inspectLabel.textContent =
      `${name} (${layer.type}), channel ${index + 1} of ${c}, ${h}×${w}: ` +
      `min ${value(layer, lo).toFixed(3)}, max ${value(layer, hi).toFixed(3)}` +
      (hi === lo && hi === 0 && layer.min === 0 ? " (silent for this drawing)" : "");
  }
}
