"""The /models/ dashboard: it needs the registry, the training runs and the
drawings, so it lives here, in the app that may know all three."""

from collections import Counter
from dataclasses import dataclass

from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from digits.models import Sample
from digits.selectors import (
    DrawingsOfVersion,
    drawings_per_model_version,
    samples_by_ids,
    samples_right_for_one_version_only,
    version_scoreboard_get,
)
from digits.thumbnails import pixels_data_url
from models.models import ModelVersion
from models.selectors import activation_history, model_version_get, model_version_list
from webapp.staff import staff_page

from .charts import run_curve, versions_over_time
from .models import TradeDecision
from .selectors import (
    trade_decisions_list,
    training_run_latest,
    training_run_list,
    training_runs_by_version,
    validation_images_get,
)
from .services import TradeError, version_trade_decide

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
    decisions = list(trade_decisions_list())
    context = {
        "versions": [(v, drawings.get(v.pk, NO_DRAWINGS), made_by.get(v.pk)) for v in versions],
        "latest_run": latest_run,
        "run_curves": [run_curve(run) for run in runs],
        "versions_chart": versions_over_time(versions=versions, activations=activations),
        "timeline": audit_timeline(activations=activations, decisions=decisions),
        "trades": trades_get(versions=versions, decisions={d.version_id: d for d in decisions}),
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


def audit_timeline(*, activations: list, decisions: list[TradeDecision]) -> list[tuple]:
    """Who served what when, and staff's answers to trades, newest first, as
    (when, activation or None, decision or None)."""
    entries = [(a.activated_at, a, None) for a in activations] + [(d.decided_at, None, d) for d in decisions]
    return sorted(entries, key=lambda entry: entry[0], reverse=True)


@dataclass(frozen=True)
class TradeGroup:
    true: int
    predicted: int
    images: list[tuple[int, str]]  # (validation index, inline PNG) it newly misreads
    drawings: list[Sample]  # gained held-out drawings nearest them, the most often nearest first


@dataclass(frozen=True)
class Trade:
    version: ModelVersion
    digits: list[tuple[int, list[TradeGroup]]]  # by true digit, the ones the gate refused it for first
    refused_for: list[int]
    gained: int
    lost: int
    decision: TradeDecision | None
    decidable: bool  # undecided, and the parent it was judged against is still served


def per_digit_failures(version: ModelVersion) -> list[dict]:
    checks = (version.metrics or {}).get("gate", {}).get("checks", [])
    return [c for c in checks if "digit" in c and not c.get("passed")]


def trades_get(*, versions: list[ModelVersion], decisions: dict[int, TradeDecision]) -> list[Trade]:
    """Each candidate refused for a digit that had a trade (the worker stored
    it: training.trade), with the lost images grouped true -> predicted."""
    active = next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None)
    trades = []
    for v in versions:
        trade, refused_for = (v.metrics or {}).get("trade"), [c["digit"] for c in per_digit_failures(v)]
        if not trade or not refused_for:
            continue
        misread = trade["misread"]
        images = validation_images_get(indices=[m["index"] for m in misread])
        drawings = samples_by_ids(sample_ids={n for m in misread for n in m["neighbours"]})
        pairs = Counter((m["true"], m["predicted"]) for m in misread)
        groups = []
        for (true, predicted), _ in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
            mine = [m for m in misread if (m["true"], m["predicted"]) == (true, predicted)]
            nearest = Counter(n for m in mine for n in m["neighbours"])  # ties: nearest to the first lost image
            groups.append(
                TradeGroup(
                    true,
                    predicted,
                    [(m["index"], pixels_data_url(images[m["index"]])) for m in mine if m["index"] in images],
                    [drawings[n] for n, _ in nearest.most_common(8) if n in drawings],
                )
            )
        by_digit = {}
        for group in groups:
            by_digit.setdefault(group.true, []).append(group)
        ordered = sorted(by_digit.items(), key=lambda kv: (kv[0] not in refused_for, kv[0]))
        decision = decisions.get(v.pk)
        waiting = decision is None and v.status == ModelVersion.Status.REJECTED
        decidable = waiting and active is not None and v.parent_id == active.pk
        trades.append(Trade(v, ordered, refused_for, len(trade["gained"]), len(misread), decision, decidable))
    return trades


@staff_page()
def misread_page(request, number: int, digit: int):
    """The validation images of one digit a candidate newly misreads (the
    gate's per-digit check), rendered from MNIST by index."""
    version = model_version_get(number=number)
    check = next((c for c in per_digit_failures(version) if c["digit"] == digit), None) if version else None
    if check is None:
        raise Http404(f"No refusal of v{number} for its {digit}s.")
    images = validation_images_get(indices=check["lost"])
    context = {
        "version": version,
        "check": check,
        "images": [(i, pixels_data_url(images[i])) for i in check["lost"] if i in images],
        "missing": len(check["lost"]) - len(images),
    }
    return render(request, "training/misread_page.html", context)


@staff_page()
@require_POST
def trade_decide(request, number: int):
    """Accept (promote) or refuse a trade, with the reason; bad input is a
    400 with a message and nothing stored."""
    version = model_version_get(number=number)
    if version is None:
        return JsonResponse({"message": f"No version {number}."}, status=404)
    try:
        version_trade_decide(
            version=version,
            decision=request.POST.get("decision", ""),
            by=request.user.get_username(),
            reason=request.POST.get("reason", ""),
        )
    except TradeError as exc:
        return JsonResponse({"message": str(exc)}, status=400)
    return redirect(f"{reverse('models-page')}#timeline")
