"""JSON for the review queue page (django-ninja router, mounted at
/api/review/): the next drawings to decide on, a decision, and undo.

Only staff with the ``digits.review_sample`` permission get in; the session
cookie authenticates, so every write must carry the CSRF token."""

from datetime import datetime
from typing import Literal

from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Query, Router, Schema

from digits.models import Sample
from digits.review.selectors import review_queue, review_queue_counts, review_sample_get
from digits.selectors import sample_histories_get
from digits.services import NothingToUndo, ReviewError, SampleAlreadyReviewed, review_undo, sample_decide
from digits.thumbnails import pixels_data_url
from webapp.staff import StaffAuth

router = Router(tags=["review"], auth=StaffAuth("digits.review_sample"))


class ReadingOut(Schema):
    version: int
    predicted: int
    confidence: float


class SampleOut(Schema):
    id: int
    drawing_url: str
    input_url: str
    label: int
    label_source: str
    predicted: int | None
    confidence: float | None
    probabilities: list[float]
    model_version: int | None
    created_at: datetime
    status: str
    disagrees: bool
    margin: float | None = Field(description="Top probability minus the second: small when the model hesitated")
    history: list[ReadingOut] = Field(description="How each version registered since read it, oldest first")
    client_id: str
    triage: str = Field(description="auto_approved, needs_person, quarantined, or empty: not triaged yet")
    triage_reason: str


class CountsOut(Schema):
    pending: int
    disagreements: int


class QueueOut(Schema):
    counts: CountsOut
    samples: list[SampleOut]
    next: int | None = Field(description="Pass as `after` for the page that follows; null at the end")


class QueueIn(Schema):
    disagreements_first: bool = False
    uncertain_first: bool = Field(
        False, description="Least sure first: the smallest margin between the two highest probabilities"
    )
    exclude: list[int] = Field(default_factory=list, max_length=200)
    after: int | None = Field(None, description="The last id of the previous page (keyset paging)")
    limit: int = Field(5, ge=1, le=20)


class DecisionIn(Schema):
    action: Literal["approve", "reject", "relabel"]
    label: int | None = Field(None, ge=0, le=9, strict=True)


class DecisionOut(Schema):
    sample: SampleOut
    counts: CountsOut


class ErrorOut(Schema):
    detail: str


def _sample_out(sample: Sample, history: list | None = None) -> dict:
    """``sample`` as a selector of the review queue reads it (with ``disagrees``)."""
    if history is None:
        history = sample_histories_get(sample_ids=[sample.id]).get(sample.id, [])
    return {
        "history": [vars(reading) for reading in history],
        **{
            f: getattr(sample, f)
            for f in ("id", "label", "label_source", "predicted", "confidence", "status", "client_id", "triage")
        },
        "triage_reason": sample.triage_reason,
        "drawing_url": reverse("review:sample_drawing", args=[sample.id]),
        "input_url": pixels_data_url(sample.pixels),
        "probabilities": sample.probabilities or [],
        "model_version": sample.model_version.version if sample.model_version else None,
        "created_at": sample.created_at,
        "disagrees": sample.disagrees,
        "margin": sample.margin,
    }


def _counts() -> dict:
    counts = review_queue_counts()
    return {"pending": counts.pending, "disagreements": counts.disagreements}


@router.get("/queue", response=QueueOut, url_name="review_queue", summary="The next pending drawings to review")
def queue(request, params: Query[QueueIn]):
    """The next ``limit`` pending drawings, oldest first (disagreements before
    the rest, or the least sure first, when asked), after ``after`` and leaving out ``exclude`` (those
    the page already holds)."""
    samples = review_queue(
        disagreements_first=params.disagreements_first,
        uncertain_first=params.uncertain_first,
        exclude=params.exclude,
        after=params.after,
        limit=params.limit,
    )
    last = samples[-1].id if len(samples) == params.limit else None
    histories = sample_histories_get(sample_ids=[s.id for s in samples])
    out = [_sample_out(s, histories.get(s.id, [])) for s in samples]
    return {"counts": _counts(), "samples": out, "next": last}


@router.post(
    "/samples/{sample_id}/decision",
    response={200: DecisionOut, 400: ErrorOut, 409: ErrorOut},
    url_name="review_decide",
    summary="Approve, reject, or relabel (and approve) a pending drawing",
)
def decide(request, sample_id: int, decision: DecisionIn):
    sample = get_object_or_404(Sample, id=sample_id)
    try:
        sample_decide(
            sample=sample, action=decision.action, label=decision.label, reviewer=request.auth, only_if_pending=True
        )
    except SampleAlreadyReviewed as exc:
        return 409, {"detail": str(exc)}
    except ReviewError as exc:
        return 400, {"detail": str(exc)}
    return 200, {"sample": _sample_out(review_sample_get(sample_id=sample_id)), "counts": _counts()}


@router.post(
    "/undo",
    response={200: DecisionOut, 404: ErrorOut, 409: ErrorOut},
    url_name="review_undo",
    summary="Undo my last decision",
)
def undo(request):
    try:
        sample = review_undo(reviewer=request.auth)
    except NothingToUndo as exc:
        return 404, {"detail": str(exc)}
    except SampleAlreadyReviewed as exc:
        return 409, {"detail": str(exc)}
    return 200, {"sample": _sample_out(review_sample_get(sample_id=sample.id)), "counts": _counts()}
