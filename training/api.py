"""JSON for the live progress bar of retraining (mounted at /api/training/, staff only)."""

from datetime import datetime

from ninja import Field, Router, Schema

from webapp.staff import StaffAuth

from .selectors import training_run_latest

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
