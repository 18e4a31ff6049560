"""Reads for review: the queue a reviewer works through and the statistics
staff see, all but the queue itself from the tallies (digits/tallies.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from digits.models import Sample, SampleDayTally, SampleTally

# --- the review queue -------------------------------------------------------


def review_queue(
    *,
    disagreements_first: bool = False,
    uncertain_first: bool = False,
    exclude: Iterable[int] = (),
    after: int | None = None,
    limit: int = 5,
) -> list[Sample]:
    """The next ``limit`` pending drawings in the order a reviewer sees them
    (oldest first, by id: the order they arrived in; or the disagreements
    first; or the ones the model was least sure of first, by the margin
    between its two highest probabilities), after the drawing ``after``
    (keyset paging: the last id of the previous page) and leaving out those
    in ``exclude`` (already on the reviewer's screen, or being decided).

    Each order reads one partial index on pending drawings
    (``Sample.Meta.indexes``), so a page costs the same whatever the table
    holds.  Disagreements first is two index ranges one after the other, the
    disagreeing drawings, then the rest."""
    pending = Sample.objects.filter(status=Sample.Status.PENDING).select_related("model_version")
    exclude = list(exclude)
    if exclude:
        pending = pending.exclude(id__in=exclude)
    if uncertain_first:
        return _least_sure_first(pending, after=after, limit=limit)
    if not disagreements_first:
        if after is not None:
            pending = pending.filter(id__gt=after)
        return list(pending.order_by("id")[:limit])
    segments = [True, False]
    if after is not None:
        last = Sample.objects.filter(id=after).values_list("disagrees", flat=True).first()
        segments = [False] if last is False else segments
    page: list[Sample] = []
    for disagrees in segments:
        segment = pending.filter(disagrees=disagrees)
        if after is not None and disagrees == bool(last):
            segment = segment.filter(id__gt=after)
        page += segment.order_by("id")[: limit - len(page)]
        if len(page) == limit:
            break
    return page


def _least_sure_first(pending: QuerySet[Sample], *, after: int | None, limit: int) -> list[Sample]:
    """Smallest margin first (ties and drawings without a prediction by id,
    the latter last), after the drawing ``after``."""
    if after is not None:
        last = Sample.objects.filter(id=after).values_list("margin", flat=True).first()
        if last is None:
            pending = pending.filter(margin__isnull=True, id__gt=after)
        else:
            pending = pending.filter(Q(margin__gt=last) | Q(margin=last, id__gt=after) | Q(margin__isnull=True))
    return list(pending.order_by(F("margin").asc(nulls_last=True), "id")[:limit])


def review_sample_get(*, sample_id: int) -> Sample | None:
    """One drawing as the review queue shows it."""
    return Sample.objects.select_related("model_version").filter(id=sample_id).first()


@dataclass(frozen=True)
class QueueCounts:
    pending: int
    disagreements: int


def _disagreeing_tallies() -> Q:
    return Q(predicted__gte=0) & ~Q(predicted=F("label"))


def review_queue_counts() -> QueueCounts:
    """From the tallies (digits/tallies.py): a sum over a few rows."""
    counts = SampleTally.objects.filter(status=Sample.Status.PENDING).aggregate(
        pending=Sum("n", default=0), disagreements=Sum("n", filter=_disagreeing_tallies(), default=0)
    )
    return QueueCounts(**counts)


# --- statistics (all from the tallies) -------------------------------------------


def sample_counts_by_label_and_status() -> list[dict]:
    """One row per digit: how many drawings carry that label in each status."""
    statuses = [s.value for s in Sample.Status]
    rows = {label: {"label": label, **dict.fromkeys(statuses, 0), "total": 0} for label in range(10)}
    for row in SampleTally.objects.order_by().values("label", "status").annotate(total=Sum("n")):
        rows[row["label"]][row["status"]] = row["total"]
        rows[row["label"]]["total"] += row["total"]
    return list(rows.values())


def sample_counts_per_day(*, days: int = 30, today: date | None = None) -> list[dict]:
    """Drawings collected per day (UTC) over the last ``days`` days, by status,
    with days that had none included."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    statuses = [s.value for s in Sample.Status]
    rows = {first + timedelta(days=i): dict.fromkeys(statuses, 0) for i in range(days)}
    for row in SampleDayTally.objects.filter(day__gte=first, day__lte=today).values("day", "status", "n"):
        rows[row["day"]][row["status"]] = row["n"]
    return [{"day": day, **counts, "total": sum(counts.values())} for day, counts in rows.items()]


def sample_days(*, year: int | None = None, month: int | None = None) -> list[date]:
    """The days (UTC) on which drawings were collected, optionally within a
    year or a month: what the admin's date hierarchy offers."""
    days = SampleDayTally.objects.filter(n__gt=0)
    if year is not None:
        days = days.filter(day__year=year)
    if month is not None:
        days = days.filter(day__month=month)
    return sorted(set(days.values_list("day", flat=True)))


@dataclass(frozen=True)
class Disagreement:
    with_prediction: int  # drawings with a prediction, rejected ones left out
    disagreeing: int

    @property
    def rate(self) -> float | None:
        return self.disagreeing / self.with_prediction if self.with_prediction else None


def _trusted_tallies() -> QuerySet[SampleTally]:
    """Drawings with a prediction, rejected ones left out (their label is not trusted)."""
    return SampleTally.objects.exclude(status=Sample.Status.REJECTED).filter(predicted__gte=0, predicted__lte=9)


def disagreement_get() -> Disagreement:
    counts = _trusted_tallies().aggregate(
        with_prediction=Sum("n", default=0), disagreeing=Sum("n", filter=_disagreeing_tallies(), default=0)
    )
    return Disagreement(**counts)


def confusion_matrix_get() -> list[list[int]]:
    """``matrix[label][predicted]`` over collected drawings that have a
    prediction, leaving out rejected ones.  The label is the user's, as
    corrected by review."""
    matrix = [[0] * 10 for _ in range(10)]
    for row in _trusted_tallies().order_by().values("label", "predicted").annotate(total=Sum("n")):
        matrix[row["label"]][row["predicted"]] = row["total"]
    return matrix
