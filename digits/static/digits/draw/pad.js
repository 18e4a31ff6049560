// The drawing pad: strokes from mouse, touch or pen on a 280x280 canvas.

import { greyPngDataUrl } from "./png.js";

export const PAD_SIZE = 280; // internal canvas pixels: what is sent, whatever its size on screen
const STROKE = 20; // in pad pixels: shrunk to 20x20, about MNIST's 2 px strokes

export class Pad {
  // onStart: a stroke began; onMove: it grew; onEnd: it ended.
  constructor(canvas, { onStart, onMove, onEnd }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { willReadFrequently: true }); // read back for every prediction
    this.strokes = []; // each an array of [x, y]
    this.current = null;
    this.pointerId = null;
    canvas.addEventListener("pointerdown", (event) => {
      if (this.current || (event.pointerType === "mouse" && event.button !== 0)) return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      this.pointerId = event.pointerId;
      this.current = [this.point(event)];
      this.strokes.push(this.current);
      this.redraw();
      onStart();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!this.current || event.pointerId !== this.pointerId) return;
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const e of events.length ? events : [event]) this.current.push(this.point(e));
      this.redraw();
      onMove();
    });
    const end = (event) => {
      if (!this.current || event.pointerId !== this.pointerId) return;
      this.current = null;
      this.pointerId = null;
      onEnd();
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    this.redraw();
  }

  get drawing() {
    return this.current !== null;
  }

  get empty() {
    return this.strokes.length === 0;
  }

  undo() {
    this.strokes.pop();
    this.redraw();
  }

  clear() {
    this.strokes = [];
    this.redraw();
  }

  // A promise of the drawing as a PNG data URL, as predict and samples take it.
  image() {
    return greyPngDataUrl(this.canvas);
  }

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [((event.clientX - rect.left) / rect.width) * PAD_SIZE, ((event.clientY - rect.top) / rect.height) * PAD_SIZE];
  }

  redraw() {
    const ctx = this.ctx;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, PAD_SIZE, PAD_SIZE);
    ctx.strokeStyle = ctx.fillStyle = "#000";
    ctx.lineWidth = STROKE;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const points of this.strokes) {
      ctx.beginPath();
      if (points.length === 1) {
        ctx.arc(points[0][0], points[0][1], STROKE / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.moveTo(points[0][0], points[0][1]);
      for (let i = 1; i < points.length; i++) ctx.lineTo(points[i][0], points[i][1]);
      ctx.stroke();
    }
  }
}
