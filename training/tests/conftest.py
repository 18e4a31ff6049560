"""Fixtures for retraining tests: collected drawings, and a real Celery worker
against the test database and the test run's Redis broker."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
from django.utils import timezone

from digits.models import Sample

from .processes import start_worker


def wait_until(predicate, timeout: float = 120, interval: float = 0.2, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(message or f"condition not met after {timeout}s")


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
def worker(worker_folder, django_db_setup, django_db_blocker):
    """One prefork worker (concurrency 1, as in production) for a module."""
    from webapp.celery import app

    app.control.purge()
    proc = start_worker(worker_folder)
    try:
        yield proc
    finally:
        proc.stop()


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
