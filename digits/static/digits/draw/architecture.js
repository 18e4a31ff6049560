// The served version's architecture: the diagram of its layers, and the
// caption of each layer's feature maps, both worked out from the registry's
// summary (name, type, output shape, parameters), so they follow whatever
// network is served.

const svgNS = "http://www.w3.org/2000/svg";
const COLOURS = { Conv2D: "#dbeafe", MaxPooling2D: "#dcfce7", Dense: "#fef3c7", Flatten: "#f3e8ff", Dropout: "#f1f5f9" };
const ORDINALS = ["First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth"];

export function renderArchitecture(container, layers) {
  const boxW = 118;
  const boxH = 74;
  const gap = 22;
  const total = layers.reduce((sum, l) => sum + l.params, 0);
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("width", layers.length * (boxW + gap) + 10);
  svg.setAttribute("height", boxH + 40);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `The CNN's ${layers.length} layers, ${total} parameters in all`);
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  };
  layers.forEach((layer, i) => {
    const x = 5 + i * (boxW + gap);
    el("rect", { x, y: 5, width: boxW, height: boxH, rx: 8, fill: COLOURS[layer.type] || "#fff", stroke: "#94a3b8" });
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
  container.replaceChildren(svg);
}

// layer name -> a sentence on what its feature maps show.
export function layerCaptions(layers) {
  const captions = {};
  const convs = layers.filter((l) => l.type === "Conv2D");
  const pools = layers.filter((l) => l.type === "MaxPooling2D");
  layers.forEach((layer, i) => {
    const before = layers[i - 1];
    const [h, w, c] = layer.output_shape;
    if (layer.type === "Conv2D" && before) {
      const inChannels = before.output_shape[2] ?? 1;
      const k = Math.round(Math.sqrt((layer.params / c - 1) / inChannels)); // params = (k*k*in + 1) * filters
      const n = convs.indexOf(layer);
      const what =
        n === 0
          ? "looking at your drawing directly: they find edges and stroke directions"
          : n === convs.length - 1
            ? "each seeing a large part of the digit: parts such as a closed loop or a long bar become separate channels"
            : `over the ${inChannels} channels before: they combine what came before into corners, curves and stroke ends`;
      captions[layer.name] = `${ORDINALS[n] || "A"} convolution: ${c} filters of ${k}×${k}, ${what}. Each map lights up where its filter's pattern appears.`;
    } else if (layer.type === "MaxPooling2D" && before) {
      const f = Math.round(before.output_shape[0] / h);
      const last = pools.indexOf(layer) === pools.length - 1;
      captions[layer.name] =
        `Pooling keeps the strongest response in each ${f}×${f} patch: ${h}×${w} maps of the same ${c} channels, ` +
        (last ? "and this is what the dense layers read." : "so later filters see a wider area.");
    } else if (layer.type === "Dense" && i < layers.length - 1) {
      const inputs = before ? before.output_shape.reduce((a, b) => a * (b ?? 1), 1) : "all";
      captions[layer.name] = `${h} hidden units, each a learned mix of all ${inputs} numbers before it. Brighter means more active.`;
    }
  });
  return captions;
}
