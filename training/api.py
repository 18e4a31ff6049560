"""JSON for the live progress bar of retraining (mounted at /api/training/,
staff only), and the first model's progress, which the drawing page shows
everyone until a model is served."""

from datetime import datetime

from ninja import Field, Router, Schema

from models.serving import NoModelError, model_server
from webapp.staff import StaffAuth

from .selectors import baseline_run_latest, training_run_latest

router = Router(tags=["training"], auth=StaffAuth())


class RunOut(Schema):
    id: int
    kind: str
    trigger: str
    status: str
    requested_by: str
    epoch: int
    epochs: int
    progress: float
    history: list[dict]
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None = Field(description="When the worker last reported (claim, each epoch)")
    parent: int | None
    result: int | None
    message: str
    error: str


class NoRunOut(Schema):
    detail: str


@router.get("/runs/latest", response={200: RunOut, 404: NoRunOut}, summary="The run in flight, else the last one")
def latest_run(request):
    run = training_run_latest()
    if run is None:
        return 404, {"detail": "No training run yet."}
    return 200, {
        **{f: getattr(run, f) for f in ("id", "kind", "trigger", "status", "requested_by", "epoch", "epochs")},
        **{f: getattr(run, f) for f in ("progress", "history", "started_at", "finished_at", "heartbeat_at", "message")},
        "error": run.error.strip().splitlines()[-1] if run.error else "",
        "parent": run.parent.version if run.parent else None,
        "result": run.result.version if run.result else None,
    }


# --- the first model, for everyone on the drawing page ------------------------


class FirstRunOut(Schema):
    id: int
    status: str
    epoch: int
    epochs: int
    progress: float
    error: str = Field(description="Why it failed, in one line; empty otherwise")


class FirstModelOut(Schema):
    served: bool = Field(description="This web process serves a model: predictions work")
    version: int | None = Field(description="The version it serves")
    run: FirstRunOut | None = Field(description="The last baseline run (the first model's training), if any")


@router.get(
    "/first-model",
    auth=None,
    response=FirstModelOut,
    summary="Whether a model is served yet, and the first model's training progress until it is",
)
def first_model(request):
    """What the drawing page polls while no model is served (a few dozen bytes)."""
    try:
        version = model_server().get().version
    except NoModelError:
        version = None
    run = baseline_run_latest()
    return {
        "served": version is not None,
        "version": version,
        "run": None
        if run is None
        else {
            **{f: getattr(run, f) for f in ("id", "status", "epoch", "epochs", "progress")},
            "error": run.error.strip().splitlines()[-1] if run.error else "",
        },
    }
