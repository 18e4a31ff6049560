"""Reads for training: which drawings a run learns from and is judged on, how
much is new since the last run, and the runs themselves."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db.models import Max, Min, Q, QuerySet

from digits.models import Sample
from digits.selectors import DECIDED_BY_PERSON, DrawingArrays, samples_arrays, trainable_samples

from .models import TradeDecision, TrainingRun

HELDOUT_BUCKETS = 10_000


def is_held_out(content_sha256: str, share: float | None = None) -> bool:
    """Whether a drawing is kept for judging, never trained on.

    Decided by the drawing's content (``Sample.image_sha256``, the hash of
    the image as sent, hashed again), never by a database id: the split is the
    same whatever was stored before (another test, another instance, a
    restored backup), a drawing stays on its side for good, and the same
    drawing sent by two people lands on one side, so none is trained on while
    its twin judges."""
    share = settings.RETRAIN_HELDOUT_SHARE if share is None else share
    digest = hashlib.sha256(f"heldout:{content_sha256}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % HELDOUT_BUCKETS < share * HELDOUT_BUCKETS


def training_samples() -> QuerySet[Sample]:
    """The collected drawings retraining may use, in id order (the rule of
    what counts lives in digits.selectors.trainable_samples)."""
    return trainable_samples().order_by("id")


def _reviewed_since(samples: QuerySet[Sample], since: datetime | None) -> QuerySet[Sample]:
    if since is None:
        return samples
    # A pending drawing (TRAIN_INCLUDE_PENDING) has no review time yet.
    return samples.filter(Q(reviewed_at__gt=since) | Q(reviewed_at__isnull=True, created_at__gt=since))


@dataclass(frozen=True)
class DrawingsPick:
    """The drawings one run learns from and is judged on (ids), chosen with a cap."""

    train_ids: list[int]
    heldout_ids: list[int]
    new: int  # newly decided drawings picked for their half of the cap (none: nothing to learn)
    available: int  # trainable drawings in all, for the record


def training_drawings_pick(*, since: datetime | None, cap: int, heldout_cap: int) -> DrawingsPick:
    """At most ``cap`` drawings to learn from and ``heldout_cap`` to judge on,
    so a run costs the same at a thousand drawings or ten million.

    Favours what the model most needs: half the cap for the drawings decided
    since ``since`` (newest first: what started the run), a quarter for
    older ones the served model misread (``disagrees``, newest first), and
    the rest drawn at random from all the others, so old styles are still
    rehearsed.  The held-out split stays ``is_held_out``'s; the judges are
    the newest held-out drawings.  Every query reads ids in numbers that
    follow the caps, not the table (and one count, for the record)."""
    samples = training_samples()
    available = samples.count()
    picked = _take_training_ids(_reviewed_since(samples, since), cap // 2)
    new = len(picked)
    picked += _take_training_ids(samples.filter(disagrees=True), cap // 4, skip=set(picked))
    picked += _random_training_ids(samples, cap - len(picked), skip=set(picked), available=available)
    picked = contributor_share_cap(picked, share=settings.CONTRIBUTOR_MAX_SHARE)
    heldout = []
    # The judges are drawings a person decided: a label no person checked
    # (auto-approved, or pending with TRAIN_INCLUDE_PENDING) could be poison
    # that makes a poisoned candidate look good.
    judged = samples.filter(DECIDED_BY_PERSON).order_by("-id").values_list("id", "image_sha256")
    for sample_id, sha in judged.iterator(chunk_size=2000):
        if is_held_out(sha):
            heldout.append(sample_id)
            if len(heldout) >= heldout_cap:
                break
    if since is None:  # the first run: everything is new
        new = len(picked)
    return DrawingsPick(sorted(picked), sorted(heldout), new, available)


def contributor_share_cap(ids: list[int], *, share: float) -> list[int]:
    """``ids`` (in order of preference) less what makes any contributor
    supply more than ``share`` of them, counting only drawings no person
    decided (a person's decision vouches for a label whoever drew it).  The
    cap follows the set's final size, so it is applied until it holds."""
    if not ids or share >= 1:
        return ids
    unchecked = dict(
        Sample.objects.filter(id__in=ids).exclude(DECIDED_BY_PERSON).values_list("id", "client_id").iterator()
    )
    kept = list(ids)
    while True:
        limit, taken, trimmed = int(share * len(kept)), {}, []
        for sample_id in kept:
            client = unchecked.get(sample_id)
            if client is not None:
                taken[client] = taken.get(client, 0) + 1
                if taken[client] > limit:
                    continue
            trimmed.append(sample_id)
        if len(trimmed) == len(kept):
            return kept
        kept = trimmed


def _take_training_ids(candidates: QuerySet[Sample], quota: int, skip: set[int] = frozenset()) -> list[int]:
    """Up to ``quota`` ids of ``candidates``, newest first, that are not held
    out nor in ``skip`` (checked here: a NOT IN of thousands of ids costs the
    database a comparison per id per row)."""
    taken: list[int] = []
    if quota <= 0:
        return taken
    for sample_id, sha in candidates.order_by("-id").values_list("id", "image_sha256").iterator(chunk_size=2000):
        if sample_id not in skip and not is_held_out(sha):
            taken.append(sample_id)
            if len(taken) >= quota:
                break
    return taken


def _random_training_ids(
    samples: QuerySet[Sample], quota: int, *, skip: set[int], available: int, rounds: int = 6
) -> list[int]:
    """Up to ``quota`` ids drawn uniformly from ``samples``, not held out nor
    in ``skip``: random ids between the smallest and the largest, looked up
    by primary key, so the cost follows the quota, not the table (an ORDER BY
    random() reads every row)."""
    if quota <= 0:
        return []
    if not available:
        return []
    bounds = samples.order_by().aggregate(low=Min("id"), high=Max("id"))
    low, high = bounds["low"], bounds["high"]
    density = max(available / (high - low + 1), 1e-3)  # share of the id range that is trainable
    rng = random.Random()
    taken: list[int] = []
    seen = set(skip)
    for _ in range(rounds):
        wanted = quota - len(taken)
        if wanted <= 0:
            break
        draw = min(high - low + 1, int(wanted / density * 1.5) + 16)
        candidates = [i for i in rng.sample(range(low, high + 1), draw) if i not in seen]
        seen.update(candidates)
        for start in range(0, len(candidates), 5000):  # SQLite takes at most 32766 parameters
            rows = samples.order_by().filter(id__in=candidates[start : start + 5000]).values_list("id", "image_sha256")
            taken += [i for i, sha in rows if not is_held_out(sha)]
    return taken[:quota]


def last_fine_tune_run() -> TrainingRun | None:
    """The last run: the last fine-tuning that learned something.  Drawings
    reviewed after its ``data_until`` are what a new run has that it did not
    (a failed or skipped run learned nothing, so it does not count)."""
    return (
        TrainingRun.objects.filter(kind=TrainingRun.Kind.FINE_TUNE, status=TrainingRun.Status.SUCCEEDED)
        .order_by("-data_until", "-id")
        .first()
    )


def training_runs_by_version(*, version_ids: list[int]) -> dict[int, int]:
    """The run that made each of these versions, as {version id: run id}
    (``TrainingRun.result``); a version a person uploaded has none."""
    return dict(TrainingRun.objects.filter(result_id__in=version_ids).values_list("result_id", "id"))


def lineage_best_validation_accuracy(*, version) -> float | None:
    """The best MNIST validation accuracy recorded by ``version`` or any of
    its ancestors (versions from before the validation split have none)."""
    best, seen = None, set()
    while version is not None and version.pk not in seen:
        seen.add(version.pk)
        value = (version.metrics or {}).get("validation_accuracy")
        if value is not None and (best is None or value > best):
            best = value
        version = version.parent
    return best


def new_samples_count() -> int:
    """Drawings approved since the last run."""
    last = last_fine_tune_run()
    return _reviewed_since(training_samples(), last.data_until if last else None).count()


@dataclass
class FineTuneDrawings:
    train: DrawingArrays
    heldout: DrawingArrays
    pick: DrawingsPick


def fine_tune_drawings_get() -> FineTuneDrawings:
    """The drawings a fine-tuning learns from and is judged on, picked within
    the caps (``training_drawings_pick``) with what is new since the last run;
    no arrays are read when nothing is new."""
    last = last_fine_tune_run()
    since = last.data_until if last else None
    caps = dict(cap=settings.FINE_TUNE_MAX_DRAWINGS, heldout_cap=settings.FINE_TUNE_MAX_HELDOUT)
    pick = training_drawings_pick(since=since, **caps)
    if not pick.new:
        empty = samples_arrays(Sample.objects.none())
        return FineTuneDrawings(empty, empty, pick)
    train = samples_arrays(Sample.objects.filter(id__in=pick.train_ids))
    return FineTuneDrawings(train, samples_arrays(Sample.objects.filter(id__in=pick.heldout_ids)), pick)


def fine_tune_in_flight() -> TrainingRun | None:
    return TrainingRun.objects.filter(kind=TrainingRun.Kind.FINE_TUNE, status__in=TrainingRun.IN_FLIGHT).first()


def training_run_list(limit: int = 20):
    return TrainingRun.objects.select_related("parent", "result")[:limit]


def training_run_latest() -> TrainingRun | None:
    """The run a progress bar follows: the one in flight, else the last one."""
    return fine_tune_in_flight() or TrainingRun.objects.select_related("parent", "result").first()


def baseline_startup_in_flight() -> TrainingRun | None:
    """The first model queued or running in the worker (`make run`), if any."""
    startup = TrainingRun.objects.filter(kind=TrainingRun.Kind.BASELINE, trigger=TrainingRun.Trigger.STARTUP)
    return startup.filter(status__in=TrainingRun.IN_FLIGHT).first()


def baseline_run_latest() -> TrainingRun | None:
    """The last baseline run, in the worker or from the command: what the
    drawing page shows while there is no model yet."""
    return TrainingRun.objects.filter(kind=TrainingRun.Kind.BASELINE).first()


def trade_decisions_list(*, limit: int = 50) -> QuerySet[TradeDecision]:
    return TradeDecision.objects.select_related("version")[:limit]


@functools.lru_cache(maxsize=1)
def _validation_x() -> np.ndarray:
    """The MNIST validation images, read once a process (4 MB): a staff page
    shows a few of them by index, and the split is the same in every process."""
    from .datasets import load_mnist, validation_split

    return validation_split(load_mnist()).x_validation


def validation_images_get(*, indices: Iterable[int]) -> dict[int, bytes]:
    """28x28 uint8 pixels of MNIST validation images by index; empty when
    MNIST is not on this host (the page says so)."""
    from .datasets import MnistError

    try:
        x = _validation_x()
    except MnistError:
        return {}
    return {int(i): x[int(i)].tobytes() for i in indices if 0 <= int(i) < len(x)}
