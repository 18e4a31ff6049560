"""Counts of drawings kept in step with the drawings themselves.

The review queue's counter, the statistics page and the admin's date
hierarchy read two small tables instead of counting a table that grows
without bound.  Every write that adds, decides on or deletes drawings calls
``tallies_apply`` inside its own transaction, so a count is exactly as
committed as the change it counts.  ``tallies_rebuild`` recounts everything
(after a bulk import, or to check): ``python manage.py tallies_rebuild``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date

from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from .models import Sample, SampleDayTally, SampleTally

Key = tuple[str, int, int]  # status, label, predicted (SampleTally.NO_PREDICTION for none)
DayKey = tuple[date, str]


class Deltas:
    """Changes to the tallies, applied together."""

    def __init__(self) -> None:
        self.keys: Counter[Key] = Counter()
        self.days: Counter[DayKey] = Counter()

    def add(self, *, status: str, label: int, predicted: int | None, day: date, n: int = 1) -> None:
        predicted = SampleTally.NO_PREDICTION if predicted is None else predicted
        self.keys[(status, label, predicted)] += n
        self.days[(day, status)] += n

    def negated(self) -> Deltas:
        out = Deltas()
        out.keys = Counter({k: -n for k, n in self.keys.items()})
        out.days = Counter({k: -n for k, n in self.days.items()})
        return out

    def sample(self, sample: Sample, n: int = 1) -> Deltas:
        """Count ``sample`` as it is now (``n=-1`` takes it out)."""
        self.add(status=sample.status, label=sample.label, predicted=sample.predicted, day=_day(sample), n=n)
        return self


def _day(sample: Sample) -> date:
    return sample.created_at.date()  # created_at is UTC (USE_TZ, TIME_ZONE=UTC)


def _upsert(table: str, key_columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    # Sorted, so two transactions touching the same rows lock them in the
    # same order and cannot deadlock each other.
    rows = sorted(row for row in rows if row[-1])
    if not rows:
        return
    q = connection.ops.quote_name
    columns = ", ".join(q(c) for c in (*key_columns, "n"))
    values = ", ".join(["(" + ", ".join(["%s"] * (len(key_columns) + 1)) + ")"] * len(rows))
    sql = (
        f"INSERT INTO {q(table)} ({columns}) VALUES {values} "
        f"ON CONFLICT ({', '.join(q(c) for c in key_columns)}) DO UPDATE SET n = {q(table)}.n + excluded.n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def tallies_apply(deltas: Deltas) -> None:
    """Add ``deltas`` to the tallies; call inside the transaction that made the change."""
    _upsert(SampleTally._meta.db_table, ("status", "label", "predicted"), ((*k, n) for k, n in deltas.keys.items()))
    _upsert(SampleDayTally._meta.db_table, ("day", "status"), ((*k, n) for k, n in deltas.days.items()))


def tallies_of(samples: QuerySet[Sample]) -> Deltas:
    """What ``samples`` add to the tallies (grouped in the database), e.g.
    to take them out before deleting them."""
    deltas = Deltas()
    rows = (
        samples.order_by()
        .annotate(day=TruncDate("created_at"))
        .values("status", "label", "predicted", "day")
        .annotate(n=Count("id"))
    )
    for row in rows:
        deltas.add(status=row["status"], label=row["label"], predicted=row["predicted"], day=row["day"], n=row["n"])
    return deltas


def tallies_rebuild() -> None:
    """Recount both tables from the samples (one pass over the table)."""
    with transaction.atomic():
        # Lock out writers meanwhile, so no change slips between the count and the swap.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {Sample._meta.db_table} IN SHARE MODE")
        deltas = tallies_of(Sample.objects.all())
        SampleTally.objects.all().delete()
        SampleDayTally.objects.all().delete()
        tallies_apply(deltas)
