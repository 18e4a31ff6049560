"""JSON about the served model (django-ninja router, mounted at /api/models/)."""

from datetime import datetime

from ninja import Router, Schema

from .selectors import model_version_by_id_get
from .serving import NoModelError, model_server

router = Router(tags=["models"])


class ServedOut(Schema):
    version: int
    sha256: str
    pid: int


class NoModelOut(Schema):
    detail: str


@router.get("/served", response={200: ServedOut, 503: NoModelOut}, summary="The version this process serves")
def served(request):
    """Which model version answers predictions in the process that takes this
    request (each web process swaps on its own)."""
    import os

    try:
        current = model_server().get()
    except NoModelError as exc:
        return 503, {"detail": str(exc)}
    return 200, {"version": current.version, "sha256": current.sha256, "pid": os.getpid()}


class LayerSummaryOut(Schema):
    name: str
    type: str
    output_shape: list[int | None]
    params: int


class CurrentOut(Schema):
    version: int
    sha256: str
    activated_at: datetime | None
    architecture: list[LayerSummaryOut]
    metrics: dict


@router.get(
    "/current", response={200: CurrentOut, 503: NoModelOut}, summary="The served version, its layers and metrics"
)
def current(request):
    """What the drawing page shows about the model: the version this process
    serves, its layers in order (output shapes, parameter counts) and how it
    scored when it was trained."""
    try:
        served = model_server().get()
    except NoModelError as exc:
        return 503, {"detail": str(exc)}
    version = model_version_by_id_get(version_id=served.version_id)
    return 200, {
        "version": served.version,
        "sha256": served.sha256,
        "activated_at": version.activated_at if version else None,
        "architecture": served.architecture,
        "metrics": version.metrics if version else {},
    }
