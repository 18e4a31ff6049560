"""Canvas-like drawings of digits in styles MNIST has few of, as PNG bytes.

Drawn the way the page's canvas draws them: round black strokes on a white
280x280 canvas, a stroke 14-24 px wide, each drawing jittered (size,
position, slant, wobble).  The styles:

- ``7``: a European seven, a flag at the left end of the top bar and a
  crossbar through the stem;
- ``9``: a head left open at the top on a long straight stem, the way many
  people write a 9 in a hurry (MNIST's model reads many of them as 4s).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 280


def _stroke(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], width: int) -> None:
    draw.line(points, fill=0, width=width, joint="curve")
    r = width / 2
    for x, y in (points[0], points[-1]):  # round caps, like a canvas lineCap = "round"
        draw.ellipse((x - r, y - r, x + r, y + r), fill=0)


def _wobble(points, rng, amount):
    return [(x + rng.normal(0, amount), y + rng.normal(0, amount)) for x, y in points]


def _transform(strokes, rng):
    """Random scale, slant, rotation and placement of strokes in unit coordinates."""
    scale = rng.uniform(150, 210)
    angle = math.radians(rng.uniform(-10, 10))
    shear = rng.uniform(-0.25, 0.1)
    cx, cy = rng.uniform(110, 170), rng.uniform(110, 170)
    out = []
    for stroke in strokes:
        pts = []
        for x, y in stroke:
            x, y = x - 0.5 + shear * (0.5 - y), y - 0.5
            x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
            pts.append((cx + scale * x * rng.uniform(0.97, 1.03), cy + scale * y))
        out.append(pts)
    return out


def seven_with_crossbar(rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    top = rng.uniform(0.05, 0.15)
    left, right = rng.uniform(0.1, 0.25), rng.uniform(0.75, 0.9)
    foot = rng.uniform(0.3, 0.5)
    flag = [(left - rng.uniform(0.0, 0.05), top + rng.uniform(0.1, 0.2)), (left, top)]
    main = [*flag, (right, top + rng.uniform(-0.03, 0.03)), (foot, rng.uniform(0.9, 0.98))]
    t = rng.uniform(0.45, 0.6)  # where the crossbar crosses the stem
    sx, sy = right + t * (foot - right), top + t * (0.94 - top)
    half = rng.uniform(0.15, 0.25)
    bar = [(sx - half, sy + rng.uniform(-0.02, 0.02)), (sx + half, sy + rng.uniform(-0.02, 0.02))]
    return [main, bar]


def nine_with_straight_stem(rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    r = rng.uniform(0.14, 0.2)
    cx, cy = rng.uniform(0.4, 0.5), rng.uniform(0.22, 0.3)
    # The head is left open at the top, drawn from the stem round to the left.
    opening = math.pi * rng.uniform(0.35, 0.55)
    head = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(-opening, math.pi * 1.05, 20)][::-1]
    stem_x = cx + r
    stem = [(stem_x, cy - r * rng.uniform(0.6, 1.0)), (stem_x + rng.uniform(-0.03, 0.03), rng.uniform(0.9, 0.98))]
    return [head, stem]


STYLES = {7: seven_with_crossbar, 9: nine_with_straight_stem}


def drawing_png(digit: int, rng: np.random.Generator) -> bytes:
    """One drawing of ``digit`` in its style, as the PNG the page would send."""
    image = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(image)
    width = int(rng.integers(14, 25))
    for stroke in _transform(STYLES[digit](rng), rng):
        _stroke(draw, _wobble(stroke, rng, 1.5), width)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def drawings(count: int, seed: int) -> list[tuple[int, bytes]]:
    """``count`` drawings, half 7s and half 9s, as (label, PNG)."""
    rng = np.random.default_rng(seed)
    return [(digit, drawing_png(digit, rng)) for digit in [7, 9] * (count // 2)]
