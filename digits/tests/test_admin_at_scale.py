"""The sample list does no work that grows with the table: no exact count of
a long list, no scan for the date hierarchy."""

import re
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from webapp.paginators import EstimatedCountPaginator

CHANGELIST = reverse("admin:digits_sample_changelist")


def sample_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if re.search(r'FROM "digits_sample"( |$)', q["sql"])]


def test_a_long_list_is_counted_only_up_to_a_bound(client, superuser, make_sample, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_UP_TO", 3)
    for label in range(6):
        make_sample(label=label)
    client.force_login(superuser)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)

    counts = [sql for sql in sample_queries(queries) if "COUNT(" in sql.upper()]
    assert response.status_code == 200
    assert counts and all("LIMIT 4" in sql for sql in counts), counts
    assert response.context["cl"].result_count >= 4
    assert len(response.context["cl"].result_list) == 6


def test_a_short_list_is_counted_exactly(client, superuser, make_sample):
    for label in (1, 2):
        make_sample(label=label, status="rejected")
    make_sample(label=3)
    client.force_login(superuser)

    response = client.get(CHANGELIST, {"status__exact": "rejected"})

    assert response.context["cl"].result_count == 2
    assert "2 samples" in response.content.decode() or "2 results" in response.content.decode()


def test_the_date_hierarchy_comes_from_the_daily_tallies(client, superuser, make_sample):
    now = timezone.now()
    earlier = now - timedelta(days=40)
    make_sample(label=1, created_at=earlier)
    make_sample(label=2)
    client.force_login(superuser)

    with CaptureQueriesContext(connection) as queries:
        top = client.get(CHANGELIST).content.decode()
    month = client.get(CHANGELIST, {"created_at__year": earlier.year, "created_at__month": earlier.month})

    assert f"created_at__year={now.year}" in top
    assert not [sql for sql in sample_queries(queries) if "DATE_TRUNC" in sql.upper() or "MIN(" in sql.upper()]
    assert f"created_at__day={earlier.day}" in month.content.decode()
    assert [s.label for s in month.context["cl"].result_list] == [1]
