"""Reads for retraining: which drawings it learns from, which it is judged on,
and how much is new since the last run."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings
from django.db.models import Q, QuerySet

from digits.models import Sample
from digits.selectors import trainable_samples

from .models import TrainingRun

HELDOUT_BUCKETS = 10_000


def is_held_out(sample_id: int, share: float | None = None) -> bool:
    """Whether a drawing is kept for judging, never trained on.

    Decided from the id alone (a hash, not ``id % n``, so ids that arrive in
    runs do not all fall on one side), so every run splits the same way and a
    drawing stays on its side for good."""
    share = settings.RETRAIN_HELDOUT_SHARE if share is None else share
    digest = hashlib.sha256(f"heldout:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % HELDOUT_BUCKETS < share * HELDOUT_BUCKETS


def training_samples() -> QuerySet[Sample]:
    """The collected drawings retraining may use, in id order (the rule of
    what counts lives in digits.selectors.trainable_samples)."""
    return trainable_samples().order_by("id")


def last_fine_tune_run() -> TrainingRun | None:
    """The last fine-tuning that learned something (its data is what a new
    run compares against)."""
    return (
        TrainingRun.objects.filter(kind=TrainingRun.Kind.FINE_TUNE, status=TrainingRun.Status.SUCCEEDED)
        .order_by("-data_until", "-id")
        .first()
    )


def new_samples_count(*, since: datetime | None = None) -> int:
    """Drawings approved since ``since`` (default: since the last run)."""
    if since is None:
        last = last_fine_tune_run()
        since = last.data_until if last else None
    samples = training_samples()
    if since is not None:
        # A pending drawing (TRAIN_INCLUDE_PENDING) has no review time yet.
        samples = samples.filter(Q(reviewed_at__gt=since) | Q(reviewed_at__isnull=True, created_at__gt=since))
    return samples.count()


def fine_tune_in_flight() -> TrainingRun | None:
    return TrainingRun.objects.filter(kind=TrainingRun.Kind.FINE_TUNE, status__in=TrainingRun.IN_FLIGHT).first()


def training_run_list(limit: int = 20):
    return TrainingRun.objects.select_related("parent", "result")[:limit]


def training_run_latest() -> TrainingRun | None:
    """The run a progress bar follows: the one in flight, else the last one."""
    return fine_tune_in_flight() or TrainingRun.objects.select_related("parent", "result").first()
