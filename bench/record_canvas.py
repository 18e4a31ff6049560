"""Record what the drawing page sends: a "7" drawn in Chromium on a canvas
set up as digits/static/digits/draw/pad.js sets it up (280x280, white
paper, a 20 px black round brush), exported with ``toDataURL("image/png")``.

    .venv/bin/python bench/record_canvas.py   # writes bench/data/chromium_canvas_seven.png

The benchmarks preprocess this file: Chromium's PNG encoder filters and
compresses differently from Pillow's (every row "Up"-filtered here), and the
decoding cost depends on it.  The stroke is a hand's: many points, a slight
curve and wobble."""

from __future__ import annotations

import base64
import math
from pathlib import Path

PATH = Path(__file__).resolve().parent / "data" / "chromium_canvas_seven.png"

PAGE = """<canvas id=c width=280 height=280></canvas><script>
const ctx = document.getElementById("c").getContext("2d");
ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, 280, 280);
ctx.strokeStyle = ctx.fillStyle = "#000"; ctx.lineWidth = 20; ctx.lineCap = ctx.lineJoin = "round";
ctx.beginPath(); POINTS.forEach(([x, y], i) => i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)); ctx.stroke();
</script>"""


def seven_points() -> list[tuple[float, float]]:
    """A top bar slightly rising, then a stem curving down to the left."""
    bar = [(70 + 150 * t, 62 - 8 * t + 2 * math.sin(9 * t)) for t in (i / 30 for i in range(31))]
    stem = [(220 - 95 * t - 12 * math.sin(math.pi * t), 54 + 180 * t) for t in (i / 40 for i in range(1, 41))]
    return bar + stem


def main() -> None:
    from playwright.sync_api import sync_playwright

    points = ",".join(f"[{x:.1f},{y:.1f}]" for x, y in seven_points())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        page.set_content(PAGE.replace("POINTS", f"[{points}]"))
        url = page.evaluate("document.getElementById('c').toDataURL('image/png')")
        browser.close()
    PATH.parent.mkdir(exist_ok=True)
    PATH.write_bytes(base64.b64decode(url.split(",", 1)[1]))
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
