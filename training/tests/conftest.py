"""Fixtures for retraining tests: collected drawings, and a real Celery worker
against the test database and the test run's Redis broker."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
from django.utils import timezone

from digits.models import Sample
from models.registry import model_version_reject
from training.datasets import validation_split
from training.models import TrainingRun

from .processes import start_worker


def wait_until(predicate, timeout: float = 120, interval: float = 0.2, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(message or f"condition not met after {timeout}s")


def finished(run_id: int, timeout: float = 180) -> TrainingRun:
    def done():
        run = TrainingRun.objects.select_related("result", "parent").get(pk=run_id)
        return run if run.status in TrainingRun.FINISHED else None

    return wait_until(done, timeout=timeout, message=f"run {run_id} did not finish")


def mnist_drawings(mnist, count: int, start: int = 50000):
    """Real handwriting the tiny model has not trained on, as if collected."""
    return mnist.x_train[start : start + count], mnist.y_train[start : start + count]


@pytest.fixture
def make_drawings(db):
    """Store 28x28 uint8 images as collected drawings (approved by default)."""

    def make(images: np.ndarray, labels, *, status: str = Sample.Status.APPROVED) -> list[Sample]:
        now = timezone.now()
        rows = []
        # The content decides the held-out split, so the hash is the image's
        # own (the same images, the same split, whatever ran before); a copy
        # of an image already stored gets a suffixed one, as a drawing from
        # another person would.
        taken = set(Sample.objects.filter(client_id="tests").values_list("image_sha256", flat=True))
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            pixels = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
            sha, copy = hashlib.sha256(pixels).hexdigest(), 0
            while sha in taken:
                copy += 1
                sha = hashlib.sha256(pixels + str(copy).encode()).hexdigest()
            taken.add(sha)
            rows.append(
                Sample(
                    image=f"samples/test/{i}.png",
                    image_sha256=sha,
                    pixels=pixels,
                    label=int(label),
                    label_source=Sample.LabelSource.PROMPTED,
                    client_id="tests",
                    status=status,
                    reviewed_at=now if status != Sample.Status.PENDING else None,
                )
            )
        return Sample.objects.bulk_create(rows)

    return make


@pytest.fixture(scope="module")
def worker_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("worker")


@pytest.fixture(scope="module")
def worker(request, worker_folder, django_db_setup, django_db_blocker):
    """One prefork worker (concurrency 1, as in production) for a module.

    It reads its settings from its environment, as in production: a module
    sets ``WORKER_ENV`` (e.g. ``{"FINE_TUNE_EPOCHS": "3"}``) to train with
    other settings than processes.FAST_TRAINING."""
    from webapp.celery import app

    app.control.purge()
    proc = start_worker(worker_folder, **getattr(request.module, "WORKER_ENV", {}))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def worker_idle_after(transactional_db, worker):
    """A registered version sends the worker a readings task after the run
    has finished; the test database is emptied (TRUNCATE) when a test ends,
    and the two deadlock when they overlap.  So the test ends only once the
    worker has nothing active or reserved, twice in a row."""
    yield
    from webapp.celery import app

    def idle() -> bool:
        inspect = app.control.inspect(timeout=1.0)
        busy = [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
        return not any(busy)

    wait_until(lambda: idle() and idle(), timeout=120, interval=0.5, message="the worker is still busy")


@pytest.fixture
def shared_storage(settings, worker_folder):
    """Artifacts where the worker processes read and write them."""
    root = worker_folder / "artifacts"
    settings.ARTIFACT_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture
def served_version(shared_storage, register_version):
    """The tiny CNN, active, with its artifact where the worker sees it."""
    from models.registry import model_version_activate

    return model_version_activate(version=register_version(), by="test fixture")


@pytest.fixture
def traded(active_version, register_version, make_drawings, mnist):
    """v2, refused for its 7s: it misreads six validation 7s its parent read
    (four as 1, two as 9), and reads 20 held-out drawings its parent did not."""
    sevens = np.flatnonzero(validation_split(mnist).y_validation == 7)[:6].tolist()
    ids = [d.id for d in make_drawings(mnist.x_test[:20], mnist.y_test[:20])]
    misread = [
        {"index": i, "true": 7, "predicted": 1 if k < 4 else 9, "neighbours": ids[k : k + 3], "similarity": [0.9] * 3}
        for k, i in enumerate(sevens)
    ]
    per_digit = {
        "check": "MNIST validation, 7s",
        "digit": 7,
        "passed": False,
        "candidate": 0.988,
        "active": 1.0,
        "lost": sevens,
        "detail": "6 lost, 0 gained of 500; McNemar p = 0.156 after Holm; more than 0.5 point below the parent",
    }
    gate = {"passed": False, "checks": [{"check": "MNIST validation (paired)", "passed": True}, per_digit]}
    trade = {"layer": "dropout", "gained": ids, "misread": misread}
    version = register_version(parent=active_version, metrics={"mnist_accuracy": 0.97, "gate": gate, "trade": trade})
    return model_version_reject(version=version, reason="Gate failed: MNIST validation, 7s: 98.80% vs 100.00%")
