"""The drawing page when the server refuses or cannot be reached: it retries
its latest drawing after Retry-After, and never leaves an answer for an
earlier drawing on screen unmarked."""

import time

import pytest
from django.core.cache import cache

from digits.tests.test_page_browser import SEVEN, draw

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PENDING = "document.querySelector('.result-card').classList.contains('pending')"
# The drawing as the page sends it: a grey PNG (digits/static/digits/draw/png.js).
PAD_IMAGE = "import('/static/digits/draw/png.js').then((png) => png.greyPngDataUrl(document.querySelector('#pad')))"


def _slow_stroke(page, points: list[tuple[float, float]], pause_ms: int = 40) -> None:
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=2)
        page.wait_for_timeout(pause_ms)
    page.mouse.up()


def test_past_the_rate_limit_the_page_waits_retry_after_and_shows_the_current_drawing(
    transactional_db, active_version, live_server, page, settings
):
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_PREDICT = "2/s"
    cache.clear()
    answers: list[tuple[float, int]] = []
    page.on(
        "response",
        lambda r: answers.append((time.monotonic(), r.status)) if r.url.endswith("/api/digits/predict") else None,
    )
    page.goto(live_server.url + "/")
    page.wait_for_selector("#architecture svg")
    # About two seconds of drawing sends far more than 2 predictions a second.
    _slow_stroke(page, [(0.2 + 0.6 * i / 50, 0.2 + 0.6 * i / 50) for i in range(51)])
    page.wait_for_function(f"!({PENDING}) && /^[0-9]$/.test(document.querySelector('#digit').textContent)")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Keep drawing')", timeout=10_000)
    statuses = [s for _, s in answers]
    assert 429 in statuses, statuses
    assert statuses[-1] == 200  # the last word is an answer, not a refusal
    # After a refusal the page waited for Retry-After (1 s) before asking again.
    first_refusal = next(i for i, (_, s) in enumerate(answers) if s == 429)
    if first_refusal + 1 < len(answers):
        assert answers[first_refusal + 1][0] - answers[first_refusal][0] > 0.8
    assert page.locator("#confirm").is_enabled()
    cache.clear()


def test_a_lost_connection_is_retried_and_the_stale_answer_is_marked_pending(
    transactional_db, active_version, live_server, page
):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#architecture svg")
    draw(page, SEVEN)
    page.wait_for_function(f"!({PENDING}) && document.querySelector('#digit').textContent === '7'")

    sent: list[str] = []
    lost = {"left": 2}

    def network(route):
        sent.append(route.request.post_data_json["image"])
        if lost["left"]:
            lost["left"] -= 1
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/digits/predict", network)
    draw(page, [[(0.15, 0.55), (0.85, 0.55)]])  # a crossbar: the drawing changed
    # The 7 on screen belongs to the earlier drawing: marked, and it cannot be confirmed.
    assert page.evaluate(PENDING)
    assert not page.locator("#confirm").is_enabled()
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Cannot reach the server')")
    page.wait_for_function(f"!({PENDING})", timeout=15_000)
    assert len(sent) >= 3  # two lost, then retried without the user drawing again
    assert sent[-1] == page.evaluate(PAD_IMAGE)  # the answer shown is for the drawing as it is now
    assert page.locator("#confirm").is_enabled()
