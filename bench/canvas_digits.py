"""Canvas drawings of digits in styles MNIST has few of, as PNG bytes, from
two different generators.

A *style* is a shape: strokes in unit coordinates, with its own random
variation.  The styles:

- ``seven_crossbar``: a European seven, a flag at the left end of the top
  bar and a crossbar through the stem;
- ``nine_open``: a head left open at the top on a long straight stem;
- ``one_flag_base``: a one with a long flag and a foot, as typed;
- ``zero_slashed``: a zero struck through, as programmers write it;
- ``four_closed``: a four whose slanted side meets the top of the stem in a
  closed triangle, drawn in one stroke.

Two generators draw them, so that what retraining is judged on is not the
same process it learnt from:

- ``training``: straight polylines drawn with Pillow (``ImageDraw.line``,
  round caps), brush 14-24 px, the digit 150-210 px tall, slanted left,
  small point jitter;
- ``fresh``: the strokes smoothed into Catmull-Rom curves and stamped with
  a round brush at twice the resolution (anti-aliased), brush 9-12.5 or
  22-26 px, the digit 110-160 px tall, slanted right, a low-frequency wobble
  of the whole hand.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 280
Strokes = list[list[tuple[float, float]]]


def seven_crossbar(rng: np.random.Generator) -> Strokes:
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


def nine_open(rng: np.random.Generator) -> Strokes:
    r = rng.uniform(0.14, 0.2)
    cx, cy = rng.uniform(0.4, 0.5), rng.uniform(0.22, 0.3)
    # The head is left open at the top, drawn from the stem round to the left.
    opening = math.pi * rng.uniform(0.35, 0.55)
    head = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(-opening, math.pi * 1.05, 20)][::-1]
    stem_x = cx + r
    stem = [(stem_x, cy - r * rng.uniform(0.6, 1.0)), (stem_x + rng.uniform(-0.03, 0.03), rng.uniform(0.9, 0.98))]
    return [head, stem]


def one_flag_base(rng: np.random.Generator) -> Strokes:
    x = rng.uniform(0.45, 0.55)
    top = rng.uniform(0.03, 0.1)
    flag = [(x - rng.uniform(0.25, 0.35), top + rng.uniform(0.15, 0.3)), (x, top)]
    stem = [*flag, (x + rng.uniform(-0.02, 0.02), rng.uniform(0.92, 0.97))]
    base_y = rng.uniform(0.93, 0.98)
    half = rng.uniform(0.2, 0.3)
    base = [(x - half, base_y + rng.uniform(-0.02, 0.02)), (x + half, base_y + rng.uniform(-0.02, 0.02))]
    return [stem, base]


def one_flag(rng: np.random.Generator) -> Strokes:
    """A one with a long flag and no foot, as many people write it outside the US."""
    x = rng.uniform(0.55, 0.65)
    top = rng.uniform(0.03, 0.08)
    return [[(x - rng.uniform(0.3, 0.4), top + rng.uniform(0.25, 0.4)), (x, top), (x - rng.uniform(0.0, 0.05), 0.97)]]


def zero_slashed(rng: np.random.Generator) -> Strokes:
    rx, ry = rng.uniform(0.25, 0.33), rng.uniform(0.42, 0.47)
    start = rng.uniform(-0.6, -0.3) * math.pi
    ring = [(0.5 + rx * math.cos(a), 0.5 + ry * math.sin(a)) for a in np.linspace(start, start + 2.1 * math.pi, 36)]
    over = rng.uniform(0.0, 0.08)
    slash = [(0.5 + rx + over, 0.5 - ry - over), (0.5 - rx - over, 0.5 + ry + over)]
    return [ring, slash]


def four_closed(rng: np.random.Generator) -> Strokes:
    stem_x = rng.uniform(0.6, 0.7)
    top = rng.uniform(0.03, 0.1)
    bar_y = rng.uniform(0.55, 0.65)
    left = rng.uniform(0.1, 0.2)
    # One stroke: up the slanted side to the top of the stem, down the stem;
    # then the bar from the left corner through the stem.
    path = [(left, bar_y), (stem_x, top), (stem_x + rng.uniform(-0.02, 0.02), rng.uniform(0.92, 0.98))]
    bar = [(left, bar_y), (stem_x + rng.uniform(0.12, 0.22), bar_y + rng.uniform(-0.03, 0.03))]
    return [path, bar]


STYLES: dict[str, tuple[int, Callable[[np.random.Generator], Strokes]]] = {
    "seven_crossbar": (7, seven_crossbar),
    "nine_open": (9, nine_open),
    "one_flag_base": (1, one_flag_base),
    "one_flag": (1, one_flag),
    "zero_slashed": (0, zero_slashed),
    "four_closed": (4, four_closed),
}


def _place(strokes: Strokes, rng, *, height: tuple[float, float], shear: tuple[float, float]) -> Strokes:
    """Scale, slant, rotate and place unit-coordinate strokes on the canvas."""
    scale = rng.uniform(*height)
    angle = math.radians(rng.uniform(-8, 8))
    slant = rng.uniform(*shear)
    margin = scale / 2 + 20
    cx, cy = rng.uniform(margin, CANVAS - margin), rng.uniform(margin, CANVAS - margin)
    out = []
    for stroke in strokes:
        pts = []
        for x, y in stroke:
            x, y = x - 0.5 + slant * (0.5 - y), y - 0.5
            x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
            pts.append((cx + scale * x, cy + scale * y))
        out.append(pts)
    return out


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def training_png(style: str, rng: np.random.Generator) -> bytes:
    """The training generator: Pillow polylines, thick-ish, slanted left."""
    strokes = _place(STYLES[style][1](rng), rng, height=(150, 210), shear=(-0.25, 0.05))
    width = int(rng.integers(14, 25))
    image = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        stroke = [(x + rng.normal(0, 1.5), y + rng.normal(0, 1.5)) for x, y in stroke]
        draw.line(stroke, fill=0, width=width, joint="curve")
        r = width / 2
        for x, y in (stroke[0], stroke[-1]):  # round caps, like a canvas lineCap = "round"
            draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return _png(image)


def _catmull_rom(points: list[tuple[float, float]], per_segment: int = 12) -> np.ndarray:
    p = np.asarray(points, np.float64)
    if len(p) < 3:
        t = np.linspace(0, 1, per_segment * 2)[:, None]
        return p[0] + t * (p[-1] - p[0])
    p = np.concatenate([p[:1], p, p[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
        out.append(
            0.5
            * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    out.append(p[-2:-1])
    return np.concatenate(out)


def fresh_png(style: str, rng: np.random.Generator) -> bytes:
    """The fresh generator: smooth curves stamped with an anti-aliased round
    brush, thin or very thick, smaller, slanted right, wobbly."""
    strokes = _place(STYLES[style][1](rng), rng, height=(110, 160), shear=(0.1, 0.3))
    width = float(rng.uniform(9, 12.5) if rng.random() < 0.5 else rng.uniform(22, 26))
    ss = 2
    image = Image.new("L", (CANVAS * ss, CANVAS * ss), 255)
    draw = ImageDraw.Draw(image)
    phase, amp = rng.uniform(0, 2 * math.pi, 2), rng.uniform(2, 5)
    r = width * ss / 2
    for stroke in strokes:
        curve = _catmull_rom(stroke)
        # The hand drifts slowly: a smooth wobble, not per-point noise.
        curve = curve + amp * np.stack(
            [np.sin(curve[:, 1] / 23 + phase[0]), np.sin(curve[:, 0] / 29 + phase[1])], axis=1
        )
        dense = [curve[0]]
        for a, b in zip(curve[:-1], curve[1:], strict=True):
            steps = max(1, int(np.hypot(*(b - a)) / 1.5))
            dense.extend(a + (b - a) * k / steps for k in range(1, steps + 1))
        for x, y in np.asarray(dense) * ss:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return _png(image.resize((CANVAS, CANVAS), Image.Resampling.BOX))


GENERATORS = {"training": training_png, "fresh": fresh_png}


def style_drawings(
    styles: list[str], per_style: int, *, seed: int, generator: str = "training"
) -> list[tuple[str, int, bytes]]:
    """``per_style`` drawings of each style as (style, digit, PNG), interleaved."""
    rng = np.random.default_rng(seed)
    draw = GENERATORS[generator]
    return [(s, STYLES[s][0], draw(s, rng)) for _ in range(per_style) for s in styles]


def drawings(count: int, seed: int) -> list[tuple[int, bytes]]:
    """``count`` training-generator drawings of crossbar 7s and open 9s, as (label, PNG)."""
    return [(d, png) for _, d, png in style_drawings(["seven_crossbar", "nine_open"], count // 2, seed=seed)]
