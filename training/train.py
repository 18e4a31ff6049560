"""Training of the baseline CNN on MNIST, with the original's augmentations."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .augment import AugmentConfig

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, int, dict], None]  # (epoch, epochs, logs)


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 128
    learning_rate: float = 2e-3
    seed: int = 1234
    train_limit: int | None = None  # a slice of MNIST, for tests
    test_limit: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["augment"] = self.augment.as_dict()
        return d


def code_revision() -> str:
    """The git revision of this code: GIT_REVISION where the image was built
    with it (the image has no .git), else asked of git."""
    from django.conf import settings

    if settings.GIT_REVISION not in ("", "unknown"):
        return settings.GIT_REVISION
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    augment: AugmentConfig | None,
    weights: np.ndarray | None = None,
):
    """A shuffled, batched, augmented tf.data pipeline of float images."""
    import tensorflow as tf

    from models.model_input import INPUT_SHAPE, model_input

    from .augment import make_augmenter

    images = x.reshape(-1, 28, 28, 1)
    tensors = (images, y.astype(np.int64)) if weights is None else (images, y.astype(np.int64), weights)
    ds = tf.data.Dataset.from_tensor_slices(tensors).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    augmenter = make_augmenter(augment, seed) if augment else None

    def prepare(img, *rest):
        img = tf.numpy_function(model_input, [img], tf.float32, stateful=False)
        img.set_shape((None, *INPUT_SHAPE))
        if augmenter is not None:
            img = augmenter(img)
        return (img, *rest)

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


class ProgressCallback:
    """Adapts a plain (epoch, epochs, logs) function to a Keras callback."""

    def __new__(cls, on_epoch: EpochCallback, epochs: int):
        import keras

        class _Cb(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                on_epoch(epoch + 1, epochs, {k: float(v) for k, v in (logs or {}).items()})

        return _Cb()


def train_baseline(data, config: TrainConfig, *, on_epoch: EpochCallback | None = None, verbose: int = 2):
    """Train a fresh CNN; returns (model, metrics, data_summary)."""
    import keras

    from .evaluation import evaluate_mnist
    from .network import build_cnn

    keras.utils.set_random_seed(config.seed)
    x_train, y_train = data.x_train, data.y_train
    x_test, y_test = data.x_test, data.y_test
    if config.train_limit:
        x_train, y_train = x_train[: config.train_limit], y_train[: config.train_limit]
    if config.test_limit:
        x_test, y_test = x_test[: config.test_limit], y_test[: config.test_limit]

    ds = make_dataset(x_train, y_train, batch_size=config.batch_size, seed=config.seed, augment=config.augment)
    steps = config.epochs * int(np.ceil(len(x_train) / config.batch_size))
    model = build_cnn()
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    callbacks = [ProgressCallback(on_epoch, config.epochs)] if on_epoch else []
    model.fit(ds, epochs=config.epochs, verbose=verbose, callbacks=callbacks)
    metrics = evaluate_mnist(model, x_test, y_test)
    summary = {
        "mnist_train_per_digit": np.bincount(y_train, minlength=10).tolist(),
        "mnist_test_count": int(len(y_test)),
        "collected_per_digit": [0] * 10,
    }
    return model, metrics, summary
