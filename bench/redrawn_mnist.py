"""MNIST test digits redrawn the way the drawing page draws, and a model's
accuracy on them.

MNIST's strokes are pen strokes scanned, blurred and anti-aliased into a
20x20 box; the page's are a round brush ``STROKE`` px wide on a
``PAD_SIZE``-px canvas (digits/static/digits/draw.js), shrunk by
``drawing_to_mnist``.  Rescaling an MNIST digit keeps MNIST's strokes, so
each digit is instead thinned to its centre line (scikit-image's
skeletonize) and redrawn with the page's brush:

1. upsample the 28x28 digit 4x (bilinear), threshold, skeletonize;
2. place the skeleton on a white 280x280 canvas at a seeded random size
   (the digit 130-230 px tall, as people draw) and position;
3. stamp a black disc of the brush's diameter on every skeleton point (a
   round-capped, round-joined canvas stroke is exactly that), at twice the
   resolution, downsampled: the canvas's anti-aliasing;
4. encode as PNG and run the page's own ``drawing_to_mnist``.

    .venv/bin/python bench/redrawn_mnist.py [--count 10000] [--artifact PATH.keras]

Without ``--artifact`` it measures the active version of the registry that
the environment points at (DATABASE_URL, else var/).  The redrawn digits are
cached in var/ (about a minute to make on 2 cores).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import time
from pathlib import Path

import _django  # bench/_django.py
import numpy as np
from _django import ROOT  # bench/_django.py: the repository, now on sys.path
from PIL import Image, ImageDraw

PAD_SIZE = 280  # draw.js PAD_SIZE
STROKE = 20  # draw.js STROKE, in canvas pixels
UPSAMPLE = 4  # skeletonize at 112x112: smoother centre lines than at 28x28
SUPERSAMPLE = 2  # the canvas's anti-aliasing
SIZE_RANGE = (130, 230)  # height of the digit's box on the canvas, in pixels
SEED = 2026

log = logging.getLogger(__name__)


def skeleton_points(digit: np.ndarray) -> np.ndarray:
    """(K, 2) float (row, col) centre-line points of a 28x28 uint8 digit, in 28x28 units."""
    from skimage.morphology import skeletonize

    big = np.asarray(
        Image.fromarray(digit).resize((28 * UPSAMPLE, 28 * UPSAMPLE), Image.Resampling.BILINEAR), np.float32
    )
    mask = big > 0.4 * big.max()
    points = np.argwhere(skeletonize(mask)).astype(np.float32)
    if not len(points):  # a dot: keep its pixels
        points = np.argwhere(mask).astype(np.float32)
    return (points + 0.5) / UPSAMPLE


def redraw_png(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The PNG the page would send had someone traced ``digit``'s strokes."""
    points = skeleton_points(digit)
    top, left = points.min(axis=0)
    bottom, right = points.max(axis=0)
    height = rng.uniform(*SIZE_RANGE)
    scale = height / max(bottom - top, (right - left), 1.0)
    extent = np.array([bottom - top, right - left]) * scale
    margin = STROKE
    origin = [rng.uniform(margin, max(margin, PAD_SIZE - margin - e)) for e in extent]
    canvas = (points - [top, left]) * scale + origin
    big = PAD_SIZE * SUPERSAMPLE
    image = Image.new("L", (big, big), 255)
    draw = ImageDraw.Draw(image)
    r = STROKE * SUPERSAMPLE / 2
    for y, x in canvas * SUPERSAMPLE:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
    image = image.resize((PAD_SIZE, PAD_SIZE), Image.Resampling.BOX)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def redrawn(x: np.ndarray, *, seed: int = SEED) -> np.ndarray:
    """Each digit of ``x`` redrawn with the page's brush and preprocessed by
    ``drawing_to_mnist``: uint8 (N, 28, 28)."""
    from digits.preprocessing import drawing_to_mnist

    rng = np.random.default_rng(seed)
    return np.stack([drawing_to_mnist(redraw_png(digit, rng)) for digit in x])


def redrawn_mnist_test(*, count: int = 10000, seed: int = SEED, cache_dir: Path | None = None):
    """The first ``count`` MNIST test digits redrawn, with their labels; cached."""
    from training.datasets import load_mnist

    mnist = load_mnist()
    return redrawn_cached(
        mnist.x_test[:count], mnist.y_test[:count], name=f"mnist_{count}", seed=seed, cache_dir=cache_dir
    )


def redrawn_cached(x: np.ndarray, y: np.ndarray, *, name: str, seed: int = SEED, cache_dir: Path | None = None):
    """``x`` redrawn (see ``redrawn``) with labels ``y``, cached in
    ``cache_dir`` (VAR_DIR, else var/) as redrawn_{name}_{seed}.npz."""
    cache_dir = cache_dir or Path(os.environ.get("VAR_DIR", ROOT / "var"))
    cache = cache_dir / f"redrawn_{name}_{seed}.npz"
    if cache.exists():
        with np.load(cache) as f:
            return f["x"], f["y"]
    started = time.perf_counter()
    x, y = redrawn(x, seed=seed), np.array(y, copy=True)
    log.info("Redrew %s digits (%s) in %.0f s", len(y), name, time.perf_counter() - started)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, x=x, y=y)
    return x, y


def _model(artifact: str | None):
    import keras

    if artifact:
        return keras.models.load_model(artifact, compile=False), artifact
    from models.selectors import active_model_version_get
    from models.serving import read_model

    version = active_model_version_get()
    if version is None:
        sys.exit("No active model version: pass --artifact or run `python manage.py train_baseline`.")
    return read_model(version), str(version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10000, help="MNIST test digits redrawn (from the first)")
    parser.add_argument("--artifact", help="a .keras file instead of the active version")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _django.setup(TF_CPP_MIN_LOG_LEVEL="3")
    from training.datasets import load_mnist
    from training.evaluation import classification_metrics, predict_digits

    x, y = redrawn_mnist_test(count=args.count, seed=args.seed)
    model, name = _model(args.artifact)
    mnist = load_mnist()
    redrawn_m = classification_metrics(y, predict_digits(model, x), "redrawn")
    plain = classification_metrics(y, predict_digits(model, mnist.x_test[: args.count]), "mnist")
    print(f"model {name}: MNIST test {plain['mnist_accuracy']:.2%}, redrawn {redrawn_m['redrawn_accuracy']:.2%}")
    print("redrawn per digit: " + ", ".join(f"{d} {v:.1%}" for d, v in redrawn_m["redrawn_per_class"].items()))
    print(f"(first {args.count} MNIST test digits, seed {args.seed}; bar for the baseline: >= 98.5% redrawn)")


if __name__ == "__main__":
    main()
