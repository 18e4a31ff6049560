"""The baseline stage: a fresh CNN trained on MNIST with the original's
augmentations, measured on the MNIST test set."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np

from .augment import AugmentConfig
from .fitting import EpochCallback

log = logging.getLogger(__name__)


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


def train_baseline(data, config: TrainConfig, *, on_epoch: EpochCallback | None = None, verbose: int = 2):
    """Train a fresh CNN; returns (model, metrics, data_summary)."""
    import keras

    from .evaluation import evaluate_mnist
    from .fitting import fit
    from .network import build_cnn

    keras.utils.set_random_seed(config.seed)
    x_train, y_train = data.x_train[: config.train_limit or None], data.y_train[: config.train_limit or None]
    x_test, y_test = data.x_test[: config.test_limit or None], data.y_test[: config.test_limit or None]
    model = build_cnn()
    fit(model, x_train, y_train, config, on_epoch=on_epoch, verbose=verbose)
    metrics = evaluate_mnist(model, x_test, y_test)
    summary = {
        "mnist_train_per_digit": np.bincount(y_train, minlength=10).tolist(),
        "mnist_test_count": int(len(y_test)),
        "collected_per_digit": [0] * 10,
    }
    return model, metrics, summary
