// Version against version (staff): the same drawing through the served
// version and any other registered one, side by side: the answer, the
// probabilities, the explanation (hovering a digit's bar shows that digit's
// map on both sides) and the other version's feature maps.

import { detailText, postJSON } from "../api.js";
import { Explanation } from "./explanation.js";
import { Layers } from "./layers.js";
import { createBars, renderBars, shownProbabilities } from "./result.js";

class Side {
  constructor(box, compare) {
    this.box = box;
    this.bars = createBars(box.querySelector(".side-bars"), {
      onHover: (d) => compare.each((side) => side.why.hover(d)),
      onPick: (d) => compare.each((side) => side.why.pin(d)),
    });
    this.why = new Explanation({
      box,
      canvas: box.querySelector(".side-why"),
      caption: box.querySelector(".side-caption"),
      bars: this.bars,
    });
  }

  show(data) {
    this.box.querySelector(".side-version").textContent = `v${data.model.version}`;
    this.box.querySelector(".side-digit").textContent = data.digit;
    const sure = data.calibrated_confidence ?? data.confidence;
    this.box.querySelector(".side-confidence").textContent = data.unsure ? "Not sure" : `${(sure * 100).toFixed(1)}% sure`;
    renderBars(this.bars, shownProbabilities(data));
    this.why.set(data);
    this.box.dataset.digit = data.digit;
  }
}

export class Compare {
  constructor({ root, predictUrl, onChange }) {
    this.root = root;
    this.predictUrl = predictUrl;
    this.select = root.querySelector("#compare-version");
    this.result = root.querySelector("#compare-result");
    this.status = root.querySelector("#compare-status");
    this.sides = {
      served: new Side(root.querySelector('[data-side="served"]'), this),
      other: new Side(root.querySelector('[data-side="other"]'), this),
    };
    this.layers = new Layers({
      container: root.querySelector("#compare-layers"),
      inspector: root.querySelector("#compare-inspector"),
      inspectCanvas: root.querySelector("#compare-inspect"),
      inspectLabel: root.querySelector("#compare-inspect-label"),
    });
    this.seq = 0;
    this.select.addEventListener("change", () => {
      this.clear();
      onChange();
    });
  }

  each(fn) {
    Object.values(this.sides).forEach(fn);
  }

  get version() {
    return this.select.value ? Number(this.select.value) : null;
  }

  clear() {
    this.seq++;
    this.result.hidden = true;
    this.status.textContent = "";
    this.each((side) => side.why.clear());
  }

  // ``served``: the page's answer (with its explanation) for ``image``.
  async show(served, image) {
    const version = this.version;
    if (version === null) return this.clear();
    const seq = ++this.seq;
    this.status.textContent = `Asking v${version}…`;
    let answer;
    try {
      answer = await postJSON(this.predictUrl, { image, activations: true, explanation: true, version });
    } catch (_) {
      answer = { ok: false, data: { detail: "Cannot reach the server." } };
    }
    if (seq !== this.seq) return; // the drawing or the version changed meanwhile
    if (!answer.ok) {
      this.result.hidden = true;
      this.status.textContent = `v${version}: ${detailText(answer.data)}`;
      return;
    }
    this.status.textContent = "";
    this.result.hidden = false;
    this.sides.served.show(served);
    this.sides.other.show(answer.data);
    this.layers.render(answer.data.activations || []);
  }
}
