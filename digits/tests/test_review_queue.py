from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from digits.models import Sample, SampleReview

QUEUE = reverse("api:review_queue")
UNDO = reverse("api:review_undo")


def decision_url(sample):
    return reverse("api:review_decide", args=[sample.id])


def decide(client, sample, action, label=None):
    return client.post(decision_url(sample), {"action": action, "label": label}, content_type="application/json")


@pytest.fixture
def rita(client, reviewer):
    client.force_login(reviewer)
    return client


@pytest.fixture
def three(make_sample):
    """An agreeing drawing, then a disagreeing one, then another agreeing one."""
    now = timezone.now()
    return [
        make_sample(label=1, predicted=1, created_at=now - timedelta(minutes=3)),
        make_sample(label=7, predicted=1, created_at=now - timedelta(minutes=2)),
        make_sample(label=4, predicted=4, created_at=now - timedelta(minutes=1)),
    ]


def test_the_page_shows_the_counter_and_the_shortcuts(rita, three):
    response = rita.get(reverse("review:queue"))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<strong id="remaining-count">3</strong>' in html
    assert '<span id="remaining-disagreements">1</span>' in html
    assert 'data-key="a"' in html and 'data-key="u"' in html and 'data-key="9"' in html
    assert "digits/review/review.js" in html


def test_the_queue_gives_the_oldest_first_and_leaves_out_what_the_page_holds(rita, three):
    data = rita.get(QUEUE, {"limit": 2}).json()

    assert [s["id"] for s in data["samples"]] == [three[0].id, three[1].id]
    assert data["counts"] == {"pending": 3, "disagreements": 1}
    first = data["samples"][0]
    assert first["drawing_url"] == reverse("review:sample_drawing", args=[three[0].id])
    assert first["input_url"].startswith("data:image/png;base64,")
    assert (first["label"], first["predicted"], first["disagrees"]) == (1, 1, False)
    assert len(first["probabilities"]) == 10

    rest = rita.get(f"{QUEUE}?exclude={three[0].id}&exclude={three[1].id}").json()
    assert [s["id"] for s in rest["samples"]] == [three[2].id]


def test_disagreements_come_first_when_asked(rita, three):
    data = rita.get(QUEUE, {"disagreements_first": "true"}).json()

    assert [s["id"] for s in data["samples"]] == [three[1].id, three[0].id, three[2].id]
    assert data["samples"][0]["disagrees"] is True


def test_decisions_change_the_sample_and_the_counts(rita, reviewer, three):
    approved = decide(rita, three[0], "approve")
    relabelled = decide(rita, three[1], "relabel", 1)
    rejected = decide(rita, three[2], "reject")

    assert approved.status_code == relabelled.status_code == rejected.status_code == 200
    assert relabelled.json()["sample"]["label"] == 1
    assert rejected.json()["counts"] == {"pending": 0, "disagreements": 0}
    states = {s.id: (s.status, s.label, s.reviewed_by_id) for s in Sample.objects.all()}
    assert states == {
        three[0].id: ("approved", 1, reviewer.id),
        three[1].id: ("approved", 1, reviewer.id),
        three[2].id: ("rejected", 4, reviewer.id),
    }
    assert rita.get(QUEUE).json()["samples"] == []


def test_a_sample_decided_by_someone_else_meanwhile_is_a_conflict(rita, other_reviewer, three):
    other = Client()
    other.force_login(other_reviewer)
    assert decide(other, three[0], "reject").status_code == 200

    response = decide(rita, three[0], "approve")

    assert response.status_code == 409
    three[0].refresh_from_db()
    assert three[0].status == Sample.Status.REJECTED


@pytest.mark.parametrize("body", [{"action": "relabel"}, {"action": "relabel", "label": 12}, {"action": "maybe"}])
def test_a_malformed_decision_changes_nothing(rita, three, body):
    response = rita.post(decision_url(three[0]), body, content_type="application/json")

    assert response.status_code in (400, 422)
    assert not SampleReview.objects.exists()


def test_undo_brings_back_the_last_decision(rita, three):
    decide(rita, three[0], "approve")
    decide(rita, three[1], "relabel", 9)

    response = rita.post(UNDO)

    assert response.status_code == 200
    data = response.json()
    assert (data["sample"]["id"], data["sample"]["label"], data["sample"]["status"]) == (three[1].id, 7, "pending")
    assert data["counts"] == {"pending": 2, "disagreements": 1}
    assert rita.post(UNDO).json()["sample"]["id"] == three[0].id
    assert rita.post(UNDO).status_code == 404
    assert Sample.objects.filter(status="pending").count() == 3


def test_writes_need_the_csrf_token(reviewer, three):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)

    refused = decide(client, three[0], "approve")
    client.get(reverse("review:queue"))  # sets the csrftoken cookie, as the page does
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        decision_url(three[0]), {"action": "approve"}, content_type="application/json", headers={"X-CSRFToken": token}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 200
