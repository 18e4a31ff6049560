// What the CNN thinks: the digit, the ten probability bars, and the 28x28
// input as the model got it.

const $ = (id) => document.getElementById(id);

// The bars; a mouse over a bar, or a tap (Enter) on it, asks about that digit.
export function createBars(container, { onHover, onPick }) {
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const row = document.createElement("div");
    row.className = "bar";
    row.dataset.digit = d;
    row.tabIndex = 0;
    row.setAttribute("role", "button");
    row.setAttribute("aria-label", `Why or why not a ${d}?`);
    row.innerHTML = `<span>${d}</span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
    row.addEventListener("pointerenter", (e) => e.pointerType === "mouse" && onHover(d));
    row.addEventListener("pointerleave", (e) => e.pointerType === "mouse" && onHover(null));
    row.addEventListener("click", () => onPick(d));
    row.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" && e.key !== " ") return;
      e.preventDefault();
      onPick(d);
    });
    container.appendChild(row);
    bars.push(row);
  }
  return bars;
}

export function renderBars(bars, probabilities) {
  const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  bars.forEach((row, d) => {
    const p = probabilities ? probabilities[d] : 0;
    row.querySelector(".fill").style.width = `${(p * 100).toFixed(1)}%`;
    row.querySelector(".pct").textContent = probabilities ? `${(p * 100).toFixed(1)}%` : "";
    row.classList.toggle("top", d === top);
  });
}

// The calibrated confidence where the served version has one (issue 10);
// below its threshold the page says it is not sure instead of "99% sure".
export function renderVerdict(data) {
  $("digit").textContent = data ? data.digit : "?";
  const sure = data ? (data.calibrated_confidence ?? data.confidence) : null;
  $("confidence").textContent = !data ? "" : data.unsure ? "Not sure" : `${(sure * 100).toFixed(1)}% sure`;
  document.querySelector(".verdict").classList.toggle("unsure", Boolean(data?.unsure));
}

export function shownProbabilities(data) {
  return data.calibrated_probabilities ?? data.probabilities;
}

export function renderInput(canvas, rows) {
  const g = canvas.getContext("2d");
  const img = g.createImageData(28, 28);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = rows[y][x];
      img.data.set([v, v, v, 255], (y * 28 + x) * 4);
    }
  }
  g.putImageData(img, 0, 0);
}
