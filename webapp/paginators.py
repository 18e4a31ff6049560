"""A paginator for tables that grow without bound (the admin's sample list).

Django's admin counts every list it shows.  On a million rows that count is
most of the page's time, so this one counts exactly only up to
``EXACT_UP_TO`` rows (a scan that stops there) and beyond that asks
PostgreSQL's planner for its estimate: a list that long is paged through
with filters, not to its last page, and "about 290,000" is what a person
needs to read there."""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    EXACT_UP_TO = 2_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        exact = queryset.order_by()[: self.EXACT_UP_TO + 1].count()
        if exact <= self.EXACT_UP_TO:
            return exact
        return max(exact, queryset_estimate(queryset) or exact)


def queryset_estimate(queryset) -> int | None:
    """The planner's estimate of how many rows ``queryset`` holds
    (PostgreSQL; None elsewhere)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])
