"""Writes of collected drawings: storing one, and staff decisions on them.

Every review decision (approve, reject, relabel, undo) locks the sample row,
changes it, and writes one ``SampleReview`` (who, when, from what to what),
so the history can be audited and the last decision of a reviewer taken
back.  The admin's bulk actions and the review queue both come here."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from models.models import ModelVersion
from models.serving import NoModelError, model_server

from .models import Contributor, Sample, SampleReading, SampleReview
from .preprocessing import drawing_to_mnist
from .tallies import Deltas, tallies_apply, tallies_of

log = logging.getLogger(__name__)


class InvalidLabel(ValueError):
    pass


def _extension(image: bytes) -> str:
    return "jpg" if image[:3] == b"\xff\xd8\xff" else "png"


def sample_create(*, image: bytes, label: int, label_source: str, client_id: str) -> Sample:
    """Store a labelled drawing with what the served model predicted for it.

    The same drawing sent again by the same person (a double click, a retry)
    returns the sample stored the first time.  A drawing that cannot be used
    raises preprocessing's DrawingError and stores nothing.  With no model
    served the drawing is still kept, without a prediction: the label is what
    matters for training."""
    if label not in range(10):
        raise InvalidLabel("The label must be a digit 0-9.")
    if label_source not in Sample.LabelSource.values:
        raise InvalidLabel(f"How it was labelled must be one of {', '.join(Sample.LabelSource.values)}.")
    digest = hashlib.sha256(image).hexdigest()
    existing = Sample.objects.filter(client_id=client_id, image_sha256=digest).first()
    if existing:
        return existing

    pixels = drawing_to_mnist(image, max_pixels=settings.DIGITS_MAX_PIXELS)
    try:
        served = model_server().get()
    except NoModelError:
        prediction, version_id = None, None
    else:
        # Not counted as an answered prediction: the page asked predict for
        # this drawing already, and it was counted there.
        prediction, version_id = served.predictor.predict(pixels), served.version_id

    sample = Sample(
        image_sha256=digest,
        pixels=pixels.tobytes(),
        label=label,
        label_source=label_source,
        predicted=prediction.digit if prediction else None,
        confidence=prediction.confidence if prediction else None,
        probabilities=[float(p) for p in prediction.probabilities] if prediction else [],
        margin=Sample.margin_of(prediction.probabilities) if prediction else None,
        model_version_id=version_id,
        client_id=client_id,
    )
    sample.image.save(f"{digest[:32]}.{_extension(image)}", ContentFile(image), save=False)
    try:
        with transaction.atomic():
            sample.save()
            tallies_apply(Deltas().sample(sample))
    except IntegrityError:
        # Two requests with the same drawing raced past the lookup above; the
        # unique constraint let one in.  Drop this file and return that one.
        sample.image.delete(save=False)
        return Sample.objects.get(client_id=client_id, image_sha256=digest)
    # Triage happens in the worker, after the row is committed; the request
    # pays one cache add for it.
    transaction.on_commit(triage_soon)
    log.info("Sample %s stored: label %s (%s), predicted %s", sample.pk, label, label_source, sample.predicted)
    return sample


# --- review decisions ------------------------------------------------------

DECISIONS = (SampleReview.Action.APPROVE, SampleReview.Action.REJECT, SampleReview.Action.RELABEL)


class ReviewError(Exception):
    """A decision that cannot be made as asked."""


class SampleAlreadyReviewed(ReviewError):
    """Someone decided on the sample since the reviewer saw it."""


class NothingToUndo(ReviewError):
    pass


def _review_log(*, sample: Sample, reviewer, action: str, was: tuple[str, int], undoes=None) -> SampleReview:
    """One audit row: who changed ``sample`` from ``was`` (status, label) to what it is now."""
    return SampleReview.objects.create(
        sample=sample,
        reviewer=reviewer,
        action=action,
        from_status=was[0],
        to_status=sample.status,
        from_label=was[1],
        to_label=sample.label,
        undoes=undoes,
    )


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
        was = (locked.status, locked.label)
        counts = Deltas().sample(locked, -1)
        locked.status = status
        locked.label = was[1] if label is None else label
        locked.reviewed_by = reviewer
        locked.reviewed_at = timezone.now()
        locked.save(update_fields=["status", "label", "reviewed_by", "reviewed_at"])
        tallies_apply(counts.sample(locked))
        _review_log(sample=locked, reviewer=reviewer, action=action, was=was)
        contributors_trust_refresh(client_ids=[locked.client_id])
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


def _last_decision(reviewer: AbstractBaseUser) -> SampleReview:
    """The reviewer's last decision not yet undone, locked."""
    last = (
        SampleReview.objects.select_for_update(of=("self",))
        .filter(reviewer=reviewer, action__in=DECISIONS, undone_by__isnull=True)
        .order_by("-decided_at", "-id")
        .first()
    )
    if last is None:
        raise NothingToUndo("You have no decision left to undo.")
    return last


def review_undo(*, reviewer: AbstractBaseUser) -> Sample:
    """Take back the reviewer's last decision not yet undone, restoring the
    sample's status, label and previous reviewer.  Called again, it walks
    further back.  Refuses (SampleAlreadyReviewed) when someone else changed
    the sample since, rather than overwrite their decision."""
    with transaction.atomic():
        last = _last_decision(reviewer)
        sample = Sample.objects.select_for_update().get(id=last.sample_id)
        if (sample.status, sample.label) != (last.to_status, last.to_label) or sample.reviewed_by_id != reviewer.pk:
            raise SampleAlreadyReviewed(f"Sample {sample.id} was changed by someone else since; not undone.")
        previous = (
            sample.reviews.filter(action__in=DECISIONS, undone_by__isnull=True, id__lt=last.id)
            .order_by("-decided_at", "-id")
            .first()
        )
        was = (sample.status, sample.label)
        counts = Deltas().sample(sample, -1)
        sample.status, sample.label = last.from_status, last.from_label
        if sample.status == Sample.Status.PENDING or previous is None:
            sample.reviewed_by, sample.reviewed_at = None, None
        else:
            sample.reviewed_by_id, sample.reviewed_at = previous.reviewer_id, previous.decided_at
        sample.save(update_fields=["status", "label", "reviewed_by", "reviewed_at"])
        tallies_apply(counts.sample(sample))
        _review_log(sample=sample, reviewer=reviewer, action=SampleReview.Action.UNDO, was=was, undoes=last)
        contributors_trust_refresh(client_ids=[sample.client_id])
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


def samples_review_bulk(
    *, samples: QuerySet[Sample], action: str, reviewer: AbstractBaseUser, label: int | None = None
) -> int:
    """One decision on many drawings (the admin's bulk actions), each logged
    on its own, all or none; returns how many were decided."""
    count = 0
    with transaction.atomic():
        for sample in samples.order_by("id"):
            sample_decide(sample=sample, action=action, reviewer=reviewer, label=label)
            count += 1
    return count


# --- people's data and retention ------------------------------------------------


def samples_delete(*, samples: QuerySet[Sample]) -> int:
    """Delete drawings for good: rows, review log, original files; the
    tallies follow in the same transaction.  Returns how many."""
    with transaction.atomic():
        # Locked first, so no decision changes what the tallies take out.
        ids = list(samples.select_for_update().values_list("id", flat=True))
        if not ids:
            return 0
        chosen = Sample.objects.filter(id__in=ids)
        names = [name for name in chosen.values_list("image", flat=True) if name]
        tallies_apply(tallies_of(chosen).negated())
        chosen.delete()
        storage = Sample._meta.get_field("image").storage
        # Files go once the rows are gone for sure; a file left by a crash is an orphan, not a leak of a row.
        transaction.on_commit(lambda: _files_delete(storage, names))
    log.info("Deleted %s drawings", len(ids))
    return len(ids)


def client_samples_forget(*, client_id: str) -> int:
    """ "Forget my drawings": every drawing this browser session gave."""
    if not client_id:
        return 0
    return samples_delete(samples=Sample.objects.filter(client_id=client_id))


def rejected_images_purge(*, older_than_days: int, batch: int = 1000) -> int:
    """Delete the original image files of drawings rejected more than
    ``older_than_days`` days ago (the rows, their 28x28 arrays and the
    statistics stay); returns how many files went.  0 days: keep them all."""
    if older_than_days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=older_than_days)
    stale = Sample.objects.filter(status=Sample.Status.REJECTED, reviewed_at__lt=cutoff).exclude(image="")
    storage = Sample._meta.get_field("image").storage
    purged = 0
    while True:
        with transaction.atomic():
            rows = list(stale.select_for_update(skip_locked=True).values_list("id", "image")[:batch])
            if not rows:
                break
            Sample.objects.filter(id__in=[i for i, _ in rows]).update(image="")
            names = [name for _, name in rows]
            transaction.on_commit(lambda names=names: _files_delete(storage, names))
        purged += len(rows)
    if purged:
        log.info("Purged the original images of %s rejected drawings older than %s days", purged, older_than_days)
    return purged


def _files_delete(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError as exc:
            log.warning("Could not delete %s: %s", name, exc)


# --- readings: how each version read a drawing ---------------------------------


def sample_readings_store(
    *, version: ModelVersion, sample_ids: list[int], probabilities: np.ndarray, held_out: set[int]
) -> int:
    """Store how ``version`` read each drawing (its top digit and probability);
    a reading already stored stays (a retried task changes nothing)."""
    probabilities = np.asarray(probabilities)
    readings = [
        SampleReading(
            sample_id=sample_id,
            version=version,
            predicted=int(np.argmax(p)),
            confidence=float(np.max(p)),
            held_out=sample_id in held_out,
        )
        for sample_id, p in zip(sample_ids, probabilities, strict=True)
    ]
    return len(SampleReading.objects.bulk_create(readings, ignore_conflicts=True, batch_size=1000))


# --- triage: outcomes decided in the worker, contributors -------------------------

TRIAGE_TASK = "digits.triage_pending"
TRIAGE_SOON_KEY = "digits:triage-soon"
TRIAGE_SOON_SECONDS = 1.0  # drawings stored within this gather into one triage task
TRIAGE_SOON_TTL = 60  # a lost task blocks new ones at most this long
# Trust: (agreements + 1) / (judgements + 10), a person's decision weighing
# three readings, so a new id starts at 0.1 and earns trust drawing by drawing.
TRUST_PRIOR_AGREED, TRUST_PRIOR_JUDGED = 1.0, 10.0
PERSON_WEIGHT = 3.0
CONFIDENT = 0.95  # a calibrated probability of the label this high (or this low, 1 - it) counts


def triage_soon() -> None:
    """Ask the worker to triage what was stored.  One cache add per drawing
    (the storing request's only cost): the first drawing in a window
    enqueues one task, which triages every drawing stored meanwhile."""
    from celery import current_app
    from django.core.cache import cache

    try:
        if cache.add(TRIAGE_SOON_KEY, 1, timeout=TRIAGE_SOON_TTL):
            # By name: the task module calls these services, not the other way round.
            current_app.send_task(TRIAGE_TASK, countdown=TRIAGE_SOON_SECONDS)
    except Exception as exc:
        # Redis is down: the drawing is stored all the same and stays untriaged;
        # the next task (the next drawing's, or a starting worker's) takes it.
        log.warning("Triage not requested (cache or broker unavailable: %s)", exc)


@dataclass(frozen=True)
class TriageOutcome:
    sample_id: int
    triage: str  # a Sample.Triage value
    reason: str
    label_quality: float
    label_probability: float
    support: int
    trust: float
    audit: bool = False


def _status_move(sample: Sample, status: Sample.Status, *, counts: Deltas, reviewer, action, reviewed_at):
    """Move ``sample`` (label kept) to ``status``, its tallies in ``counts``;
    returns the audit row, unsaved, for a bulk_create."""
    was = sample.status
    counts.sample(sample, -1)
    sample.status, sample.reviewed_at = status, reviewed_at
    counts.sample(sample)
    return SampleReview(
        sample=sample,
        reviewer=reviewer,
        action=action,
        from_status=was,
        to_status=status,
        from_label=sample.label,
        to_label=sample.label,
    )


def triage_outcomes_apply(*, outcomes: list[TriageOutcome]) -> int:
    """Record triage outcomes; auto-approve those that say so, each logged as
    a decision with no reviewer (so it can be audited and taken back).  Only
    drawings still pending and untriaged are touched (a person may have
    decided one meanwhile, or another task triaged it); returns how many."""
    if not outcomes:
        return 0
    by_id = {o.sample_id: o for o in outcomes}
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Sample.objects.select_for_update()
            .filter(id__in=list(by_id), status=Sample.Status.PENDING, triage=Sample.Triage.UNTRIAGED)
            .defer("pixels", "probabilities")
        )
        counts, reviews = Deltas(), []
        for sample in rows:
            outcome = by_id[sample.id]
            sample.triage, sample.triage_reason, sample.triaged_at = outcome.triage, outcome.reason[:200], now
            sample.label_quality, sample.label_probability = outcome.label_quality, outcome.label_probability
            sample.support, sample.trust_at_triage, sample.audit = outcome.support, outcome.trust, outcome.audit
            if outcome.triage == Sample.Triage.AUTO_APPROVED:
                action = SampleReview.Action.AUTO_APPROVE
                reviews.append(
                    _status_move(
                        sample, Sample.Status.APPROVED, counts=counts, reviewer=None, action=action, reviewed_at=now
                    )
                )
        fields = ["triage", "triage_reason", "triaged_at", "label_quality", "label_probability", "support"]
        fields += ["trust_at_triage", "audit", "status", "reviewed_at"]
        Sample.objects.bulk_update(rows, fields, batch_size=500)
        tallies_apply(counts)
        SampleReview.objects.bulk_create(reviews)
    return len(rows)


def contributors_trust_refresh(*, client_ids: list[str]) -> dict[str, float]:
    """Recompute each contributor's trust from its drawings: agreement with
    people's decisions (approved as labelled, or rejected/relabelled) and
    with the served version's confident readings of drawings no person
    decided.  Creates the contributor rows; returns {client id: trust}."""
    if not client_ids:
        return {}
    relabelled = SampleReview.objects.filter(
        sample=OuterRef("pk"), action=SampleReview.Action.RELABEL, undone_by__isnull=True
    )
    by_person = Q(status__in=[Sample.Status.APPROVED, Sample.Status.REJECTED]) & ~Q(triage=Sample.Triage.AUTO_APPROVED)
    not_by_person = ~by_person
    rows = (
        Sample.objects.filter(client_id__in=client_ids)
        .annotate(relabelled=Exists(relabelled))
        .order_by()
        .values("client_id")
        .annotate(
            drawings=Count("id"),
            person_agreed=Count("id", filter=by_person & Q(status=Sample.Status.APPROVED, relabelled=False)),
            person_judged=Count("id", filter=by_person),
            model_agreed=Count("id", filter=not_by_person & Q(label_probability__gte=CONFIDENT)),
            model_judged=Count(
                "id",
                filter=not_by_person & (Q(label_probability__gte=CONFIDENT) | Q(label_probability__lte=1 - CONFIDENT)),
            ),
        )
    )
    trust = {}
    with transaction.atomic():
        for row in rows:
            agreed = PERSON_WEIGHT * row["person_agreed"] + row["model_agreed"]
            judged = PERSON_WEIGHT * row["person_judged"] + row["model_judged"]
            value = (agreed + TRUST_PRIOR_AGREED) / (judged + TRUST_PRIOR_JUDGED)
            Contributor.objects.update_or_create(
                client_id=row["client_id"],
                defaults={"trust": value, "agreed": agreed, "judged": judged, "drawings": row["drawings"]},
            )
            trust[row["client_id"]] = value
    return trust


def contributors_quarantine(*, client_ids: list[str], by: AbstractBaseUser) -> int:
    """Hold every drawing no person decided of these contributors out of
    training until a person decides it: pending ones are marked quarantined,
    auto-approved ones go back to pending, quarantined (logged, with ``by``).
    Their later drawings are quarantined by the triage.  Returns how many
    drawings were held."""
    now = timezone.now()
    reason = f"contributor quarantined by {by.get_username()}"
    with transaction.atomic():
        for client_id in client_ids:
            Contributor.objects.update_or_create(
                client_id=client_id, defaults={"quarantined": True, "quarantined_by": by, "quarantined_at": now}
            )
        held = Sample.objects.select_for_update().filter(client_id__in=client_ids)
        rows = list(
            held.filter(
                Q(status=Sample.Status.PENDING) | Q(status=Sample.Status.APPROVED, triage=Sample.Triage.AUTO_APPROVED)
            ).defer("pixels", "probabilities")
        )
        counts, reviews = Deltas(), []
        for sample in rows:
            if sample.status == Sample.Status.APPROVED:
                action = SampleReview.Action.QUARANTINE
                reviews.append(
                    _status_move(
                        sample, Sample.Status.PENDING, counts=counts, reviewer=by, action=action, reviewed_at=None
                    )
                )
            sample.triage, sample.triage_reason, sample.triaged_at = Sample.Triage.QUARANTINED, reason, now
        Sample.objects.bulk_update(rows, ["status", "reviewed_at", "triage", "triage_reason", "triaged_at"])
        tallies_apply(counts)
        SampleReview.objects.bulk_create(reviews)
    log.info("Quarantined %s contributor(s) by %s: %s drawings held", len(client_ids), by, len(rows))
    return len(rows)


def samples_auto_approval_undo(*, samples: QuerySet[Sample], by: AbstractBaseUser) -> int:
    """Take back auto-approvals: each auto-approved drawing among ``samples``
    goes back to pending, for a person to decide (logged as an undo by
    ``by``).  Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        # By id: the admin's queryset joins other tables, which FOR UPDATE refuses.
        ids = list(samples.values_list("id", flat=True))
        rows = list(
            Sample.objects.select_for_update()
            .filter(id__in=ids, status=Sample.Status.APPROVED, triage=Sample.Triage.AUTO_APPROVED)
            .defer("pixels", "probabilities")
        )
        counts, reviews = Deltas(), []
        for sample in rows:
            action = SampleReview.Action.UNDO
            reviews.append(
                _status_move(sample, Sample.Status.PENDING, counts=counts, reviewer=by, action=action, reviewed_at=None)
            )
            sample.triage, sample.triaged_at = Sample.Triage.NEEDS_PERSON, now
            sample.triage_reason = f"auto-approval undone by {by.get_username()}; {sample.triage_reason}"[:200]
        fields = ["status", "reviewed_at", "triage", "triage_reason", "triaged_at"]
        Sample.objects.bulk_update(rows, fields)
        tallies_apply(counts)
        SampleReview.objects.bulk_create(reviews)
    return len(rows)
