"""JSON about the served model (django-ninja router, mounted at /api/models/)."""

from ninja import Router, Schema

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
