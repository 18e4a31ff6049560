"""The /models/ dashboard: it needs the registry, the training runs and the
drawings, so it lives here, in the app that may know all three."""

from dataclasses import dataclass

from django.shortcuts import render

from digits.models import Sample
from digits.selectors import (
    DrawingsOfVersion,
    drawings_per_model_version,
    samples_right_for_one_version_only,
    version_scoreboard_get,
)
from models.models import ModelVersion
from models.selectors import activation_history, model_version_list
from webapp.staff import staff_page

from .charts import run_curve, versions_over_time
from .selectors import training_run_latest, training_run_list, training_runs_by_version

NO_DRAWINGS = DrawingsOfVersion(predicted=0, checked=0, right=0)


@staff_page()
def models_page(request):
    """Versions with metrics, lineage and how each did on real drawings, the
    run in progress, and who served what when."""
    drawings = drawings_per_model_version()
    versions = list(model_version_list())
    made_by = training_runs_by_version(version_ids=[v.pk for v in versions])
    latest_run, runs = training_run_latest(), list(training_run_list(limit=10))
    if latest_run and latest_run not in runs:
        runs.insert(0, latest_run)
    activations = list(activation_history())
    context = {
        "versions": [(v, drawings.get(v.pk, NO_DRAWINGS), made_by.get(v.pk)) for v in versions],
        "latest_run": latest_run,
        "run_curves": [run_curve(run) for run in runs],
        "versions_chart": versions_over_time(versions=versions, activations=activations),
        "activations": activations,
        **versions_compared(versions=versions, a=request.GET.get("a"), b=request.GET.get("b")),
    }
    return render(request, "training/models_page.html", context)


@dataclass(frozen=True)
class RefusedCandidate:
    version: ModelVersion
    failed: list[dict]  # the gate's failed checks
    drawings: list[Sample]  # held-out drawings its parent read right and it read wrong


def versions_compared(*, versions: list[ModelVersion], a: str | None, b: str | None) -> dict:
    """The scoreboard (per version, per digit, on the approved held-out
    drawings, from the readings the worker stored), the drawings one of two
    versions reads right and the other wrong, and what each refused
    candidate failed."""
    board = version_scoreboard_get(version_ids=[v.pk for v in versions])
    scoreboard = []
    for v in versions:
        cells = board[v.pk]
        right, total = sum(r for r, _ in cells), sum(t for _, t in cells)
        scoreboard.append((v, cells, (right, total)))
    by_number = {str(v.version): v for v in versions}
    first = by_number.get(a) or (versions[1] if len(versions) > 1 else None)
    second = by_number.get(b) or (versions[0] if versions else None)
    pair = {}
    if first and second and first != second:
        pair = {
            "first": first,
            "second": second,
            "first_only": samples_right_for_one_version_only(right_id=first.pk, wrong_id=second.pk),
            "second_only": samples_right_for_one_version_only(right_id=second.pk, wrong_id=first.pk),
        }
    refused = [
        RefusedCandidate(
            v,
            [c for c in (v.metrics or {}).get("gate", {}).get("checks", []) if not c.get("passed")],
            samples_right_for_one_version_only(right_id=v.parent_id, wrong_id=v.pk, limit=24),
        )
        for v in versions
        if v.status == ModelVersion.Status.REJECTED and v.parent_id
    ]
    return {"scoreboard": scoreboard, "pair": pair, "refused": refused}
