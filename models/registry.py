"""Writes to the model registry, its only writer: register, activate, roll
back, reject, and record a load error.

Exactly one version is active; the database enforces it with a partial
unique constraint, and every change happens in one transaction.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
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


class _MovableFile(File):
    """A finished file on local disk that storage may move instead of copy.

    FileSystemStorage renames a file that offers ``temporary_file_path``, so
    the artifact appears under its final name in one atomic step; a crash
    never leaves half a file where a registered version points.  Storages
    that copy (S3) read it as the open file it also is.
    """

    def __init__(self, path: str):
        super().__init__(open(path, "rb"), name=os.path.basename(path))  # noqa: SIM115 -- closed by the caller
        self._path = path

    def temporary_file_path(self) -> str:
        return self._path


def _staging_path() -> str:
    """A fresh temporary file under ARTIFACT_ROOT, where artifacts are written first."""
    staging = Path(settings.ARTIFACT_ROOT) / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=staging, suffix=".keras")
    os.close(fd)
    return tmp


def model_version_register(
    *,
    model,
    architecture: list[dict],
    metrics: dict,
    params: dict,
    data_summary: dict,
    parent: ModelVersion | None = None,
    training_run=None,
) -> ModelVersion:
    """Save ``model`` as an artifact and record it as a candidate version.

    ``architecture`` is the layer summary the drawing page shows; training
    passes it in, so the registry needs to know nothing of the network."""
    tmp = _staging_path()
    try:
        model.save(tmp)
        sha = file_sha256(tmp)
        fields = dict(
            parent=parent,
            training_run=training_run,
            sha256=sha,
            architecture=architecture,
            metrics=metrics,
            mnist_accuracy=metrics.get("mnist_accuracy"),
            heldout_accuracy=metrics.get("heldout_accuracy"),
            params=params,
            data_summary=data_summary,
        )
        return _version_numbered(tmp, sha, fields)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _version_numbered(tmp: str, sha: str, fields: dict) -> ModelVersion:
    """Record the version under the next free number, moving its artifact in."""
    for _attempt in range(5):
        number = (ModelVersion.objects.aggregate(n=Max("version"))["n"] or 0) + 1
        version = ModelVersion(version=number, **fields)
        try:
            with transaction.atomic():
                with _MovableFile(tmp) as artifact:
                    version.artifact.save(f"v{number}-{sha[:12]}.keras", artifact, save=False)
                version.save()
            log.info("Registered model version %s (sha256 %s)", version, sha[:12])
            return version
        except IntegrityError:
            # Another process took this number first; try the next one.
            if version.artifact.name:
                version.artifact.storage.delete(version.artifact.name)
    raise RegistryError("Could not allocate a version number")


class _Unchecked(enum.Enum):
    UNCHECKED = "unchecked"


UNCHECKED = _Unchecked.UNCHECKED


def model_version_activate(
    *,
    version: ModelVersion,
    by: str,
    reason: str = "",
    expected_current: ModelVersion | None | _Unchecked = UNCHECKED,
) -> ModelVersion:
    """Make ``version`` the served one; the previous active version retires.

    With ``expected_current`` (a version, or None for "none is active") it
    activates only if that is still the active one: training promotes a
    candidate it measured against its parent, and staff may have promoted or
    rolled back something else meanwhile.  Otherwise the version stays a
    candidate and its reason says why.  Compare ``status`` to know which."""
    with transaction.atomic():
        target = ModelVersion.objects.select_for_update().get(pk=version.pk)
        current = ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).first()
        if expected_current is not UNCHECKED and _pk(current) != _pk(expected_current):
            note = f"not promoted: the active version changed to {current} meanwhile"
            target.status_reason = f"{reason}; {note}" if reason else note
            target.save(update_fields=["status_reason"])
            version.refresh_from_db()
            return target
        if current and current.pk == target.pk:
            return target
        _activate_locked(target=target, current=current, by=by, reason=reason)
    log.info("Activated %s (previously %s) by %s", target, current, by)
    version.refresh_from_db()
    return target


def _pk(version: ModelVersion | None) -> int | None:
    return version.pk if version else None


def _activate_locked(*, target: ModelVersion, current: ModelVersion | None, by: str, reason: str) -> None:
    if current:
        current.status = ModelVersion.Status.RETIRED
        current.status_reason = f"Replaced by {target} ({by})"
        current.save(update_fields=["status", "status_reason"])
    target.status = ModelVersion.Status.ACTIVE
    target.status_reason = reason
    target.activated_at = timezone.now()
    target.save(update_fields=["status", "status_reason", "activated_at"])
    ModelActivation.objects.create(version=target, previous=current, by=by, reason=reason)


def model_version_roll_back(*, version: ModelVersion, by: str, reason: str = "") -> ModelVersion:
    """Serve ``version``, older than the active one, again (the admin's and
    ``manage.py promote``'s way back from a version that serves badly)."""
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).first()
        if current is None or version.version >= current.version:
            raise RegistryError(f"{version} is not older than the active version ({current}); promote it instead.")
        reason = reason or f"rolled back from {current}"
        return model_version_activate(version=version, by=by, reason=reason, expected_current=current)


def model_version_reject(*, version: ModelVersion, reason: str) -> ModelVersion:
    """Record that the gate refused a candidate, and why; it stays in the
    registry (staff may still promote it) but is never served by itself."""
    ModelVersion.objects.filter(pk=version.pk).exclude(status=ModelVersion.Status.ACTIVE).update(
        status=ModelVersion.Status.REJECTED, status_reason=reason
    )
    version.refresh_from_db()
    return version


def model_version_mark_load_error(*, version_id: int, error: str) -> None:
    ModelVersion.objects.filter(pk=version_id).update(load_error=error[:2000])
