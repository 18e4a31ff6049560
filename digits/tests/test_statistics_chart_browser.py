"""The statistics page's drawings per day, by status, as stacked bars in
Chromium, wide and on a phone; and the page before any drawing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from digits.models import Sample
from tests.users import PASSWORD
from webapp.tests.charts import VIEWPORTS, chart_points, log_in, screenshot, viewport_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_chart_has_a_bar_segment_per_day_and_status(chromium, live_server, superuser, make_sample):
    today = timezone.now().replace(hour=12)
    # day offset: (approved, pending, rejected)
    days = {0: (2, 1, 0), 1: (3, 0, 1), 4: (0, 2, 0), 12: (1, 1, 1), 40: (5, 0, 0)}  # 40 days ago: not shown
    for offset, counts in days.items():
        for status, n in zip(["approved", "pending", "rejected"], counts, strict=True):
            for _ in range(n):
                make_sample(status=status, created_at=today - timedelta(days=offset))
    assert Sample.objects.count() == 17
    shown = [c for offset, c in days.items() if offset < 30]
    expected = {
        status: (sum(1 for c in shown if c[i]), sum(1 for c in shown if c[i]))
        for i, status in enumerate(["approved", "pending", "rejected"])
    }

    for viewport, name in VIEWPORTS:
        with viewport_page(chromium, viewport) as (page, errors):
            log_in(page, live_server, superuser, PASSWORD, "/review/statistics/")
            points = chart_points(page, "#per-day-chart")
            assert points == expected
            assert page.eval_on_selector("#per-day-chart", "box => box.chart.data[0].length") == 30
            # Stacked: rejected on top of pending on top of approved.
            tops = page.eval_on_selector(
                "#per-day-chart", "box => box.chart.data.slice(1, 3).map(s => s.filter(v => v != null))"
            )
            assert tops == [[3, 4], [2, 2, 3]]  # rejected: 12 days ago, yesterday; pending: 12 and 4 days ago, today
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            page.locator("#per-day-section").scroll_into_view_if_needed()
            screenshot(page, f"statistics-{name}")
            assert errors == []


def test_with_no_drawings_the_page_says_so_instead_of_a_chart(page, live_server, superuser):
    log_in(page, live_server, superuser, PASSWORD, "/review/statistics/")

    assert (
        page.inner_text("#per-day-section").split()
        == "Per day (last 30 days, UTC) No drawings in the last 30 days.".split()
    )
    assert page.locator(".chart").count() == 0
    screenshot(page, "statistics-empty-wide")
