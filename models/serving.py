"""The served model: loaded lazily once per process, swapped without restart.

Web processes serve each version's LiteRT artifact through the interpreter
(models/inference.py) and never import TensorFlow.  A process asks the
database which version is active at most once every MODEL_POLL_SECONDS
(never once per request).  When it changes, the new version is loaded,
verified (sha256) and warmed in a background thread beside
the old one, then swapped in with one reference assignment: a request holds
the ServedModel it started with, so it finishes on that model.  A corrupt or
missing artifact is refused with a log line and recorded on the version; the
process keeps serving what it had.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from .inference import ExportFormatError, Predictor, visible_layers
from .models import ModelVersion

log = logging.getLogger(__name__)


class NoModelError(RuntimeError):
    """No version is active, or none could be loaded."""


class ArtifactError(RuntimeError):
    """An artifact is missing or does not match its recorded sha256."""


@dataclass
class ServedModel:
    version_id: int
    version: int
    sha256: str
    architecture: list
    predictor: Predictor
    loaded_at: float = field(default_factory=time.time)
    temperature: float = 1.0  # fitted on the version's validation split (models.calibration)


def artifact_read(version: ModelVersion, *, litert: bool = False) -> bytes:
    """The bytes of a version's Keras (default) or LiteRT artifact, verified
    against the sha256 the registry recorded."""
    fieldfile, expected = (
        (version.litert_artifact, version.litert_sha256) if litert else (version.artifact, version.sha256)
    )
    kind = "LiteRT artifact" if litert else "artifact"
    if not fieldfile.name or not expected:
        raise ArtifactError(f"{version} has no {kind}: run `python manage.py export_litert`")
    try:
        with fieldfile.open("rb") as fh:
            blob = fh.read()
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{kind} of {version} cannot be read: {exc}") from exc
    digest = hashlib.sha256(blob).hexdigest()
    if digest != expected:
        raise ArtifactError(f"{kind} of {version} has sha256 {digest[:12]}, registry says {expected[:12]}")
    return blob


def read_model(version: ModelVersion):
    """The Keras model of one version, verified against its sha256 (training
    and the export only: web processes never import Keras)."""
    import keras

    blob = artifact_read(version)
    with tempfile.NamedTemporaryFile(suffix=".keras") as tmp:
        tmp.write(blob)
        tmp.flush()
        try:
            model = keras.models.load_model(tmp.name, compile=False)
        except Exception as exc:  # keras raises many kinds for a bad zip
            raise ArtifactError(f"artifact of {version} does not load: {exc}") from exc
    return model


def load_version(version: ModelVersion) -> ServedModel:
    """Read, verify and warm one version's LiteRT artifact."""
    blob = artifact_read(version, litert=True)
    try:
        predictor = Predictor(
            blob, layer_names=visible_layers(version.architecture), threads=settings.INFERENCE_THREADS
        )
        predictor.warm_up()
    except (ExportFormatError, ValueError, RuntimeError) as exc:  # the interpreter refuses a bad flatbuffer
        raise ArtifactError(f"LiteRT artifact of {version} does not load: {exc}") from exc
    temperature = float((version.metrics or {}).get("temperature") or 1.0)
    return ServedModel(
        version.pk, version.version, version.sha256, version.architecture, predictor, temperature=temperature
    )


class ModelServer:
    """Holds the current ServedModel of this process and keeps it fresh."""

    def __init__(self, poll_seconds: float | None = None):
        self.poll_seconds = settings.MODEL_POLL_SECONDS if poll_seconds is None else poll_seconds
        self._current: ServedModel | None = None
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._loading: int | None = None
        self._failed: dict[int, str] = {}  # version id -> LiteRT sha256 that failed to load
        self._watcher: threading.Thread | None = None

    # --- reading -----------------------------------------------------------
    def get(self) -> ServedModel:
        """The model to use for this request (load on first use)."""
        now = time.monotonic()
        if self._current is None or (self._watcher is None and now >= self._next_check):
            self._next_check = now + self.poll_seconds
            self._refresh(block=self._current is None)
        current = self._current
        if current is None:
            raise NoModelError("No model version is being served yet.")
        return current

    # --- refreshing ----------------------------------------------------------
    def watch(self) -> None:
        """Poll from a background thread instead of from requests, so an idle
        process too serves a newly activated version within MODEL_POLL_SECONDS
        plus its load time (gunicorn workers call this once they start)."""
        with self._lock:
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="model-watch", daemon=True)
                self._watcher.start()

    def _watch(self) -> None:
        from django.db import close_old_connections

        while True:
            time.sleep(self.poll_seconds)
            # This thread's connection outlives any request: drop it when the
            # database went away, so the next poll reconnects.
            close_old_connections()
            try:
                self._refresh(block=False)
            except Exception:  # never let the watcher die
                log.exception("Polling for the active model version failed")

    def _refresh(self, *, block: bool) -> None:
        from .selectors import active_model_version_get

        try:
            active = active_model_version_get()
        except Exception:  # database down: keep serving what we have
            log.warning("Cannot read the active model version; serving %s", self._current and self._current.version)
            if block:
                raise
            return
        if active is None or (self._current and self._current.version_id == active.pk):
            return
        if self._failed.get(active.pk) == active.litert_sha256:
            return  # already refused this artifact; do not retry every poll
        if block:
            self._load(active)
            return
        with self._lock:
            if self._loading == active.pk:
                return
            self._loading = active.pk
        threading.Thread(target=self._load, args=(active,), name=f"load-v{active.version}", daemon=True).start()

    def _load(self, version: ModelVersion) -> None:
        from .registry import model_version_mark_load_error

        try:
            served = load_version(version)
        except ArtifactError as exc:
            self._failed[version.pk] = version.litert_sha256
            serving = self._current.version if self._current else None
            log.error("Refusing model %s: %s; still serving %s", version, exc, serving and f"v{serving}")
            try:
                model_version_mark_load_error(version_id=version.pk, error=str(exc))
            except Exception:
                log.exception("Could not record the load error of %s", version)
            return
        finally:
            with self._lock:
                if self._loading == version.pk:
                    self._loading = None
        previous = self._current
        self._current = served  # one reference assignment: atomic for readers
        log.info("Serving model v%s (was %s)", served.version, previous and f"v{previous.version}")

    def wait_for(self, version_id: int, timeout: float = 30.0) -> ServedModel:
        """Block until this process serves ``version_id`` (tests, warm-up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._next_check = 0.0
            served = self.get()
            if served.version_id == version_id:
                return served
            time.sleep(0.05)
        raise TimeoutError(f"version id {version_id} not served after {timeout}s")


def serving_process() -> dict:
    """This process, as answers name it: host and pid (a fork has its own)."""
    return _process_ref(os.getpid())


@functools.cache
def _process_ref(pid: int) -> dict:
    return {"host": socket.gethostname(), "pid": pid}


_server: ModelServer | None = None
_server_lock = threading.Lock()


def model_server() -> ModelServer:
    """The process-wide ModelServer, created on first use (never at import)."""
    global _server
    if _server is None:
        with _server_lock:
            if _server is None:
                _server = ModelServer()
    return _server


# --- any version, for staff comparing versions ---------------------------------

COMPARED_KEPT = 2  # versions other than the served one kept loaded per process
_compared: dict[tuple[int, str], ServedModel] = {}
_compared_lock = threading.Lock()


def version_served_get(*, version: ModelVersion) -> ServedModel:
    """Any registered version (active, candidate, retired or refused), loaded
    on demand so staff can see a drawing through it beside the served one;
    the last COMPARED_KEPT asked for stay loaded.  Raises ArtifactError for an
    artifact that cannot be read or verified."""
    key = (version.pk, version.sha256)
    served = _compared.get(key)
    if served is None:
        served = load_version(version)
        with _compared_lock:
            _compared[key] = served
            while len(_compared) > COMPARED_KEPT:
                _compared.pop(next(iter(_compared)))
    return served
