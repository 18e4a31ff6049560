// "Why this digit": the occlusion map of each digit over the input (red: ink
// that pushed the model toward the digit; blue: ink that pushed against it).

import { decodeBytes } from "../api.js";

const INTRO = "Draw a digit to see which of its ink made the model decide.";

export class Explanation {
  constructor({ box, canvas, caption, bars }) {
    Object.assign(this, { box, canvas, caption, bars });
    this.why = null; // {digit, probabilities, input, maps: [{scale, bytes}]}
    this.pinned = null; // the digit a tap pinned; null: the answer
    this.hovered = null; // the digit whose bar the mouse is over
  }

  set(data) {
    const maps = data.explanation.maps.map((m) => ({ scale: m.scale, bytes: decodeBytes(m.data) }));
    const probabilities = data.calibrated_probabilities ?? data.probabilities; // as the bars show them
    this.why = { digit: data.digit, probabilities, input: data.input, maps };
    this.box.classList.remove("stale");
    this.draw(this.hovered ?? this.pinned);
  }

  // The drawing changed and its map comes when the stroke ends.
  stale() {
    this.box.classList.add("stale");
  }

  clear() {
    this.why = null;
    this.pinned = null;
    this.canvas.getContext("2d").clearRect(0, 0, 28, 28);
    delete this.canvas.dataset.digit;
    this.box.classList.remove("stale");
    this.caption.textContent = INTRO;
    this.bars.forEach((row) => row.classList.remove("asked"));
  }

  hover(digit) {
    this.hovered = digit;
    this.draw(digit ?? this.pinned);
  }

  pin(digit) {
    if (!this.why) return;
    this.pinned = this.pinned === digit || digit === this.why.digit ? null : digit;
    this.draw(this.pinned);
  }

  draw(wanted) {
    const why = this.why;
    if (!why) return;
    const digit = wanted ?? why.digit;
    const map = why.maps[digit];
    const g = this.canvas.getContext("2d");
    const img = g.createImageData(28, 28);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const i = y * 28 + x;
        const t = (map.bytes[i] - 128) / 127; // -1 .. 1 of this map's own scale
        const a = Math.min(1, Math.abs(t)) ** 0.6; // lift faint evidence into view
        const ink = why.input[y][x] * 0.35; // the drawing, dimmed, underneath
        const [r, gr, b] = t >= 0 ? [220, 38, 38] : [37, 99, 235];
        img.data.set([ink + a * (r - ink), ink + a * (gr - ink), ink + a * (b - ink), 255], i * 4);
      }
    }
    g.putImageData(img, 0, 0);
    this.canvas.dataset.digit = digit;
    this.bars.forEach((row, d) => row.classList.toggle("asked", d === digit && digit !== why.digit));
    const pct = `${(why.probabilities[digit] * 100).toFixed(1)}%`;
    this.caption.textContent =
      digit === why.digit
        ? `Why a ${digit}: red ink pushed the model toward ${digit}, blue ink against it. ` +
          "Hover over or tap another digit's bar to ask why not that one."
        : `Why not a ${digit}? Blue ink argues against a ${digit}; red ink would fit one. ` +
          `The model gives ${digit} ${pct}.`;
  }
}
