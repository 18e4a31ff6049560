"""Training-time augmentations, in NumPy, one batch at a time.

MNIST digits are pen strokes of uneven width; the page's are a round brush
of one width, crop-scaled by the preprocessing.  So besides MNIST's usual
small affine jitter, the baseline sees strokes made thinner or thicker
(grey-level erosion and dilation, blended by a random amount) and elastic
distortion (Simard et al., 2003: a smoothed random displacement field), which
bends strokes the way hands do.  Salt-and-pepper noise was the original app's
best.

The affine jitter and the displacement field are one resampling (bilinear),
so an image is interpolated once.  Everything is NumPy, seeded per batch, and
framework-free: the same code feeds Keras on TensorFlow here and on JAX in
experiments, and it imports nothing heavy (the config is read by processes
that fork and must not load TensorFlow).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SIZE = 28


@dataclass(frozen=True)
class AugmentConfig:
    salt_pepper: float = 0.02  # share of pixels flipped to 0 or 1
    shift: float = 0.1  # fraction of the image size
    rotation: float = 0.04  # fraction of a full turn (about 15 degrees)
    zoom: float = 0.1
    thickness: float = 0.0  # 0 disables; else strokes are eroded or dilated by up to this blend (0..1)
    elastic_alpha: float = 0.0  # 0 disables; Simard's alpha (34 with sigma 4: displacements of about 1.4 px)
    elastic_sigma: float = 4.0  # smoothing of the displacement field, in pixels

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def enabled(self) -> bool:
        return any((self.salt_pepper, self.shift, self.rotation, self.zoom, self.thickness, self.elastic_alpha))


NONE = AugmentConfig(salt_pepper=0.0, shift=0.0, rotation=0.0, zoom=0.0)


def _neighbourhood(x: np.ndarray, op) -> np.ndarray:
    """Grey-level dilation (op=np.maximum) or erosion (np.minimum) by a
    3x3 cross: gentler than a square on MNIST's 2-3 px strokes."""
    out = x.copy()
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=0.0)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        out = op(out, p[:, dy : dy + SIZE, dx : dx + SIZE])
    return out


def _gaussian_matrix(sigma: float) -> np.ndarray:
    """Smoothing along one axis as a 28x28 matrix (zero beyond the border,
    rows normalised), so a batch of fields is smoothed by two matmuls."""
    i = np.arange(SIZE)
    g = np.exp(-((i[:, None] - i[None, :]) ** 2) / (2 * sigma**2))
    return (g / g.sum(axis=1, keepdims=True)).astype(np.float32)


def _bilinear(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample each image of ``x`` (N, 28, 28) at (rows, cols) (N, 28, 28); paper (0) outside."""
    n = x.shape[0]
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = rows - r0, cols - c0
    r0, c0 = r0.astype(np.int32), c0.astype(np.int32)
    padded = np.pad(x, ((0, 0), (1, 2), (1, 2)))  # so r0, r0 + 1 in -1..28 are all valid after clipping
    flat = padded.reshape(n, -1)
    width = SIZE + 3
    base = np.arange(n, dtype=np.int32)[:, None, None] * flat.shape[1]
    r0 = np.clip(r0, -1, SIZE) + 1
    c0 = np.clip(c0, -1, SIZE) + 1
    idx = base + r0 * width + c0
    f = flat.reshape(-1)
    top = f[idx] * (1 - fc) + f[idx + 1] * fc
    bottom = f[idx + width] * (1 - fc) + f[idx + width + 1] * fc
    return top * (1 - fr) + bottom * fr


def augment_batch(x: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Augment a batch of float32 images in [0, 1], shape (N, 28, 28)."""
    n = x.shape[0]
    x = x.astype(np.float32, copy=True)
    if config.thickness > 0:
        amount = rng.uniform(-config.thickness, config.thickness, size=(n, 1, 1)).astype(np.float32)
        other = np.where(amount > 0, _neighbourhood(x, np.maximum), _neighbourhood(x, np.minimum))
        x += np.abs(amount) * (other - x)

    # Where each output pixel reads from: an affine map about the centre ...
    centre = (SIZE - 1) / 2
    angle = rng.uniform(-1, 1, n).astype(np.float32) * np.float32(config.rotation * 2 * np.pi)
    scale = 1 + rng.uniform(-config.zoom, config.zoom, n).astype(np.float32)
    shift = rng.uniform(-config.shift, config.shift, (2, n, 1, 1)).astype(np.float32) * SIZE
    grid = np.arange(SIZE, dtype=np.float32) - centre
    cos, sin = (np.cos(angle) / scale)[:, None, None], (np.sin(angle) / scale)[:, None, None]
    gr, gc = grid[None, :, None] - shift[0], grid[None, None, :] - shift[1]
    rows = cos * gr - sin * gc + centre
    cols = sin * gr + cos * gc + centre
    # ... plus a smooth random displacement field.
    if config.elastic_alpha > 0:
        g = _gaussian_matrix(config.elastic_sigma)
        field = rng.random((2, n, SIZE, SIZE), dtype=np.float32) * 2 - 1
        field = (g @ field @ g.T) * np.float32(config.elastic_alpha)
        rows, cols = rows + field[0], cols + field[1]
    x = _bilinear(x, rows, cols)

    if config.salt_pepper > 0:
        u = rng.random(x.shape, dtype=np.float32)
        x[u < config.salt_pepper / 2] = 0.0
        x[u > 1 - config.salt_pepper / 2] = 1.0
    return np.clip(x, 0.0, 1.0)
