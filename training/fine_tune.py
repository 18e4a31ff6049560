"""The fine-tuning stage: the active CNN learns collected drawings without
forgetting MNIST.

Following the Keras transfer-learning guide: start from the active version's
weights, recompile with a low, cosine-decayed learning rate, train a few
epochs on the drawings (repeated to about a third of the data) mixed with a
rehearsal sample of MNIST train (never its validation split).  Only the
drawings are augmented, with thicker or thinner strokes, elastic distortion
and a little rotation: MNIST needs no teaching again, and the baseline's
augmentations on MNIST were what made fine-tuning forget (bench/README.md
compares full rehearsal, distillation, weight averaging, EWC, WiSE-FT,
frozen convolutions, other rates and lengths).

TensorFlow is imported inside the functions that need it: this module is
read by processes that fork (the Celery worker's parent) and must not load it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from django.conf import settings

from .augment import AugmentConfig
from .fitting import EpochCallback

log = logging.getLogger(__name__)

SEED = 20240607
# Drawings only: strokes thinner or thicker, bent, slightly turned; no
# shifts or zoom (the preprocessing centres and scales every drawing).
DRAWINGS_AUGMENT = AugmentConfig(
    salt_pepper=0.0, shift=0.0, rotation=0.02, zoom=0.0, thickness=0.5, elastic_alpha=20.0, elastic_sigma=4.0
)


@dataclass
class FineTuneConfig:
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 3e-4
    rehearsal: int = 12000  # MNIST training images mixed in
    collected_share: float = 0.18  # drawings are repeated until they are at least this share of the data
    focus_oversample: int = 1  # focus digits appear this many times (1: not oversampled)
    focus_digits: list[int] = field(default_factory=lambda: [7, 9])
    test_limit: int = 0  # 0: the whole MNIST test set
    seed: int = SEED
    augment: AugmentConfig = field(default_factory=lambda: DRAWINGS_AUGMENT)  # the drawings only

    @property
    def method(self) -> str:
        """How this fine-tune learns, as a version records it and /models/ shows it."""
        return (
            f"fine-tune: {self.rehearsal:,} MNIST rehearsal images, {self.epochs} epochs at {self.learning_rate:g}"
            " + drawings augmented (thickness, elastic)"
        )

    @classmethod
    def from_settings(cls) -> FineTuneConfig:
        """The recipe the settings (the worker's environment) give."""
        return cls(
            epochs=settings.FINE_TUNE_EPOCHS,
            batch_size=settings.FINE_TUNE_BATCH_SIZE,
            learning_rate=settings.FINE_TUNE_LEARNING_RATE,
            rehearsal=settings.FINE_TUNE_REHEARSAL,
            collected_share=settings.FINE_TUNE_COLLECTED_SHARE,
            focus_oversample=settings.FINE_TUNE_FOCUS_OVERSAMPLE,
            focus_digits=list(settings.FOCUS_DIGITS),
            test_limit=settings.FINE_TUNE_TEST_LIMIT,
        )

    def as_dict(self) -> dict:
        d = asdict(self)
        d["augment"] = self.augment.as_dict()
        return d


@dataclass
class TrainingSet:
    x: np.ndarray  # (N, 28, 28) uint8, shuffled by the pipeline
    y: np.ndarray  # (N,) uint8
    summary: dict
    is_drawing: np.ndarray  # (N,) bool: which images are collected drawings (the only ones augmented)


def per_digit(y: np.ndarray) -> list[int]:
    return np.bincount(np.asarray(y, np.int64), minlength=10)[:10].tolist()


def _oversample(x: np.ndarray, y: np.ndarray, digits: list[int], times: int) -> tuple[np.ndarray, np.ndarray]:
    if times <= 1 or not len(y):
        return x, y
    focus = np.isin(y, digits)
    extra_x = np.repeat(x[focus], times - 1, axis=0)
    extra_y = np.repeat(y[focus], times - 1, axis=0)
    return np.concatenate([x, extra_x]), np.concatenate([y, extra_y])


def build_training_set(
    *, mnist_x: np.ndarray, mnist_y: np.ndarray, drawings_x: np.ndarray, drawings_y: np.ndarray, config: FineTuneConfig
) -> TrainingSet:
    """Rehearsal MNIST plus the drawings (repeated up to ``collected_share``),
    focus digits of both oversampled.  The summary counts distinct images."""
    rng = np.random.default_rng(config.seed)
    pick = rng.choice(len(mnist_y), size=min(config.rehearsal, len(mnist_y)), replace=False)
    rx, ry = mnist_x[pick], mnist_y[pick]
    repeat = 1
    if len(drawings_y) and config.collected_share > 0:
        wanted = config.collected_share * len(ry) / (1 - config.collected_share)
        repeat = max(1, math.ceil(wanted / len(drawings_y)))
    dx, dy = np.repeat(drawings_x, repeat, axis=0), np.repeat(drawings_y, repeat, axis=0)
    rx, ry = _oversample(rx, ry, config.focus_digits, config.focus_oversample)
    dx, dy = _oversample(dx, dy, config.focus_digits, config.focus_oversample)
    summary = {
        "mnist_per_digit": per_digit(mnist_y[pick]),
        "collected_per_digit": per_digit(drawings_y),
        "collected_repeat": repeat,
        "focus_digits": list(config.focus_digits),
        "focus_oversample": config.focus_oversample,
        "training_images": int(len(ry) + len(dy)),
    }
    is_drawing = np.concatenate([np.zeros(len(ry), bool), np.ones(len(dy), bool)])
    return TrainingSet(np.concatenate([rx, dx]), np.concatenate([ry, dy]).astype(np.uint8), summary, is_drawing)


def fine_tune(model, data: TrainingSet, config: FineTuneConfig, *, on_epoch: EpochCallback | None = None, verbose=0):
    """Train ``model`` (the parent's weights, changed in place) and return it.

    Every layer trains, with a learning rate low enough to adjust the
    features the parent learnt rather than relearn them."""
    import keras

    from .fitting import fit

    keras.utils.set_random_seed(config.seed)
    random_layers_reseed(model, config.seed)
    for layer in model.layers:
        layer.trainable = True
    fit(model, data.x, data.y, config, on_epoch=on_epoch, verbose=verbose, augment_mask=data.is_drawing)
    return model


def random_layers_reseed(model, seed: int) -> None:
    """Start the random stream of every layer that draws one (dropout) from
    ``seed``.  Such a layer took its seed when the parent was loaded, from
    Python's unseeded state, before any run's seed was set: the same
    fine-tune on the same data then dropped other units and ended on other
    weights in every process (0.1 point of MNIST, 1 point of the styles)."""
    import keras

    for index, layer in enumerate(model.layers):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            generator.state.assign(keras.ops.convert_to_tensor([seed + index, 0], dtype=generator.state.dtype))
