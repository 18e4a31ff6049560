"""The review queue in a real Chromium: a reviewer logs in, puts
disagreements first, approves two with the keyboard, relabels one (and takes
a relabelling back with undo on the way)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from digits.models import Sample, SampleReview
from tests.users import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shown(page) -> int:
    return int(page.get_attribute("#sample", "data-sample-id"))


def wait_for_sample(page, sample):
    page.wait_for_selector(f'#sample[data-sample-id="{sample.id}"]', timeout=10_000)


def test_a_reviewer_works_through_disagreements_with_the_keyboard(page, live_server, reviewer, make_sample):
    now = timezone.now()
    agreeing = [make_sample(label=d, predicted=d, created_at=now - timedelta(hours=5 - d)) for d in (1, 2)]
    disagreeing = [make_sample(label=7, predicted=1, created_at=now - timedelta(hours=3 - i)) for i in range(3)]

    page.goto(f"{live_server.url}/review/")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    wait_for_sample(page, agreeing[0])  # oldest first
    assert page.text_content("#remaining-count") == "5"
    assert page.text_content("#remaining-disagreements") == "3"

    page.select_option("#order", "disagreements")
    wait_for_sample(page, disagreeing[0])
    assert page.is_visible("#disagrees")
    assert "order=disagreements" in page.url

    page.keyboard.press("a")
    wait_for_sample(page, disagreeing[1])
    page.keyboard.press("a")
    wait_for_sample(page, disagreeing[2])
    page.keyboard.press("9")  # a slip...
    wait_for_sample(page, agreeing[0])
    page.keyboard.press("u")  # ...taken back
    wait_for_sample(page, disagreeing[2])
    page.keyboard.press("3")
    wait_for_sample(page, agreeing[0])
    page.wait_for_selector('#review[data-saving="0"]', timeout=10_000)

    assert page.text_content("#remaining-count") == "2"
    assert page.text_content("#remaining-disagreements") == "0"
    states = {s.id: (s.status, s.label, s.reviewed_by_id) for s in Sample.objects.all()}
    assert states == {
        disagreeing[0].id: ("approved", 7, reviewer.id),
        disagreeing[1].id: ("approved", 7, reviewer.id),
        disagreeing[2].id: ("approved", 3, reviewer.id),
        agreeing[0].id: ("pending", 1, None),
        agreeing[1].id: ("pending", 2, None),
    }
    actions = list(SampleReview.objects.order_by("id").values_list("action", "to_label"))
    assert actions == [("approve", 7), ("approve", 7), ("relabel", 9), ("undo", 7), ("relabel", 3)]
    # The drawing on screen is the stored PNG, loaded through the staff-only view.
    assert page.evaluate("document.getElementById('drawing').naturalWidth") == 280


def test_the_next_drawing_shows_before_the_server_answers(page, live_server, reviewer, make_sample):
    samples = [make_sample(label=5, predicted=5) for _ in range(3)]
    held = []  # decisions the "slow network" has not delivered yet
    page.route("**/api/review/samples/*/decision", lambda route: held.append(route))

    page.goto(f"{live_server.url}/review/")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    wait_for_sample(page, samples[0])
    page.keyboard.press("a")
    page.keyboard.press("r")

    wait_for_sample(page, samples[2])  # on screen while both decisions are still on their way
    assert page.get_attribute("#review", "data-saving") == "2"
    assert page.text_content("#remaining-count") == "1"
    assert Sample.objects.filter(status=Sample.Status.PENDING).count() == 3

    assert len(held) == 1  # decisions go out one after the other, so undo always takes back the last
    held[0].continue_()
    page.wait_for_function("() => document.getElementById('review').dataset.saving === '1'")
    for _ in range(50):
        if len(held) == 2:
            break
        page.wait_for_timeout(100)
    held[1].continue_()
    page.wait_for_selector('#review[data-saving="0"]', timeout=10_000)
    assert dict(Sample.objects.values_list("id", "status")) == {
        samples[0].id: "approved",
        samples[1].id: "rejected",
        samples[2].id: "pending",
    }


def log_in(page, live_server, user, path="/review/"):
    page.goto(f"{live_server.url}{path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def test_least_sure_first_then_a_proper_empty_state(page, live_server, reviewer, make_sample, tmp_path):
    sure = make_sample(label=1, predicted=1, margin=0.95)
    torn = make_sample(label=7, predicted=1, margin=0.04)
    log_in(page, live_server, reviewer)
    wait_for_sample(page, sure)  # oldest first
    page.select_option("#order", "uncertain")
    wait_for_sample(page, torn)
    assert "order=uncertain" in page.url
    assert page.text_content("#margin") == "4 points ahead of its second choice"

    page.keyboard.press("a")
    wait_for_sample(page, sure)
    page.keyboard.press("a")
    page.wait_for_selector("#empty:not([hidden])")
    page.wait_for_selector('#review[data-saving="0"]', timeout=10_000)
    assert page.text_content("#empty h2") == "Nothing left to review"
    # No broken images, no decision buttons that look as if they would do something.
    assert not page.is_visible("#sample") and not page.is_visible("#drawing")
    assert page.is_disabled("button[data-key=a]") and page.is_disabled("button[data-key=r]")
    assert page.is_enabled("button[data-key=u]")
    page.screenshot(path=str(tmp_path / "review-empty.png"), full_page=True)

    page.keyboard.press("u")  # undo brings the last drawing back, and the buttons with it
    wait_for_sample(page, sure)
    assert page.is_enabled("button[data-key=a]")
    assert page.select_option("#order", "uncertain") == ["uncertain"]
    page.reload()
    assert page.eval_on_selector("#order", "el => el.value") == "uncertain"  # the order survives a reload
