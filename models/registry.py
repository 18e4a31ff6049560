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


def _staged(suffix: str, write) -> str:
    """A finished file under ARTIFACT_ROOT/.staging, written by ``write(path)``."""
    staging = Path(settings.ARTIFACT_ROOT) / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=staging, suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _write_bytes(content: bytes):
    def write(path: str) -> None:
        with open(path, "wb") as fh:
            fh.write(content)

    return write


def model_version_register(
    *,
    model,
    litert: bytes,
    architecture: list[dict],
    metrics: dict,
    params: dict,
    data_summary: dict,
    parent: ModelVersion | None = None,
) -> ModelVersion:
    """Save ``model`` (Keras) and ``litert`` (its LiteRT export, checked
    against it by training.litert: what web processes serve) as artifacts,
    each with its own sha256, and record them as a candidate version.

    ``architecture`` is the layer summary the drawing page shows; training
    passes it in, so the registry needs to know nothing of the network."""
    if not litert:
        raise RegistryError("A version needs its LiteRT export (training.litert.litert_for_registration).")
    tmp = _staged(".keras", model.save)
    try:
        lite_tmp = _staged(".tflite", _write_bytes(litert))
    except BaseException:
        os.unlink(tmp)
        raise
    try:
        sha = file_sha256(tmp)
        lite_sha = hashlib.sha256(litert).hexdigest()
        fields = dict(
            parent=parent,
            sha256=sha,
            litert_sha256=lite_sha,
            architecture=architecture,
            metrics=metrics,
            mnist_accuracy=metrics.get("mnist_accuracy"),
            heldout_accuracy=metrics.get("heldout_accuracy"),
            params=params,
            data_summary=data_summary,
        )
        return _version_numbered(
            {"artifact": (tmp, sha, "keras"), "litert_artifact": (lite_tmp, lite_sha, "tflite")}, fields
        )
    finally:
        for path in (tmp, lite_tmp):
            if os.path.exists(path):
                os.unlink(path)


def _version_numbered(files: dict[str, tuple[str, str, str]], fields: dict) -> ModelVersion:
    """Record the version under the next free number, moving its artifacts in
    (``files``: field name -> (staged path, sha256, extension))."""
    for _attempt in range(5):
        number = (ModelVersion.objects.aggregate(n=Max("version"))["n"] or 0) + 1
        version = ModelVersion(version=number, **fields)
        try:
            with transaction.atomic():
                for name, (path, sha, ext) in files.items():
                    with _MovableFile(path) as artifact:
                        getattr(version, name).save(f"v{number}-{sha[:12]}.{ext}", artifact, save=False)
                version.save()
            log.info(
                "Registered model version %s (sha256 %s, LiteRT %s)",
                version,
                version.sha256[:12],
                version.litert_sha256[:12],
            )
            return version
        except IntegrityError:
            # Another process took this number first; try the next one.
            for name in files:
                field = getattr(version, name)
                if field.name:
                    field.storage.delete(field.name)
    raise RegistryError("Could not allocate a version number")


def model_version_litert_attach(*, version: ModelVersion, litert: bytes) -> ModelVersion:
    """Give a version registered before LiteRT its checked export (the
    export_litert command); a version that has one keeps it."""
    lite_sha = hashlib.sha256(litert).hexdigest()
    tmp = _staged(".tflite", _write_bytes(litert))
    try:
        with transaction.atomic():
            target = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if target.litert_sha256:
                return target
            with _MovableFile(tmp) as artifact:
                target.litert_artifact.save(f"v{target.version}-{lite_sha[:12]}.tflite", artifact, save=False)
            target.litert_sha256 = lite_sha
            # A process that refused this version for lacking the artifact may load it now.
            target.load_error = ""
            target.save(update_fields=["litert_artifact", "litert_sha256", "load_error"])
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("Attached the LiteRT export of %s (sha256 %s)", target, lite_sha[:12])
    return target


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
            note = f"not promoted: {current or 'no version'} is active, not {expected_current or 'none'} as expected"
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
