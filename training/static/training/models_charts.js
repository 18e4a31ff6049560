// The /models/ page's charts (data from training/charts.py): a training run's
// readings per epoch, live while it runs (run_progress.js polls the run and
// announces each answer as a "training-run" event), and every version's
// accuracies over time with promotions, rollbacks and refusals marked; a
// click on a version's point opens it.
(() => {
  "use strict";

  const { AXIS, COLORS, json, make, percent, percentAxis, percentScale } = window.DigitCharts;

  // --- a run's curve --------------------------------------------------------

  const CURVES = [
    { key: "loss", label: "loss", scale: "loss", stroke: COLORS.blue },
    { key: "val_loss", label: "validation loss", scale: "loss", stroke: COLORS.blue, dash: [6, 4] },
    { key: "accuracy", label: "accuracy", scale: "%", stroke: COLORS.green },
    { key: "val_accuracy", label: "validation accuracy", scale: "%", stroke: COLORS.orange, dash: [6, 4] },
  ];

  function curveOptions(run, curves) {
    const epochs = Math.max(run.epochs, run.history.length, 1);
    return {
      title: `Run ${run.id}: ${run.kind}, ${run.status}`,
      scales: {
        x: { time: false, range: () => [0.8, epochs + 0.2] },
        loss: { range: (u, min, max) => [0, max == null ? 1 : max * 1.1] },
        "%": percentScale(),
      },
      axes: [
        { ...AXIS, label: "epoch", labelSize: 20, incrs: [1, 2, 5, 10, 20, 50], values: (u, s) => s.map(String) },
        ...(curves.some((c) => c.scale === "loss") ? [{ ...AXIS, scale: "loss", size: 44, label: "loss", labelSize: 18 }] : []),
        ...(curves.some((c) => c.scale === "%") ? [{ ...percentAxis(1), label: "accuracy", labelSize: 18 }] : []),
      ],
      series: [
        { label: "epoch" },
        ...curves.map((c) => ({
          label: c.label,
          scale: c.scale,
          stroke: c.stroke,
          color: c.stroke, // (not uPlot's: what the tests look for on the canvas)
          dash: c.dash,
          width: 2,
          points: { show: true, size: 6, fill: c.stroke },
          value: (u, v) => (v == null ? "–" : c.scale === "%" ? percent(v) : v.toFixed(4)),
        })),
      ],
    };
  }

  function drawRun(box, run) {
    const curves = CURVES.filter((c) => run.history.some((row) => row[c.key] != null));
    const data = [run.history.map((row) => row.epoch), ...curves.map((c) => run.history.map((row) => row[c.key] ?? null))];
    box.dataset.run = run.id;
    box.dataset.points = run.history.length;
    box.dataset.status = run.status;
    make(box, curveOptions(run, curves), data);
  }

  function runCurves() {
    const box = document.getElementById("run-curve");
    const runs = json("run-curves-data");
    if (!box || !runs || !runs.length) return;
    const select = document.getElementById("run-curve-select");
    const shown = () => runs.find((r) => String(r.id) === select.value) || runs[0];
    select.addEventListener("change", () => drawRun(box, shown()));
    drawRun(box, shown());

    // The run in flight, as the progress poller last read it.
    document.addEventListener("training-run", ({ detail }) => {
      const curve = {
        id: detail.id,
        kind: detail.kind === "baseline" ? "Baseline" : "Fine-tune",
        status: detail.status,
        epochs: detail.epochs,
        history: detail.history.map((row, i) => ({ epoch: row.epoch ?? i + 1, ...row })),
      };
      const known = runs.findIndex((r) => r.id === curve.id);
      if (known >= 0) runs[known] = curve;
      else {
        runs.unshift(curve);
        select.prepend(new Option(`Run ${curve.id} (${curve.kind})`, curve.id));
      }
      if (select.value === String(curve.id) || known < 0) {
        select.value = String(curve.id);
        if (box.dataset.points !== String(curve.history.length) || box.dataset.status !== curve.status) {
          drawRun(box, curve);
        }
      }
    });
  }

  // --- versions over time ---------------------------------------------------

  const MARKERS = [
    { kind: "promoted", label: "promoted", fill: COLORS.green },
    { kind: "rolled back", label: "rolled back", fill: COLORS.amber },
    { kind: "refused", label: "refused by the gate", fill: COLORS.red },
  ];

  // One row per moment (a version registered, an event), in time order;
  // each row knows the version a click there opens.
  function versionRows(chart) {
    const rows = [
      ...chart.versions.map((v) => ({ at: v.at, version: v.version, validation: v.validation, heldout: v.heldout })),
      ...chart.events.map((e) => ({ at: e.at, version: e.version, [e.kind]: e.y })),
    ];
    return rows.sort((a, b) => a.at - b.at);
  }

  function versionsChart() {
    const box = document.getElementById("versions-chart");
    const chart = json("versions-chart-data");
    if (!box || !chart || !chart.versions.length) return;
    const rows = versionRows(chart);
    const urls = Object.fromEntries(chart.versions.map((v) => [v.version, v.url]));
    const column = (key) => rows.map((r) => (r[key] == null ? null : r[key]));
    const line = (label, key, stroke) => ({
      label,
      scale: "%",
      stroke,
      color: stroke,
      width: 2,
      spanGaps: true,
      points: { show: true, size: 7, fill: stroke },
      value: (u, v) => percent(v),
    });
    const marker = (m) => ({
      label: m.label,
      scale: "%",
      stroke: m.fill,
      color: m.fill,
      paths: () => null, // points only
      // A ring around the version's own point, which stays visible inside.
      points: { show: true, size: 17, width: 3, stroke: m.fill, fill: "transparent" },
      value: (u, v) => (v == null ? "–" : `v${rows[u.cursor.idx].version}`),
    });
    const options = {
      scales: {
        // Room either side, so the first and last markers are not cut in half.
        x: {
          time: true,
          range: (u, min, max) => {
            const pad = max > min ? (max - min) * 0.05 : 3600; // one version: an hour either side
            return [min - pad, max + pad];
          },
        },
        "%": percentScale(),
      },
      axes: [{ ...AXIS }, percentAxis(3)],
      series: [
        { label: "version", value: (u, v, si, i) => (i == null ? "–" : `v${rows[i].version}`) },
        line("MNIST validation", "validation", COLORS.blue),
        line("held-out drawings", "heldout", COLORS.purple),
        ...MARKERS.map(marker),
      ],
      cursor: { points: { size: 9 } },
    };
    const data = [rows.map((r) => r.at), column("validation"), column("heldout"), ...MARKERS.map((m) => column(m.kind))];
    const u = make(box, options, data, 280);

    // A click near a point (in x: a version's and its markers' column) opens that version.
    const near = () => {
      const i = u.cursor.idx;
      return i != null && Math.abs(u.valToPos(rows[i].at, "x") - u.cursor.left) <= 12 ? rows[i] : null;
    };
    u.over.addEventListener("mousemove", () => (u.over.style.cursor = near() ? "pointer" : ""));
    u.over.addEventListener("click", () => {
      const row = near();
      if (row && urls[row.version]) window.location.assign(urls[row.version]);
    });
  }

  runCurves();
  versionsChart();
})();
