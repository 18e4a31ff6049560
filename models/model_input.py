"""The one boundary between a 28x28 uint8 image and what the CNN takes.

Serving, evaluation and training all call ``model_input``, so the network
sees the same numbers wherever it runs: float32 in [0, 1], shaped
(N, 28, 28, 1).  No TensorFlow here: web processes import this module.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 28
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
# pixel value -> model input, exactly value / 255 in float32 (a lookup is
# cheaper than converting and dividing, and gives the same bits).
_SCALE = np.arange(256, dtype=np.float32) / np.float32(255.0)


def model_input(pixels: np.ndarray) -> np.ndarray:
    """float32 (N, 28, 28, 1) in [0, 1] for uint8 pixels shaped (28, 28),
    (N, 28, 28) or (N, 28, 28, 1), ink white on black."""
    x = np.asarray(pixels)
    if x.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {x.dtype}")
    if x.shape[-1] == 1 and x.ndim == 4:
        x = x[..., 0]
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE) or x.ndim not in (2, 3):
        raise ValueError(f"expected 28x28 images, got shape {x.shape}")
    return _SCALE[x].reshape(-1, *INPUT_SHAPE)
