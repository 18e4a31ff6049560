"""Reads of collected drawings: the review queue, the statistics staff see,
and the arrays that training and the export learn from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.conf import settings
from django.db.models import BooleanField as BooleanOutput
from django.db.models import Count, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import Sample
from .preprocessing import pixels_decode

# The one definition of "the prediction disagrees with the label": the
# served model predicted another digit than the label the drawing carries.
# Samples saved without a prediction neither disagree nor agree.
HAS_PREDICTION = Q(predicted__isnull=False)
DISAGREES = HAS_PREDICTION & ~Q(predicted=F("label"))
AGREES = HAS_PREDICTION & ~DISAGREES
# The queue shows oldest first, so drawings are reviewed in the order they came.
QUEUE_ORDER = ("created_at", "id")


def with_disagrees(samples: QuerySet[Sample]) -> QuerySet[Sample]:
    """``samples`` with a boolean ``disagrees`` on each row."""
    return samples.annotate(disagrees=ExpressionWrapper(DISAGREES, output_field=BooleanOutput()))


# --- the review queue -------------------------------------------------------


def review_queue(*, disagreements_first: bool = False, exclude: Iterable[int] = ()) -> QuerySet[Sample]:
    """Pending drawings in the order a reviewer sees them, leaving out those in
    ``exclude`` (already on the reviewer's screen, or being decided)."""
    samples = with_disagrees(Sample.objects.filter(status=Sample.Status.PENDING).select_related("model_version"))
    exclude = list(exclude)
    if exclude:
        samples = samples.exclude(id__in=exclude)
    if disagreements_first:
        return samples.order_by(F("disagrees").desc(), *QUEUE_ORDER)
    return samples.order_by(*QUEUE_ORDER)


def review_sample_get(*, sample_id: int) -> Sample | None:
    """One drawing as the review queue shows it (with ``disagrees``)."""
    return with_disagrees(Sample.objects.select_related("model_version")).filter(id=sample_id).first()


@dataclass(frozen=True)
class QueueCounts:
    pending: int
    disagreements: int


def review_queue_counts() -> QueueCounts:
    pending = Sample.objects.filter(status=Sample.Status.PENDING)
    counts = pending.aggregate(pending=Count("id"), disagreements=Count("id", filter=DISAGREES))
    return QueueCounts(**counts)


# --- statistics -------------------------------------------------------------


def sample_counts_by_label_and_status() -> list[dict]:
    """One row per digit: how many drawings carry that label in each status."""
    statuses = [s.value for s in Sample.Status]
    rows = {label: {"label": label, **dict.fromkeys(statuses, 0), "total": 0} for label in range(10)}
    for row in Sample.objects.order_by().values("label", "status").annotate(n=Count("id")):
        rows[row["label"]][row["status"]] = row["n"]
        rows[row["label"]]["total"] += row["n"]
    return list(rows.values())


def sample_counts_per_day(*, days: int = 30, today: date | None = None) -> list[dict]:
    """Drawings collected per day (UTC) over the last ``days`` days, by status,
    with days that had none included."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    statuses = [s.value for s in Sample.Status]
    rows = {first + timedelta(days=i): dict.fromkeys(statuses, 0) for i in range(days)}
    per_day = (
        Sample.objects.filter(created_at__date__gte=first, created_at__date__lte=today)
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day", "status")
        .annotate(n=Count("id"))
    )
    for row in per_day:
        rows[row["day"]][row["status"]] = row["n"]
    return [{"day": day, **counts, "total": sum(counts.values())} for day, counts in rows.items()]


@dataclass(frozen=True)
class Disagreement:
    with_prediction: int  # drawings with a prediction, rejected ones left out
    disagreeing: int

    @property
    def rate(self) -> float | None:
        return self.disagreeing / self.with_prediction if self.with_prediction else None


def disagreement_get() -> Disagreement:
    samples = Sample.objects.exclude(status=Sample.Status.REJECTED).filter(predicted__isnull=False)
    counts = samples.aggregate(with_prediction=Count("id"), disagreeing=Count("id", filter=DISAGREES))
    return Disagreement(**counts)


def confusion_matrix_get() -> list[list[int]]:
    """``matrix[label][predicted]`` over collected drawings that have a
    prediction, leaving out rejected ones (their label is not trusted).  The
    label is the user's, as corrected by review."""
    matrix = [[0] * 10 for _ in range(10)]
    samples = Sample.objects.exclude(status=Sample.Status.REJECTED).filter(predicted__isnull=False, predicted__lte=9)
    for row in samples.order_by().values("label", "predicted").annotate(n=Count("id")):
        matrix[row["label"]][row["predicted"]] = row["n"]
    return matrix


# --- data for training and the export ---------------------------------------


def samples_arrays(samples: QuerySet[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x`` uint8 (N, 28, 28), ``y`` uint8 (N,) and the sample ids, in id order."""
    rows = list(samples.order_by("id").values_list("id", "pixels", "label"))
    x = np.zeros((len(rows), 28, 28), dtype=np.uint8)
    for i, (_, pixels, _) in enumerate(rows):
        x[i] = pixels_decode(pixels)
    y = np.array([label for _, _, label in rows], dtype=np.uint8)
    ids = np.array([sample_id for sample_id, _, _ in rows], dtype=np.int64)
    return x, y, ids


def approved_samples() -> QuerySet[Sample]:
    return Sample.objects.filter(status=Sample.Status.APPROVED)


def approved_samples_get() -> tuple[np.ndarray, np.ndarray]:
    """Approved drawings only, as ``x`` uint8 (N, 28, 28) and ``y`` uint8 (N,)."""
    x, y, _ = samples_arrays(approved_samples())
    return x, y


def trainable_samples() -> QuerySet[Sample]:
    """What training may learn from: approved drawings, and pending ones too
    when ``settings.TRAIN_INCLUDE_PENDING`` is set; never rejected ones."""
    statuses = [Sample.Status.APPROVED]
    if settings.TRAIN_INCLUDE_PENDING:
        statuses.append(Sample.Status.PENDING)
    return Sample.objects.filter(status__in=statuses)


def training_samples_get() -> tuple[np.ndarray, np.ndarray]:
    """``trainable_samples()`` as ``x`` uint8 (N, 28, 28) and ``y`` uint8 (N,)."""
    x, y, _ = samples_arrays(trainable_samples())
    return x, y
