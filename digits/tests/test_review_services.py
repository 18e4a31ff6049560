from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from digits.models import Sample, SampleReview
from digits.review.selectors import (
    confusion_matrix_get,
    disagreement_get,
    review_queue,
    review_queue_counts,
    sample_counts_by_label_and_status,
    sample_counts_per_day,
)
from digits.selectors import approved_samples, samples_arrays, trainable_samples
from digits.services import (
    NothingToUndo,
    ReviewError,
    SampleAlreadyReviewed,
    review_undo,
    sample_approve,
    sample_reject,
    sample_relabel,
    samples_review_bulk,
)


def test_approving_records_who_and_when(make_sample, reviewer):
    sample = make_sample(label=3, predicted=5)

    approved = sample_approve(sample=sample, reviewer=reviewer)

    sample.refresh_from_db()
    assert approved.status == sample.status == Sample.Status.APPROVED
    assert sample.label == 3
    assert sample.reviewed_by == reviewer
    assert timezone.now() - sample.reviewed_at < timedelta(seconds=10)
    review = sample.reviews.get()
    assert (review.reviewer, review.action) == (reviewer, SampleReview.Action.APPROVE)
    assert (review.from_status, review.to_status, review.from_label, review.to_label) == ("pending", "approved", 3, 3)


def test_relabelling_changes_the_label_and_approves(make_sample, reviewer):
    sample = make_sample(label=1, predicted=7)

    sample_relabel(sample=sample, label=7, reviewer=reviewer)

    sample.refresh_from_db()
    assert (sample.label, sample.status) == (7, Sample.Status.APPROVED)
    review = sample.reviews.get()
    assert (review.action, review.from_label, review.to_label) == ("relabel", 1, 7)


@pytest.mark.parametrize("label", [-1, 10, None, "3", True])
def test_relabelling_refuses_what_is_not_a_digit(make_sample, reviewer, label):
    sample = make_sample()

    with pytest.raises(ReviewError):
        sample_relabel(sample=sample, label=label, reviewer=reviewer)

    sample.refresh_from_db()
    assert sample.status == Sample.Status.PENDING
    assert not sample.reviews.exists()


def test_rejecting_keeps_the_label(make_sample, reviewer):
    sample = make_sample(label=4)

    sample_reject(sample=sample, reviewer=reviewer)

    sample.refresh_from_db()
    assert (sample.label, sample.status) == (4, Sample.Status.REJECTED)


def test_the_queue_refuses_a_sample_someone_else_decided(make_sample, reviewer, other_reviewer):
    sample = make_sample()
    sample_reject(sample=sample, reviewer=other_reviewer)

    with pytest.raises(SampleAlreadyReviewed):
        sample_approve(sample=sample, reviewer=reviewer, only_if_pending=True)

    sample.refresh_from_db()
    assert (sample.status, sample.reviewed_by) == (Sample.Status.REJECTED, other_reviewer)


def test_undo_restores_the_last_decision_and_then_the_one_before(make_sample, reviewer):
    first, second = make_sample(label=2), make_sample(label=5)
    sample_approve(sample=first, reviewer=reviewer)
    sample_relabel(sample=second, label=6, reviewer=reviewer)

    undone = review_undo(reviewer=reviewer)

    assert undone.id == second.id
    second.refresh_from_db()
    assert (second.status, second.label, second.reviewed_by, second.reviewed_at) == ("pending", 5, None, None)
    first.refresh_from_db()
    assert first.status == Sample.Status.APPROVED

    assert review_undo(reviewer=reviewer).id == first.id
    first.refresh_from_db()
    assert first.status == Sample.Status.PENDING

    with pytest.raises(NothingToUndo):
        review_undo(reviewer=reviewer)
    undo = second.reviews.get(action=SampleReview.Action.UNDO)
    assert (undo.reviewer, undo.undoes.action, undo.to_label) == (reviewer, "relabel", 5)


def test_undo_takes_back_only_my_own_decisions(make_sample, reviewer, other_reviewer):
    mine, theirs = make_sample(), make_sample()
    sample_approve(sample=mine, reviewer=reviewer)
    sample_reject(sample=theirs, reviewer=other_reviewer)

    assert review_undo(reviewer=reviewer).id == mine.id

    theirs.refresh_from_db()
    assert theirs.status == Sample.Status.REJECTED


def test_undo_restores_the_earlier_reviewer_of_a_changed_decision(make_sample, reviewer, other_reviewer):
    sample = make_sample(label=1)
    sample_approve(sample=sample, reviewer=other_reviewer)
    sample_relabel(sample=sample, label=7, reviewer=reviewer)

    review_undo(reviewer=reviewer)

    sample.refresh_from_db()
    assert (sample.status, sample.label, sample.reviewed_by) == (Sample.Status.APPROVED, 1, other_reviewer)


def test_undo_does_not_overwrite_a_later_decision_by_someone_else(make_sample, reviewer, other_reviewer):
    sample = make_sample()
    sample_approve(sample=sample, reviewer=reviewer)
    sample_reject(sample=sample, reviewer=other_reviewer)

    with pytest.raises(SampleAlreadyReviewed):
        review_undo(reviewer=reviewer)

    sample.refresh_from_db()
    assert (sample.status, sample.reviewed_by) == (Sample.Status.REJECTED, other_reviewer)


def test_a_bulk_decision_logs_each_sample(make_sample, reviewer):
    samples = [make_sample(label=d) for d in (1, 2, 3)]

    count = samples_review_bulk(
        samples=Sample.objects.filter(id__in=[s.id for s in samples]), action="relabel", label=8, reviewer=reviewer
    )

    assert count == 3
    assert set(Sample.objects.values_list("label", "status")) == {(8, "approved")}
    assert SampleReview.objects.filter(action="relabel", reviewer=reviewer).count() == 3


def test_the_queue_goes_oldest_first_or_disagreements_first(make_sample):
    now = timezone.now()
    agrees_old = make_sample(label=1, predicted=1, created_at=now - timedelta(hours=3))
    disagrees = make_sample(label=7, predicted=1, created_at=now - timedelta(hours=2))
    no_prediction = make_sample(label=2, predicted=None, created_at=now - timedelta(hours=1))
    make_sample(label=4, predicted=9, status=Sample.Status.APPROVED)

    assert list(review_queue()) == [agrees_old, disagrees, no_prediction]
    assert list(review_queue(disagreements_first=True)) == [disagrees, agrees_old, no_prediction]
    assert list(review_queue(disagreements_first=True, exclude=[disagrees.id])) == [agrees_old, no_prediction]
    counts = review_queue_counts()
    assert (counts.pending, counts.disagreements) == (3, 1)


def test_the_queue_can_put_the_drawings_the_model_was_least_sure_of_first(make_sample):
    sure = make_sample(label=1, predicted=1, margin=0.9)
    torn = make_sample(label=7, predicted=7, margin=0.02)
    no_prediction = make_sample(label=2, predicted=None, margin=None)
    torn_too = make_sample(label=9, predicted=4, margin=0.02)
    unsure = make_sample(label=3, predicted=3, margin=0.3)
    make_sample(label=4, predicted=9, margin=0.0, status=Sample.Status.APPROVED)

    expected = [torn, torn_too, unsure, sure, no_prediction]
    assert review_queue(uncertain_first=True) == expected
    # Keyset pages join up, however the page boundary falls (on a tie too).
    for size in (1, 2, 3):
        pages, after = [], None
        while page := review_queue(uncertain_first=True, after=after, limit=size):
            pages += page
            after = page[-1].id
        assert pages == expected
    assert review_queue(uncertain_first=True, exclude=[torn.id], limit=2) == [torn_too, unsure]


def test_statistics_count_labels_days_disagreements_and_confusions(make_sample):
    today = timezone.now()
    make_sample(label=7, predicted=1)
    make_sample(label=7, predicted=7, status=Sample.Status.APPROVED)
    make_sample(label=7, predicted=1, status=Sample.Status.APPROVED, created_at=today - timedelta(days=2))
    make_sample(label=3, predicted=8, status=Sample.Status.REJECTED)
    make_sample(label=9, predicted=None)

    by_label = {row["label"]: row for row in sample_counts_by_label_and_status()}
    assert (by_label[7]["pending"], by_label[7]["approved"], by_label[7]["total"]) == (1, 2, 3)
    assert by_label[3]["rejected"] == 1 and by_label[0]["total"] == 0

    per_day = sample_counts_per_day(days=7)
    assert len(per_day) == 7
    assert per_day[-1]["total"] == 4 and per_day[-3]["total"] == 1 and per_day[-3]["approved"] == 1

    disagreement = disagreement_get()  # the rejected one and the one without prediction are left out
    assert (disagreement.with_prediction, disagreement.disagreeing) == (3, 2)
    assert disagreement.rate == pytest.approx(2 / 3)

    matrix = confusion_matrix_get()
    assert matrix[7][1] == 2 and matrix[7][7] == 1
    assert sum(map(sum, matrix)) == 3


def test_training_data_is_approved_samples_unless_pending_are_allowed(make_sample, settings):
    approved = make_sample(label=3, status=Sample.Status.APPROVED)
    pending = make_sample(label=5)
    make_sample(label=8, status=Sample.Status.REJECTED)

    x, y, _ = samples_arrays(approved_samples())
    assert x.shape == (1, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert np.array_equal(x[0], approved.array) and y.tolist() == [3]

    settings.TRAIN_INCLUDE_PENDING = False
    assert samples_arrays(trainable_samples()).y.tolist() == [3]
    settings.TRAIN_INCLUDE_PENDING = True
    x, y, _ = samples_arrays(trainable_samples())
    assert y.tolist() == [3, 5]
    assert np.array_equal(x[1], pending.array)
