"""Writes to the model registry: register, activate, roll back.

Exactly one version is active; the database enforces it with a partial
unique constraint, and every change happens in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from .models import ModelActivation, ModelVersion

log = logging.getLogger(__name__)


class RegistryError(Exception):
    pass


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _MovableFile:
    """A finished file on local disk that storage may move instead of copy.

    FileSystemStorage renames a file that offers ``temporary_file_path``, so
    the artifact appears under its final name in one atomic step; a crash
    never leaves half a file where a registered version points.
    """

    def __init__(self, path: str):
        self._path = path
        self.name = os.path.basename(path)
        self.size = os.path.getsize(path)

    def temporary_file_path(self) -> str:
        return self._path

    def chunks(self, chunk_size: int = 1 << 20):  # for storages that copy
        with open(self._path, "rb") as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def close(self) -> None:
        pass


def model_version_register(
    *,
    model,
    metrics: dict,
    params: dict,
    data_summary: dict,
    parent: ModelVersion | None = None,
    training_run=None,
    architecture: list | None = None,
) -> ModelVersion:
    """Save ``model`` as an artifact and record it as a candidate version."""
    from training.network import architecture_summary

    staging = Path(settings.ARTIFACT_ROOT) / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=staging, suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        sha = file_sha256(tmp)
        for _attempt in range(5):
            number = (ModelVersion.objects.aggregate(n=Max("version"))["n"] or 0) + 1
            version = ModelVersion(
                version=number,
                parent=parent,
                training_run=training_run,
                sha256=sha,
                architecture=architecture if architecture is not None else architecture_summary(model),
                metrics=metrics,
                mnist_accuracy=metrics.get("mnist_accuracy"),
                heldout_accuracy=metrics.get("heldout_accuracy"),
                params=params,
                data_summary=data_summary,
            )
            try:
                with transaction.atomic():
                    version.artifact.save(f"v{number}-{sha[:12]}.keras", _MovableFile(tmp), save=False)
                    version.save()
                log.info("Registered model version %s (sha256 %s)", version, sha[:12])
                return version
            except IntegrityError:
                # Another process took this number first; try the next one.
                if version.artifact.name:
                    version.artifact.storage.delete(version.artifact.name)
                continue
        raise RegistryError("Could not allocate a version number")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def model_version_activate(*, version: ModelVersion, by: str, reason: str = "") -> ModelVersion:
    """Make ``version`` the served one; the previous active version retires."""
    with transaction.atomic():
        target = ModelVersion.objects.select_for_update().get(pk=version.pk)
        current = ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).first()
        if current and current.pk == target.pk:
            return target
        if current:
            current.status = ModelVersion.Status.RETIRED
            current.status_reason = f"Replaced by {target} ({by})"
            current.save(update_fields=["status", "status_reason"])
        target.status = ModelVersion.Status.ACTIVE
        target.status_reason = reason
        target.activated_at = timezone.now()
        target.save(update_fields=["status", "status_reason", "activated_at"])
        ModelActivation.objects.create(version=target, previous=current, by=by, reason=reason)
    log.info("Activated %s (previously %s) by %s", target, current, by)
    version.refresh_from_db()
    return target


def model_version_reject(*, version: ModelVersion, reason: str) -> ModelVersion:
    """Record that a candidate failed the gate; it stays in the registry."""
    ModelVersion.objects.filter(pk=version.pk).exclude(status=ModelVersion.Status.ACTIVE).update(
        status=ModelVersion.Status.REJECTED, status_reason=reason
    )
    version.refresh_from_db()
    return version


def model_version_mark_load_error(*, version_id: int, error: str) -> None:
    ModelVersion.objects.filter(pk=version_id).update(load_error=error[:2000])
