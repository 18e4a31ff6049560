"""Staff decisions on collected drawings: approve, reject, relabel, undo.

Every decision locks the sample row, changes it, and writes one
``SampleReview`` (who, when, from what to what), so the history can be audited
and the last decision of a reviewer taken back.  The admin's bulk actions and
the review queue both come here."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from .models import Sample, SampleReview

DECISIONS = (SampleReview.Action.APPROVE, SampleReview.Action.REJECT, SampleReview.Action.RELABEL)


class ReviewError(Exception):
    """A decision that cannot be made as asked."""


class SampleAlreadyReviewed(ReviewError):
    """Someone decided on the sample since the reviewer saw it."""


class NothingToUndo(ReviewError):
    pass


def _decide(
    *,
    sample: Sample,
    reviewer: AbstractBaseUser,
    action: SampleReview.Action,
    status: Sample.Status,
    label: int | None = None,
    only_if_pending: bool = False,
) -> Sample:
    with transaction.atomic():
        # Lock the row: two reviewers on the same drawing decide one after the other.
        locked = Sample.objects.select_for_update().get(id=sample.id)
        if only_if_pending and locked.status != Sample.Status.PENDING:
            raise SampleAlreadyReviewed(f"Sample {locked.id} is already {locked.get_status_display().lower()}.")
        from_status, from_label = locked.status, locked.label
        locked.status = status
        locked.label = from_label if label is None else label
        locked.reviewed_by = reviewer
        locked.reviewed_at = timezone.now()
        locked.save(update_fields=["status", "label", "reviewed_by", "reviewed_at"])
        SampleReview.objects.create(
            sample=locked,
            reviewer=reviewer,
            action=action,
            from_status=from_status,
            to_status=locked.status,
            from_label=from_label,
            to_label=locked.label,
        )
    return locked


def sample_approve(*, sample: Sample, reviewer: AbstractBaseUser, only_if_pending: bool = False) -> Sample:
    """Mark the drawing as fit to train on, with the label it carries.

    ``only_if_pending`` makes it refuse (SampleAlreadyReviewed) a drawing
    someone else decided on meanwhile, as the review queue wants."""
    return _decide(
        sample=sample,
        reviewer=reviewer,
        action=SampleReview.Action.APPROVE,
        status=Sample.Status.APPROVED,
        only_if_pending=only_if_pending,
    )


def sample_reject(*, sample: Sample, reviewer: AbstractBaseUser, only_if_pending: bool = False) -> Sample:
    """Keep the drawing out of training (scribbles, not a digit, unreadable)."""
    return _decide(
        sample=sample,
        reviewer=reviewer,
        action=SampleReview.Action.REJECT,
        status=Sample.Status.REJECTED,
        only_if_pending=only_if_pending,
    )


def sample_relabel(*, sample: Sample, label: int, reviewer: AbstractBaseUser, only_if_pending: bool = False) -> Sample:
    """Give the drawing the digit it really shows, and approve it."""
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label <= 9:
        raise ReviewError(f"A label is a digit from 0 to 9, not {label!r}.")
    return _decide(
        sample=sample,
        reviewer=reviewer,
        action=SampleReview.Action.RELABEL,
        status=Sample.Status.APPROVED,
        label=label,
        only_if_pending=only_if_pending,
    )


def review_undo(*, reviewer: AbstractBaseUser) -> Sample:
    """Take back the reviewer's last decision not yet undone, restoring the
    sample's status, label and previous reviewer.  Called again, it walks
    further back.  Refuses (SampleAlreadyReviewed) when someone else changed
    the sample since, rather than overwrite their decision."""
    with transaction.atomic():
        last = (
            SampleReview.objects.select_for_update(of=("self",))
            .filter(reviewer=reviewer, action__in=DECISIONS, undone_by__isnull=True)
            .order_by("-decided_at", "-id")
            .first()
        )
        if last is None:
            raise NothingToUndo("You have no decision left to undo.")
        sample = Sample.objects.select_for_update().get(id=last.sample_id)
        if (sample.status, sample.label) != (last.to_status, last.to_label) or sample.reviewed_by_id != reviewer.pk:
            raise SampleAlreadyReviewed(f"Sample {sample.id} was changed by someone else since; not undone.")
        previous = (
            sample.reviews.filter(action__in=DECISIONS, undone_by__isnull=True, id__lt=last.id)
            .order_by("-decided_at", "-id")
            .first()
        )
        from_status, from_label = sample.status, sample.label
        sample.status, sample.label = last.from_status, last.from_label
        if sample.status == Sample.Status.PENDING or previous is None:
            sample.reviewed_by, sample.reviewed_at = None, None
        else:
            sample.reviewed_by_id, sample.reviewed_at = previous.reviewer_id, previous.decided_at
        sample.save(update_fields=["status", "label", "reviewed_by", "reviewed_at"])
        SampleReview.objects.create(
            sample=sample,
            reviewer=reviewer,
            action=SampleReview.Action.UNDO,
            from_status=from_status,
            to_status=sample.status,
            from_label=from_label,
            to_label=sample.label,
            undoes=last,
        )
    return sample


def sample_decide(
    *,
    sample: Sample,
    action: str,
    reviewer: AbstractBaseUser,
    label: int | None = None,
    only_if_pending: bool = False,
) -> Sample:
    """One of the three decisions, named by its ``SampleReview.Action`` value."""
    if action == SampleReview.Action.APPROVE:
        return sample_approve(sample=sample, reviewer=reviewer, only_if_pending=only_if_pending)
    if action == SampleReview.Action.REJECT:
        return sample_reject(sample=sample, reviewer=reviewer, only_if_pending=only_if_pending)
    if action == SampleReview.Action.RELABEL:
        return sample_relabel(sample=sample, label=label, reviewer=reviewer, only_if_pending=only_if_pending)
    raise ReviewError(f"Unknown decision {action!r}.")


def samples_review_bulk(*, samples, action: str, reviewer: AbstractBaseUser, label: int | None = None) -> int:
    """One decision on many drawings (the admin's bulk actions), each logged
    on its own, all or none; returns how many were decided."""
    count = 0
    with transaction.atomic():
        for sample in samples.order_by("id"):
            sample_decide(sample=sample, action=action, reviewer=reviewer, label=label)
            count += 1
    return count
