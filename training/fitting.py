"""What the baseline and fine-tuning share when they fit a CNN: the tf.data
pipeline, the compile step, and the per-epoch progress callback.

TensorFlow is imported inside the functions: processes that fork (the Celery
worker's parent, beat) read the modules that import this one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from .augment import AugmentConfig

EpochCallback = Callable[[int, int, dict], None]  # (epoch, epochs, logs)


def make_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, augment: AugmentConfig | None):
    """A shuffled, batched, augmented tf.data pipeline of model inputs."""
    import tensorflow as tf

    from models.model_input import INPUT_SHAPE, model_input

    from .augment import make_augmenter

    ds = tf.data.Dataset.from_tensor_slices((x.reshape(-1, 28, 28, 1), y.astype(np.int64)))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    augmenter = make_augmenter(augment, seed) if augment else None

    def prepare(img, label):
        img = tf.numpy_function(model_input, [img], tf.float32, stateful=False)
        img.set_shape((None, *INPUT_SHAPE))
        if augmenter is not None:
            img = augmenter(img)
        return img, label

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def compile_for_training(model, *, learning_rate: float, steps: int) -> None:
    """Adam with a learning rate cosine-decayed to zero over ``steps``, so the
    last steps settle; compiling again also applies changed ``trainable`` flags."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )


def progress_callback(on_epoch: EpochCallback, epochs: int):
    """A Keras callback calling ``on_epoch(epoch, epochs, logs)`` after each epoch."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            on_epoch(epoch + 1, epochs, {k: float(v) for k, v in (logs or {}).items()})

    return Progress()


class FitConfig(Protocol):
    """What fitting reads of TrainConfig and FineTuneConfig."""

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    augment: AugmentConfig | None


def fit(model, x: np.ndarray, y: np.ndarray, config: FitConfig, *, on_epoch: EpochCallback | None = None, verbose=0):
    """Compile ``model`` and train it on uint8 images ``x`` with labels ``y``;
    returns the model (changed in place)."""
    steps = config.epochs * math.ceil(len(y) / config.batch_size)
    compile_for_training(model, learning_rate=config.learning_rate, steps=steps)
    ds = make_dataset(x, y, batch_size=config.batch_size, seed=config.seed, augment=config.augment)
    callbacks = [progress_callback(on_epoch, config.epochs)] if on_epoch else []
    model.fit(ds, epochs=config.epochs, verbose=verbose, callbacks=callbacks)
    return model
