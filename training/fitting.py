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


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    augment: AugmentConfig | None,
    augment_mask: np.ndarray | None = None,
):
    """Shuffled batches of model input, augmented in NumPy (training.batches);
    ``augment_mask`` limits augmentation to the images it marks."""
    from .batches import ImageBatches

    return ImageBatches(x, y, batch_size=batch_size, seed=seed, augment=augment, augment_mask=augment_mask)


def smoothed_crossentropy(label_smoothing: float):
    """Sparse cross-entropy against labels smoothed toward uniform by
    ``label_smoothing`` (Keras's sparse loss has no smoothing; this keeps the
    labels, and so the accuracy metric and the batches, as they are)."""
    import keras
    from keras import ops

    def loss(y_true, y_pred):
        hard = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        uniform = -ops.mean(ops.log(ops.clip(y_pred, 1e-7, 1.0)), axis=-1)
        return (1 - label_smoothing) * hard + label_smoothing * uniform

    return loss


def compile_for_training(
    model,
    *,
    learning_rate: float,
    steps: int,
    warmup_steps: int = 0,
    label_smoothing: float = 0.0,
    ema_momentum: float = 0.0,
    soft_targets: bool = False,
) -> None:
    """Adam with a learning rate cosine-decayed to zero over ``steps``, so the
    last steps settle, after rising linearly from zero over ``warmup_steps``
    (a high peak rate is safe only once batch statistics have settled);
    compiling again also applies changed ``trainable`` flags.  With
    ``ema_momentum`` the optimizer also keeps an exponential moving average
    of the weights (Polyak averaging), which ``fit`` ends on."""
    import keras

    if warmup_steps:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, steps - warmup_steps, warmup_target=learning_rate, warmup_steps=warmup_steps
        )
    else:
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    if soft_targets:  # (N, 10) probabilities, as distillation gives
        loss = "categorical_crossentropy"
    elif label_smoothing:
        loss = smoothed_crossentropy(label_smoothing)
    else:
        loss = "sparse_categorical_crossentropy"
    ema = dict(use_ema=True, ema_momentum=ema_momentum) if ema_momentum else {}
    model.compile(optimizer=keras.optimizers.Adam(schedule, **ema), loss=loss, metrics=["accuracy"])


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
    augment_mask: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> int:
    """Compile ``model`` and train it on uint8 images ``x`` with labels ``y``
    (or (N, 10) soft targets) (changed in place).  With ``validation`` (uint8 images, labels), the
    weights of the epoch most accurate on it are kept, never by the test set.
    With ``config.ema_momentum`` the weights judged each epoch and kept are
    the moving average, not the last step's.  Returns the epoch kept
    (1-based)."""
    import keras

    from models.model_input import model_input

    epoch_steps = math.ceil(len(y) / config.batch_size)
    compile_for_training(
        model,
        learning_rate=config.learning_rate,
        steps=config.epochs * epoch_steps,
        # The baseline's recipe; fine-tuning has neither.
        warmup_steps=round(getattr(config, "warmup_epochs", 0) * epoch_steps),
        label_smoothing=getattr(config, "label_smoothing", 0.0),
        ema_momentum=getattr(config, "ema_momentum", 0.0),
        soft_targets=np.ndim(y) == 2,
    )
    ds = make_dataset(
        x, y, batch_size=config.batch_size, seed=config.seed, augment=config.augment, augment_mask=augment_mask
    )
    callbacks = [progress_callback(on_epoch, config.epochs)] if on_epoch else []
    if getattr(config, "ema_momentum", 0.0):
        # The averaged weights go into the model at each epoch's end, before
        # the callbacks after this one (the validation check that keeps an
        # epoch), and are validated; Keras's fit ends on them as well.  With
        # batch normalisation the moving statistics follow the raw weights,
        # so early epochs' averages read low (about 10% of validation after
        # 3 of 8 epochs at 0.999): only late epochs are kept, and the
        # baseline recomputes the statistics for them before folding.
        callbacks.insert(0, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
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
