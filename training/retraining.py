"""Retraining as recorded work: request a run (single flight), reap runs
whose worker died, and execute one: fine-tune, gate, register, promote."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from digits.models import Sample
from digits.selectors import DrawingArrays, samples_arrays
from models.models import ModelVersion
from models.registry import model_version_activate, model_version_register, model_version_reject
from models.selectors import active_model_version_get

from .locks import single_flight
from .models import TrainingRun
from .selectors import (
    DrawingsPick,
    fine_tune_in_flight,
    last_fine_tune_run,
    new_samples_count,
    training_drawings_pick,
)
from .services import training_run_fail, training_run_progress
from .train import code_revision

log = logging.getLogger(__name__)


# A queued run whose message was never picked up (no worker, a flushed
# broker) stops blocking new runs after this long; its message expires too.
QUEUED_EXPIRES_SECONDS = 6 * 3600
WORKER_LOST = "The worker running it stopped (killed, or its host lost) before it finished; nothing was registered."


class LockBusy(RuntimeError):
    """The retraining lock is held by someone else for a moment."""


@dataclass
class RetrainRequest:
    run: TrainingRun | None
    message: str


def training_runs_reap() -> int:
    """Mark fine-tuning runs whose worker died as failed; returns how many.

    A run is RUNNING only while its worker holds the single-flight lock, so
    when we can take the lock, every RUNNING run is an orphan."""
    with single_flight() as held:
        if not held:
            return 0
        now = timezone.now()
        fine_tunes = TrainingRun.objects.filter(kind=TrainingRun.Kind.FINE_TUNE)
        lost = fine_tunes.filter(status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.FAILED, error=WORKER_LOST, finished_at=now
        )
        expired = fine_tunes.filter(
            status=TrainingRun.Status.QUEUED, created_at__lt=now - timedelta(seconds=QUEUED_EXPIRES_SECONDS)
        ).update(status=TrainingRun.Status.FAILED, error="No worker picked it up in time.", finished_at=now)
    if lost or expired:
        log.warning("Marked %s lost and %s expired fine-tuning runs as failed", lost, expired)
    return lost + expired


def retrain_request(*, trigger: str, by: str = "", overrides: dict | None = None) -> RetrainRequest:
    """Queue a fine-tuning run unless one is already queued or running.
    ``overrides`` replace settings of this one run (FineTuneConfig fields)."""
    from .fine_tune import FineTuneConfig
    from .tasks import fine_tune_run

    FineTuneConfig.from_settings(**(overrides or {}))  # refuse unknown settings now, not in the worker
    training_runs_reap()
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                kind=TrainingRun.Kind.FINE_TUNE,
                trigger=trigger,
                requested_by=by[:150],
                epochs=(overrides or {}).get("epochs", settings.FINE_TUNE_EPOCHS),
                params=overrides or {},
            )
            fine_tune_run.apply_async_on_commit((run.pk,), expires=QUEUED_EXPIRES_SECONDS)
    except IntegrityError:  # the one_fine_tune_in_flight constraint
        current = fine_tune_in_flight()
        what = f"run {current.pk} is {current.status}" if current else "another run is in flight"
        log.info("Retraining requested by %s (%s) while %s; not starting another", by or trigger, trigger, what)
        return RetrainRequest(None, f"A retraining is already in progress ({what}); not starting another.")
    log.info("Queued retraining run %s (%s, %s)", run.pk, trigger, by)
    return RetrainRequest(run, f"Retraining queued as run {run.pk}.")


def retrain_if_threshold() -> RetrainRequest:
    """Queue a run when RETRAIN_THRESHOLD drawings were approved since the last one started."""
    last = TrainingRun.objects.filter(kind=TrainingRun.Kind.FINE_TUNE).exclude(status=TrainingRun.Status.SKIPPED)
    last = last.order_by("-created_at").first()
    count = new_samples_count(since=(last.data_until or last.created_at) if last else None)
    if count < settings.RETRAIN_THRESHOLD:
        return RetrainRequest(None, f"{count} new drawings of the {settings.RETRAIN_THRESHOLD} that start a run.")
    return retrain_request(trigger=TrainingRun.Trigger.THRESHOLD, by=f"{count} new drawings")


def _training_run_finish(run_id: int, status: str, message: str, **fields) -> None:
    TrainingRun.objects.filter(pk=run_id).update(status=status, message=message, finished_at=timezone.now(), **fields)


def fine_tune_run_execute(*, run_id: int) -> TrainingRun | None:
    """Claim a queued run, fine-tune, gate, register, maybe promote.

    Everything a run writes at the end (the version, its gate decision, the
    activation, the run's outcome) is one transaction, so a worker killed at
    any point leaves no half-registered version, only a RUNNING run that the
    next trigger or worker start marks failed."""
    with single_flight() as held:
        if not held:
            # Only a reaper holds it briefly; the broker delivers again.
            raise LockBusy(f"run {run_id}: the retraining lock is held")
        now = timezone.now()
        claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now
        )
        if not claimed:
            log.info("Run %s is not queued any more; nothing to do", run_id)
            return None
        try:
            _fine_tune(run_id)
        except Exception:
            log.exception("Fine-tuning run %s failed", run_id)
            training_run_fail(run_id=run_id, error=traceback.format_exc())
    return TrainingRun.objects.get(pk=run_id)


def _fine_tune(run_id: int) -> None:
    from models.serving import read_model

    from . import fine_tune as ft
    from .datasets import load_mnist
    from .gate import promotion_gate

    run = TrainingRun.objects.get(pk=run_id)
    parent = active_model_version_get()
    if parent is None:
        _training_run_finish(run_id, TrainingRun.Status.SKIPPED, "No active version to fine-tune from.")
        return
    data_until = timezone.now()
    train, heldout, pick, skip = _drawings(since=last_fine_tune_run())
    if skip:
        _training_run_finish(run_id, TrainingRun.Status.SKIPPED, skip, parent=parent, data_until=data_until)
        return

    config = ft.FineTuneConfig.from_settings(**run.params)
    TrainingRun.objects.filter(pk=run_id).update(parent=parent, params=config.as_dict(), epochs=config.epochs)
    mnist = load_mnist()
    data = ft.build_training_set(
        mnist_x=mnist.x_train,
        mnist_y=mnist.y_train,
        drawings_x=train.x,
        drawings_y=train.y,
        config=config,
    )
    test_x, test_y = mnist.x_test, mnist.y_test
    if config.test_limit:
        test_x, test_y = test_x[: config.test_limit], test_y[: config.test_limit]
    judge = dict(mnist_x=test_x, mnist_y=test_y, heldout_x=heldout.x, heldout_y=heldout.y)
    summary = {
        **data.summary,
        "new_drawings": pick.new,
        "drawings_available": pick.available,
        "heldout_per_digit": ft.per_digit(judge["heldout_y"]),
        "mnist_test_count": int(len(test_y)),
        "collected_until": data_until.isoformat(),
    }

    def progress(epoch, epochs, logs):
        training_run_progress(run_id=run_id, epoch=epoch, epochs=epochs, logs=logs)

    parent_metrics = ft.evaluate(read_model(parent), **judge)
    model = ft.fine_tune(read_model(parent), data, config, on_epoch=progress)
    metrics = ft.evaluate(model, **judge)
    decision = promotion_gate(
        candidate=metrics,
        active=parent_metrics,
        focus_digits=config.focus_digits,
        mnist_tolerance=settings.GATE_MNIST_TOLERANCE,
    )
    metrics["gate"] = decision.as_dict()
    metrics["parent_metrics"] = {k: v for k, v in parent_metrics.items() if not k.endswith("_confusion")}
    params = {**config.as_dict(), "code_revision": code_revision(), "kind": "fine_tune", "parent": parent.version}
    _register_outcome(run, parent, model, metrics, params, summary, decision, data_until)


def _drawings(*, since: TrainingRun | None) -> tuple[DrawingArrays, DrawingArrays, DrawingsPick, str]:
    """Training and held-out drawings (capped: training.selectors.training_drawings_pick),
    what was picked, and why to skip (nothing new) or ''."""
    pick = training_drawings_pick(
        since=since.data_until if since else None,
        cap=settings.FINE_TUNE_MAX_DRAWINGS,
        heldout_cap=settings.FINE_TUNE_MAX_HELDOUT,
    )
    if not pick.new:
        after = f" since run {since.pk}" if since else ""
        empty = samples_arrays(Sample.objects.none())
        return empty, empty, pick, f"Nothing new to learn{after}: {pick.available} drawings, none newly approved."
    train = samples_arrays(Sample.objects.filter(id__in=pick.train_ids))
    heldout = samples_arrays(Sample.objects.filter(id__in=pick.heldout_ids))
    return train, heldout, pick, ""


def _register_outcome(run, parent, model, metrics, params, summary, decision, data_until) -> None:
    """Register the candidate and record the outcome in one transaction."""
    from .network import architecture_summary

    with transaction.atomic():
        version = model_version_register(
            model=model,
            architecture=architecture_summary(model),
            metrics=metrics,
            params=params,
            data_summary=summary,
            parent=parent,
            training_run=run,
        )
        if decision.passed:
            by = f"training run {run.pk}"
            version = model_version_activate(version=version, by=by, reason=decision.reason, expected_current=parent)
        else:
            version = model_version_reject(version=version, reason=decision.reason)
        outcome = {
            ModelVersion.Status.ACTIVE: "promoted",
            ModelVersion.Status.REJECTED: "rejected by the gate",
        }.get(version.status, "stays a candidate")
        _training_run_finish(
            run.pk,
            TrainingRun.Status.SUCCEEDED,
            f"{version} {outcome}. {version.status_reason}",
            result=version,
            data_summary=summary,
            data_until=data_until,
        )
