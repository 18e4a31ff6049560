"""The counts the queue, the statistics and the admin read are kept in step
by the services, in the same transaction as the change they count."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from digits.models import Sample, SampleTally
from digits.review.selectors import review_queue, review_queue_counts
from digits.services import (
    review_undo,
    sample_approve,
    sample_create,
    sample_reject,
    sample_relabel,
    samples_review_bulk,
)

from .conftest import digit_pixels, png_bytes, recounted, tallies


def test_storing_a_drawing_counts_it_with_its_prediction(active_version):
    sample = sample_create(image=png_bytes(digit_pixels(3)), label=7, label_source="confirmed", client_id="c")

    keys, days = tallies()
    assert keys == {("pending", 7, sample.predicted): 1}
    assert days == {(timezone.now().date(), "pending"): 1}
    assert sample.margin is not None and 0 <= sample.margin <= 1
    assert (keys, days) == recounted()


def test_a_drawing_without_a_prediction_is_counted_and_never_disagrees(db):
    sample = sample_create(image=png_bytes(digit_pixels(4)), label=2, label_source="prompted", client_id="c")

    sample.refresh_from_db()
    assert (sample.predicted, sample.margin, sample.disagrees) == (None, None, False)
    assert tallies()[0] == {("pending", 2, SampleTally.NO_PREDICTION): 1}
    assert review_queue_counts().disagreements == 0


def test_decisions_undo_and_bulk_move_the_counts_as_a_recount_would(make_sample, reviewer, other_reviewer):
    old = timezone.now() - timedelta(days=3)
    samples = [make_sample(label=7, predicted=1, created_at=old), make_sample(label=4), make_sample(label=9)]
    sample_relabel(sample=samples[0], label=1, reviewer=reviewer)
    sample_reject(sample=samples[1], reviewer=other_reviewer)
    sample_approve(sample=samples[2], reviewer=reviewer)
    review_undo(reviewer=reviewer)
    samples_review_bulk(samples=Sample.objects.filter(status="pending"), action="reject", reviewer=reviewer)
    live = tallies()

    assert live == recounted()
    assert live[0] == {("approved", 1, 1): 1, ("rejected", 4, 7): 1, ("rejected", 9, 7): 1}
    assert live[1][(old.date(), "approved")] == 1
    assert review_queue_counts().pending == 0


def test_the_counts_come_from_the_tallies_not_from_the_samples(make_sample):
    make_sample(label=7, predicted=1)
    make_sample(label=3, predicted=3)

    with CaptureQueriesContext(connection) as queries:
        counts = review_queue_counts()

    assert (counts.pending, counts.disagreements) == (2, 1)
    assert len(queries) == 1 and 'digits_sample"' not in queries[0]["sql"].replace("digits_sampletally", "")


def test_keyset_paging_walks_each_order_without_gaps_or_repeats(make_sample):
    made = [make_sample(label=d % 10, predicted=(d + (d % 3 == 0)) % 10) for d in range(11)]
    make_sample(label=5, predicted=1, status=Sample.Status.APPROVED)
    disagreeing = [s.id for s in made if s.predicted != s.label]
    agreeing = [s.id for s in made if s.predicted == s.label]

    for first, expected in ((False, [s.id for s in made]), (True, disagreeing + agreeing)):
        seen, after = [], None
        while True:
            page = review_queue(disagreements_first=first, after=after, limit=3)
            seen += [s.id for s in page]
            if len(page) < 3:
                break
            after = page[-1].id
        assert seen == expected, first


def test_the_queue_api_hands_out_the_next_page_to_ask_for(client, reviewer, make_sample):
    made = [make_sample(label=d, predicted=d) for d in range(4)]
    client.force_login(reviewer)

    first = client.get("/api/review/queue", {"limit": 3}).json()
    rest = client.get("/api/review/queue", {"limit": 3, "after": first["next"]}).json()

    assert [s["id"] for s in first["samples"]] == [s.id for s in made[:3]]
    assert [s["id"] for s in rest["samples"]] == [made[3].id] and rest["next"] is None
