// What every chart of Digit Lab shares, on uPlot (static/vendor/uplot, loaded
// before this): a chart fills its box's width and follows it (a phone turned,
// a window resized), reads its data from the JSON the server rendered into
// the page, and stays reachable as `box.chart` (the tests count its points).
window.DigitCharts = (() => {
  "use strict";

  const COLORS = {
    blue: "#2563eb",
    green: "#16a34a",
    orange: "#ea580c",
    red: "#dc2626",
    purple: "#7c3aed",
    grey: "#9ca3af",
    amber: "#d97706",
  };
  const AXIS = { stroke: "#6b7280", grid: { stroke: "#eceef3", width: 1 }, ticks: { stroke: "#e3e5ec", width: 1 } };

  function json(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // A share as a percentage: with two decimals, or with as many as an
  // axis's step needs (steps of 2.5% must not read 93% for 92.5%, steps of
  // 0.1% must not all read 99%).
  function percent(value, step = null) {
    if (value == null) return "–";
    let decimals = 2;
    if (step) {
      const points = step * 100;
      decimals = [0, 1, 2, 3].find((d) => Math.abs(Math.round(points * 10 ** d) - points * 10 ** d) < 1e-6) ?? 3;
    }
    return `${(value * 100).toFixed(decimals)}%`;
  }

  function percentAxis(side = 3) {
    return {
      ...AXIS,
      scale: "%",
      side,
      size: 54,
      values: (u, splits) => splits.map((v) => percent(v, Math.abs(splits[1] - splits[0]) || 0.001)),
    };
  }

  // Accuracies fill the height (99.2% against 99.6% is the story), never past 100%.
  function percentScale() {
    return {
      range: (u, min, max) => {
        if (min == null) return [0, 1];
        const pad = Math.max((max - min) * 0.15, 0.002);
        return [Math.max(0, min - pad), Math.min(1, max + pad)];
      },
    };
  }

  // A chart in `box` (replacing the one there: another run, new series),
  // as wide as the box and `height` tall.
  function make(box, options, data, height = 260) {
    if (box.chart) box.chart.destroy();
    box.chart = new uPlot({ ...options, width: Math.max(240, box.clientWidth), height }, data, box);
    if (!box.resizing) {
      let width = box.clientWidth;
      box.resizing = new ResizeObserver(() => {
        if (box.clientWidth === width) return;
        width = box.clientWidth;
        box.chart.setSize({ width: Math.max(240, width), height: box.chart.height });
      });
      box.resizing.observe(box);
    }
    return box.chart;
  }

  return { AXIS, COLORS, json, make, percent, percentAxis, percentScale };
})();
