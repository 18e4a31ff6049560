"""A drawing's history: how a newly registered version reads the held-out
drawings and the recent ones, computed once in the worker and stored
(digits.services.sample_readings_store), so the review queue, the admin and
the /models/ scoreboard only read it."""

from __future__ import annotations

import logging

from django.db import transaction

from digits.models import Sample
from digits.selectors import sample_ids_read_by, samples_arrays
from digits.services import sample_readings_store
from models.selectors import model_version_by_id_get

from .selectors import is_held_out

log = logging.getLogger(__name__)

READINGS_TASK = "training.version_readings"  # sent by name: this module does not import the tasks
RECENT = 500  # the newest drawings read by every new version
HELDOUT_SCAN = 5000  # the newest drawings searched for held-out ones


def readings_drawings(*, recent: int = RECENT, scan: int = HELDOUT_SCAN) -> tuple[list[int], set[int]]:
    """Ids of the drawings a new version reads: the newest held-out drawings
    (never trained on: fair for comparing versions) and the newest ones."""
    newest = list(Sample.objects.order_by("-id").values_list("id", "image_sha256")[:scan])
    held_out = {sample_id for sample_id, sha in newest if is_held_out(sha)}
    ids = held_out | {sample_id for sample_id, _ in newest[:recent]}
    return sorted(ids), held_out


def version_readings_compute(*, version_id: int) -> int:
    """Read the drawings with a new version, and with its parent those the
    parent has not read yet (so the two compare on the same drawings), and
    store what each said.  Idempotent: stored readings stay."""
    from models.serving import load_version

    version = model_version_by_id_get(version_id=version_id)
    if version is None:
        return 0
    ids, held_out = readings_drawings()
    if not ids:
        return 0
    x, _, read_ids = samples_arrays(Sample.objects.filter(id__in=ids))
    sample_ids = [int(i) for i in read_ids]
    stored = 0
    for reader in [version, version.parent] if version.parent_id else [version]:
        already = sample_ids_read_by(version_id=reader.pk)
        unread = [i for i, sample_id in enumerate(sample_ids) if sample_id not in already]
        if not unread:
            continue
        probabilities = load_version(reader).predictor.predict_batch(x[unread])
        stored += sample_readings_store(
            version=reader, sample_ids=[sample_ids[i] for i in unread], probabilities=probabilities, held_out=held_out
        )
    log.info("%s: %s drawings (%s held out) read; %s new readings", version, len(sample_ids), len(held_out), stored)
    return stored


def version_readings_request(*, version_id: int) -> None:
    """Once the registration commits, have a worker compute the readings.  A
    broker that is down loses only the readings, never the version."""
    from celery import current_app

    def send() -> None:
        try:
            current_app.send_task(READINGS_TASK, args=[version_id])
        except Exception:  # the version is registered; its readings can be computed later
            log.exception("Could not queue the readings of version id %s", version_id)

    transaction.on_commit(send)
