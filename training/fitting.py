"""What the baseline and fine-tuning share when they fit a CNN: the batches
(training.batches), the compile step, and the per-epoch progress callback.

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


def compile_for_training(model, *, learning_rate: float, steps: int, warmup_steps: int = 0) -> None:
    """Adam with a learning rate cosine-decayed to zero over ``steps``, so the
    last steps settle, after rising linearly from zero over ``warmup_steps``
    (a high peak rate is safe only once batch statistics have settled);
    compiling again also applies changed ``trainable`` flags."""
    import keras

    if warmup_steps:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, steps - warmup_steps, warmup_target=learning_rate, warmup_steps=warmup_steps
        )
    else:
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


def fit(
    model,
    x: np.ndarray,
    y: np.ndarray,
    config: FitConfig,
    *,
    on_epoch: EpochCallback | None = None,
    verbose=0,
    warmup_epochs: float = 0.0,
    augment_mask: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> int:
    """Compile ``model`` and train it on uint8 images ``x`` with labels ``y``
    (changed in place), the learning rate rising over ``warmup_epochs`` (the
    baseline's recipe; fine-tuning has none).  With ``validation`` (uint8
    images, labels), the weights of the epoch most accurate on it are kept,
    never by the test set.  Returns the epoch kept (1-based)."""
    import keras

    from models.model_input import model_input

    from .batches import ImageBatches

    epoch_steps = math.ceil(len(y) / config.batch_size)
    compile_for_training(
        model,
        learning_rate=config.learning_rate,
        steps=config.epochs * epoch_steps,
        warmup_steps=round(warmup_epochs * epoch_steps),
    )
    ds = ImageBatches(
        x, y, batch_size=config.batch_size, seed=config.seed, augment=config.augment, augment_mask=augment_mask
    )
    callbacks = [progress_callback(on_epoch, config.epochs)] if on_epoch else []
    if validation is None:
        model.fit(ds, epochs=config.epochs, verbose=verbose, callbacks=callbacks)
        return config.epochs
    keep = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.epochs, restore_best_weights=True
    )
    history = model.fit(
        ds,
        epochs=config.epochs,
        verbose=verbose,
        validation_data=(model_input(validation[0]), np.asarray(validation[1], np.int32)),
        callbacks=[*callbacks, keep],
    )
    return int(np.argmax(history.history["val_accuracy"])) + 1
