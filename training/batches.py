"""Batches for Keras: shuffled each epoch, augmented in NumPy, seeded.

A ``keras.utils.PyDataset`` rather than a tf.data pipeline, so the same
code trains on TensorFlow (here) and on JAX (experiments on a GPU). Imported
only inside the functions that train: ``import keras`` loads the backend.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from models.model_input import model_input

from .augment import AugmentConfig, augment_batch

# Batches are made in threads beside the training step (NumPy releases the
# GIL).  With one worker Keras feeds TensorFlow through a generator that it
# restarts every epoch, which stalled about 3 s at each epoch's start and
# 4.5 s at the end of fit on this machine; the threaded queue does not.
WORKERS = 2


class ImageBatches(keras.utils.PyDataset):
    """(images, labels) batches of uint8 ``x`` (N, 28, 28), reshuffled every
    epoch; ``augment`` applies to the images whose ``augment_mask`` is true
    (all by default).  Batch ``i`` of epoch ``e`` is the same whatever order
    Keras asks for it in, or from which thread."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        batch_size: int,
        seed: int,
        augment: AugmentConfig | None,
        augment_mask: np.ndarray | None = None,
    ):
        super().__init__(workers=WORKERS)
        self.x, self.y = x, np.asarray(y, np.int32)
        self.batch_size, self.seed = batch_size, seed
        self.augment = augment if augment is not None and augment.enabled else None
        self.augment_mask = augment_mask
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.y))

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index: int):
        pick = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = model_input(self.x[pick])[..., 0]  # augmented as (N, 28, 28) floats in [0, 1]
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            if self.augment_mask is None:
                images = augment_batch(images, rng, self.augment)
            else:
                chosen = self.augment_mask[pick]
                if chosen.any():
                    images[chosen] = augment_batch(images[chosen], rng, self.augment)
        return images[..., None], self.y[pick]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()
