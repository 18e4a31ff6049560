"""What the /models/ page's charts draw, as plain JSON-ready dicts (the page
renders them with ``json_script``; training/static/training/models_charts.js
draws them with uPlot)."""

from collections.abc import Iterable

from django.urls import reverse

from models.models import ModelActivation, ModelVersion

from .models import TrainingRun

# The per-epoch readings a run's curve shows (Keras's log names, as
# training.services.training_run_progress stores them); others are left out.
CURVE_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def run_curve(run: TrainingRun) -> dict:
    """One run's readings per epoch; the shape /api/training/runs/latest
    shares, so the page's poller can update the curve of the run in flight."""
    return {
        "id": run.id,
        "kind": run.get_kind_display(),
        "status": run.status,
        "epochs": run.epochs,
        "history": [
            {"epoch": row.get("epoch", i), **{k: row[k] for k in CURVE_KEYS if k in row}}
            for i, row in enumerate(run.history, start=1)
        ],
    }


def versions_over_time(*, versions: Iterable[ModelVersion], activations: Iterable[ModelActivation]) -> dict:
    """Every version's MNIST validation and held-out-drawing accuracy at the
    time it was registered, and the events to mark: each promotion and
    rollback when it happened (an activation that serves an older version
    than the one it replaced is a rollback), each refusal when the candidate
    was registered.  Markers sit on the version's validation accuracy (its
    held-out one when it has none)."""
    points = []
    for v in versions:
        validation = (v.metrics or {}).get("validation_accuracy")
        points.append(
            {
                "version": v.version,
                "at": v.created_at.timestamp(),
                "validation": validation,
                "heldout": v.heldout_accuracy,
                "url": reverse("admin:models_modelversion_change", args=[v.pk]),
            }
        )
    height = {p["version"]: p["validation"] if p["validation"] is not None else p["heldout"] for p in points}
    events = [
        {"kind": "refused", "version": v.version, "at": v.created_at.timestamp(), "y": height[v.version]}
        for v in versions
        if v.status == ModelVersion.Status.REJECTED
    ]
    for a in activations:
        back = a.previous is not None and a.version.version < a.previous.version
        event = {"kind": "rolled back" if back else "promoted", "version": a.version.version}
        events.append({**event, "at": a.activated_at.timestamp(), "y": height.get(a.version.version)})
    points.sort(key=lambda p: p["at"])
    events.sort(key=lambda e: e["at"])
    return {"versions": points, "events": events}
