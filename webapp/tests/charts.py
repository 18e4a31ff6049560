"""Reading a uPlot chart in Chromium (webapp/static/webapp/charts.js keeps
each chart on its box as ``box.chart``, each series' colour as ``color``): per series, how many points it has
and how many of them are really painted on the canvas."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SHOTS = Path("/tmp/charts-shots")
WIDE, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
VIEWPORTS = [(WIDE, "wide"), (PHONE, "phone")]

# For each series: its values that are not null, and how many of those have
# the series' colour (or the colour of a series drawn over it) on the canvas
# at the point, inside the plotting area.
_POINTS_JS = """box => {
  const u = box.chart;
  const rgb = (c) => c && c.startsWith('#') ? [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)) : null;
  const colours = u.series.map(s => rgb(s.color));
  const result = {};
  u.series.forEach((s, si) => {
    if (si === 0) return;
    let values = 0, drawn = 0;
    u.data[si].forEach((y, i) => {
      if (y == null) return;
      values += 1;
      const x = u.valToPos(u.data[0][i], 'x', true), yy = u.valToPos(y, s.scale, true);
      const { left, top, width, height } = u.bbox;
      const inside = x >= left && x <= left + width && yy >= top && yy <= top + height;
      // Below the value: the middle of a point's ring, solidly inside its disc
      // (its rim is antialiased, and a pixel there may be a blend), or 2 px
      // inside a bar.
      const ring = s.points.show(u, si) ? Math.floor((s.points.size - s.points.width) / 2) : 2;
      const [r, g, b] = u.ctx.getImageData(Math.round(x), Math.round(yy) + ring, 1, 1).data;
      const near = (c) => c && Math.abs(c[0] - r) + Math.abs(c[1] - g) + Math.abs(c[2] - b) < 60;
      if (inside && colours.slice(si).some(near)) drawn += 1;
    });
    result[s.label] = [values, drawn];
  });
  return result;
}"""


def chart_points(page, box: str) -> dict[str, tuple[int, int]]:
    """{series label: (points, points painted)} of the chart in ``box``."""
    page.wait_for_function(f"document.querySelector('{box}') && document.querySelector('{box}').chart")
    return {k: tuple(v) for k, v in page.eval_on_selector(box, _POINTS_JS).items()}


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, live_server, user, password: str, next_path: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_path}")


@contextmanager
def viewport_page(chromium, viewport: dict) -> Iterator[tuple]:
    """A page of its own at ``viewport``, and the console errors it logs."""
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield page, errors
    finally:
        context.close()
