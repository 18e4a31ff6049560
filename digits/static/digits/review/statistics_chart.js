// Drawings collected per day (UTC), by status, as stacked bars: the rows of
// digits.selectors.sample_counts_per_day, rendered into the page as JSON.
(() => {
  "use strict";

  const { AXIS, COLORS, json, make } = window.DigitCharts;

  // Bottom to top.  A day's row carries one count per key; another measure
  // per day (the share decided automatically, once triage exists) goes in as
  // its own series on a percentage scale beside these, not into the stack.
  const STACK = [
    { key: "approved", label: "approved", fill: COLORS.green },
    { key: "pending", label: "pending", fill: COLORS.grey },
    { key: "rejected", label: "rejected", fill: COLORS.red },
  ];

  const box = document.getElementById("per-day-chart");
  const days = json("per-day-data");
  if (!box || !days) return;

  const x = days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
  // Each series is drawn as the sum of itself and those below it, top one
  // first, so each bar shows through as its own segment; the legend shows
  // the count itself.
  const counts = STACK.map((s) => days.map((d) => d[s.key]));
  const tops = STACK.map((s, i) => days.map((d, j) => counts.slice(0, i + 1).reduce((sum, c) => sum + c[j], 0)));
  const bars = uPlot.paths.bars({ size: [0.75, 40], gap: 1 });
  const order = STACK.map((s, i) => i).reverse();

  make(
    box,
    {
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: {
        x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] }, // half a day either side: whole bars
        y: { range: (u, min, max) => [0, Math.max(1, max)] },
      },
      axes: [
        { ...AXIS, space: 60 },
        { ...AXIS, size: 44, values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : "")) },
      ],
      series: [
        { label: "day", value: (u, ts) => (ts == null ? "–" : new Date(ts * 1000).toISOString().slice(0, 10)) },
        ...order.map((i) => ({
          label: STACK[i].label,
          color: STACK[i].fill, // (not uPlot's: what the tests look for on the canvas)
          fill: STACK[i].fill,
          stroke: STACK[i].fill,
          width: 0,
          paths: bars,
          points: { show: false },
          value: (u, v, si, j) => (j == null ? "–" : String(counts[i][j])),
        })),
      ],
      legend: { live: true },
    },
    [x, ...order.map((i) => tops[i].map((top, j) => (counts[i][j] ? top : null)))],
  );
})();
