"""Why the served model read a drawing as it did: batched occlusion sensitivity.

Cover one small square of the input with black (no ink), ask the model about
every covered copy in one batch, and see how far each digit's log-probability
falls.  A square whose ink, once gone, lowers "7" pushed the model toward 7;
one whose removal raises "9" is ink that argues against a 9.  Each square's
effect is shared among its ink pixels by brightness, so a faint edge pixel
carries less than the stroke's core.

Why occlusion rather than gradients: it needs nothing but the forward pass
(``predict_batch``), so it works unchanged on whatever serves the model
(TensorFlow or a LiteRT interpreter, which has no gradients), and it measures
exactly what the faithfulness benchmark asks (what happens when ink goes).
It gives all ten digits' maps from the same batch, so "why not a 9?" costs
nothing extra.  Only squares that hold ink are covered (covering black
changes nothing), which keeps the batch to about a dozen images:
``bench/explain.py`` measures its cost and faithfulness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Side of the covered square and its step, in input pixels.  6x6 keeps a
# digit to about a dozen covered copies, one 16-image invoke of the LiteRT
# predictor's batch path; 4x4 (about 20, two invokes) cost twice as much for
# a point more of faithfulness (bench/explain.py measures them all).
PATCH = 6
STRIDE = 6
SIDE = 28
# A class the softmax puts at exactly 0.0 has no log; treat it as this unlikely.
MIN_PROBABILITY = 1e-30

BatchPredict = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) uint8 -> (N, 10) probabilities


@dataclass(frozen=True)
class Explanation:
    maps: np.ndarray  # (10, 28, 28) float: > 0 pushed toward that digit, < 0 against it
    probabilities: np.ndarray  # (10,) of the uncovered input
    occlusions: int  # how many covered copies were asked about

    @property
    def digit(self) -> int:
        return int(np.argmax(self.probabilities))


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Log-probabilities that keep their precision near 1.

    A confident float32 softmax says exactly 1.0 for its answer whether the
    runner-up has 1e-9 or 1e-12, so log(p) would see no difference at all;
    log1p(-(sum of the others)) does."""
    p = np.asarray(probabilities, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    out = np.log(np.maximum(p, MIN_PROBABILITY))
    top = np.argmax(p, axis=-1)
    rows = np.arange(p.shape[0])
    others = p.sum(axis=-1) - p[rows, top]
    out[rows, top] = np.log1p(-np.minimum(others, 1 - MIN_PROBABILITY))
    return out


def patch_masks(*, patch: int = PATCH, stride: int = STRIDE) -> np.ndarray:
    """(K, 28, 28) bool: every square position, covering the whole input."""
    starts = list(range(0, SIDE - patch + 1, stride))
    if starts[-1] != SIDE - patch:
        starts.append(SIDE - patch)
    masks = np.zeros((len(starts) ** 2, SIDE, SIDE), dtype=bool)
    for k, (r, c) in enumerate((r, c) for r in starts for c in starts):
        masks[k, r : r + patch, c : c + patch] = True
    return masks


def explain(x28: np.ndarray, predict_batch: BatchPredict, *, patch: int = PATCH, stride: int = STRIDE) -> Explanation:
    """Occlusion maps of one 28x28 uint8 input for all ten digits, in one batch."""
    pixels = np.asarray(x28)
    if pixels.shape != (SIDE, SIDE) or pixels.dtype != np.uint8:
        raise ValueError(f"expected 28x28 uint8 pixels, got {pixels.shape} {pixels.dtype}")
    x = pixels.astype(np.float64)
    masks = patch_masks(patch=patch, stride=stride)
    ink_per_patch = (masks * x).reshape(len(masks), SIDE * SIDE).sum(axis=1)
    masks = masks[ink_per_patch > 0]
    ink_per_patch = ink_per_patch[ink_per_patch > 0]

    batch = np.repeat(pixels[None], len(masks) + 1, axis=0)
    batch[1:][masks] = 0  # copy 0 stays whole
    probabilities = np.asarray(predict_batch(batch))
    logp = log_probabilities(probabilities)
    drop = logp[0] - logp[1:]  # (K, 10): how much each digit lost when square k went dark

    # Share each square's effect among its pixels by how much ink each holds.
    weights = masks.reshape(len(masks), SIDE * SIDE) * x.reshape(1, -1) / ink_per_patch[:, None]
    maps = (drop.T @ weights).reshape(10, SIDE, SIDE)
    return Explanation(maps=maps, probabilities=probabilities[0], occlusions=len(masks))
