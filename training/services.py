"""Training runs, the only writer of ``TrainingRun``: request one (single
flight), reap runs whose worker died, claim, record progress, finish or fail,
and execute the two kinds (a baseline, a fine-tuning) through their stages
and the registry's services."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from models.models import ModelVersion
from models.registry import model_version_activate, model_version_register, model_version_reject
from models.selectors import active_model_version_get

from .fine_tune import FineTuneConfig
from .fitting import EpochCallback
from .litert import ExportRefused, LiteRTArtifact, litert_for_registration
from .locks import single_flight
from .models import TradeDecision, TrainingRun
from .pipeline import Candidate, fine_tune_candidate
from .selectors import (
    baseline_startup_in_flight,
    fine_tune_drawings_get,
    fine_tune_in_flight,
    last_fine_tune_run,
    lineage_best_validation_accuracy,
    new_samples_count,
)
from .train import TrainConfig

log = logging.getLogger(__name__)

# A queued run whose message was never picked up (no worker, a flushed
# broker) stops blocking new runs after this long; its message expires too
# (training.tasks.fine_tune_run).
QUEUED_EXPIRES_SECONDS = 6 * 3600
WORKER_LOST = "The worker running it stopped (killed, or its host lost) before it finished; nothing was registered."


class LockBusy(RuntimeError):
    """The retraining lock is held by someone else for a moment."""


class TradeError(ValueError):
    """A trade decision that cannot be recorded; the message says why."""


@dataclass
class RunRequest:
    run: TrainingRun | None
    message: str


# --- the lifecycle of a run ---------------------------------------------------


def training_run_request(*, trigger: str, by: str = "") -> RunRequest:
    """Queue a fine-tuning run unless one is already queued or running."""
    training_runs_reap()
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                kind=TrainingRun.Kind.FINE_TUNE,
                trigger=trigger,
                requested_by=by[:150],
                epochs=settings.FINE_TUNE_EPOCHS,
            )
            # Sent once the run is committed, so the worker never misses it.
            # Imported here: the tasks module imports this one.
            from .tasks import fine_tune_run

            fine_tune_run.delay_on_commit(run.pk)
    except IntegrityError:  # the one_fine_tune_in_flight constraint
        current = fine_tune_in_flight()
        what = f"run {current.pk} is {current.status}" if current else "another run is in flight"
        log.info("Retraining requested by %s (%s) while %s; not starting another", by or trigger, trigger, what)
        return RunRequest(None, f"A retraining is already in progress ({what}); not starting another.")
    log.info("Queued retraining run %s (%s, %s)", run.pk, trigger, by)
    return RunRequest(run, f"Retraining queued as run {run.pk}.")


def training_run_request_on_threshold() -> RunRequest:
    """Queue a run when RETRAIN_THRESHOLD drawings were approved since the last run."""
    count = new_samples_count()
    if count < settings.RETRAIN_THRESHOLD:
        return RunRequest(None, f"{count} new drawings of the {settings.RETRAIN_THRESHOLD} that start a run.")
    return training_run_request(trigger=TrainingRun.Trigger.THRESHOLD, by=f"{count} new drawings")


def training_runs_reap() -> int:
    """Mark runs whose worker died as failed (fine-tunings, and the first
    model trained in the worker); returns how many.

    A worker's run is RUNNING only while its worker holds the single-flight
    lock, so when we can take the lock, every RUNNING one is an orphan."""
    with single_flight() as held:
        if not held:
            return 0
        now = timezone.now()
        in_worker = TrainingRun.objects.filter(
            Q(kind=TrainingRun.Kind.FINE_TUNE) | Q(trigger=TrainingRun.Trigger.STARTUP)
        )
        lost = in_worker.filter(status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.FAILED, error=WORKER_LOST, finished_at=now
        )
        expired = in_worker.filter(
            status=TrainingRun.Status.QUEUED, created_at__lt=now - timedelta(seconds=QUEUED_EXPIRES_SECONDS)
        ).update(status=TrainingRun.Status.FAILED, error="No worker picked it up in time.", finished_at=now)
    if lost or expired:
        log.warning("Marked %s lost and %s expired training runs as failed", lost, expired)
    return lost + expired


def training_run_claim(*, run_id: int) -> bool:
    """Start a queued run; False when it is not queued any more (another
    delivery of the same message, or reaped)."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    return bool(claimed)


def training_run_progress(*, run_id: int, epoch: int, epochs: int, logs: dict) -> None:
    """Record one finished epoch (also a heartbeat)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        run.epoch, run.epochs = epoch, epochs
        run.history = [*run.history, {"epoch": epoch, **{k: round(v, 5) for k, v in logs.items()}}]
        run.heartbeat_at = timezone.now()
        run.save(update_fields=["epoch", "epochs", "history", "heartbeat_at"])


def training_run_finish(*, run_id: int, status: str, message: str = "", **fields) -> None:
    """Record how a run ended (succeeded or skipped) and what it produced."""
    TrainingRun.objects.filter(pk=run_id).update(status=status, message=message, finished_at=timezone.now(), **fields)


def training_run_fail(*, run_id: int, error: str) -> None:
    TrainingRun.objects.filter(pk=run_id, status__in=TrainingRun.IN_FLIGHT).update(
        status=TrainingRun.Status.FAILED, error=error[:10000], finished_at=timezone.now()
    )


def _progress_of(run_id: int, also: EpochCallback | None = None) -> EpochCallback:
    def progress(epoch: int, epochs: int, logs: dict) -> None:
        training_run_progress(run_id=run_id, epoch=epoch, epochs=epochs, logs=logs)
        if also:
            also(epoch, epochs, logs)

    return progress


def _version_register(
    *, model, litert: LiteRTArtifact, metrics: dict, parent: ModelVersion | None = None, **fields
) -> ModelVersion:
    """Register what a run trained, with its checked LiteRT export (what web
    processes serve) and the layer summary the page shows; once it commits,
    a worker reads the held-out and recent drawings with it (training.readings).
    The run points at the version (``TrainingRun.result``), not the other way:
    the registry knows nothing of training."""
    from .readings import version_readings_request

    version = model_version_register(
        model=model,
        litert=litert.content,
        architecture=litert.architecture,
        metrics={**metrics, "litert": litert.as_dict()},
        parent=parent,
        **fields,
    )
    version_readings_request(version_id=version.pk)
    return version


# --- a baseline ---------------------------------------------------------------


def baseline_train(
    *,
    config: TrainConfig,
    trigger: str = TrainingRun.Trigger.COMMAND,
    on_epoch: EpochCallback | None = None,
    verbose: int = 2,
    activate_if_none: bool = True,
) -> TrainingRun:
    """Train a baseline CNN on MNIST here, register it, and activate it when
    no version is active yet."""
    run = TrainingRun.objects.create(
        kind=TrainingRun.Kind.BASELINE,
        trigger=trigger,
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
        epochs=config.epochs,
        params=config.as_dict(),
    )
    try:
        _baseline(run, config, on_epoch=on_epoch, verbose=verbose, activate_if_none=activate_if_none)
    except Exception:
        training_run_fail(run_id=run.pk, error=traceback.format_exc())
        raise
    run.refresh_from_db()
    return run


def _baseline(
    run: TrainingRun, config: TrainConfig, *, on_epoch: EpochCallback | None, verbose: int, activate_if_none: bool
) -> None:
    from .datasets import load_mnist
    from .provenance import version_params
    from .train import train_baseline

    data = load_mnist()
    model, metrics, summary = train_baseline(data, config, on_epoch=_progress_of(run.pk, on_epoch), verbose=verbose)
    params = version_params(config, kind="baseline", method="baseline (from scratch)")
    # Checked on the test images the version is measured on; refused: nothing is registered.
    litert = litert_for_registration(model, images=data.x_test[: config.test_limit or None])
    # One transaction: a worker stopped half-way leaves no registered version
    # that nobody activates (an empty registry is what starts a first model).
    with transaction.atomic():
        version = _version_register(model=model, litert=litert, metrics=metrics, params=params, data_summary=summary)
        training_run_finish(run_id=run.pk, status=TrainingRun.Status.SUCCEEDED, result=version, data_summary=summary)
        if activate_if_none:
            by = f"training run {run.pk}"
            model_version_activate(version=version, by=by, reason="first baseline", expected_current=None)


def baseline_sizing() -> dict:
    """What of the baseline recipe (TrainConfig) a baseline trained without
    options changes: BASELINE_EPOCHS, BASELINE_TRAIN_LIMIT and
    BASELINE_TEST_LIMIT where set (tests and `make compose-check` train one
    in seconds).  The worker's first model and `train_baseline` both use it."""
    defaults = TrainConfig()
    return {
        "epochs": settings.BASELINE_EPOCHS or defaults.epochs,
        "train_limit": settings.BASELINE_TRAIN_LIMIT or defaults.train_limit,
        "test_limit": settings.BASELINE_TEST_LIMIT or defaults.test_limit,
    }


def baseline_run_request_if_empty() -> RunRequest:
    """Queue the first model's training for the worker when the registry is
    empty and no first model is queued or running (idempotent: `make run`
    asks at every start).  A run still queued is sent again, in case its
    message was lost with the broker's queue; a second delivery finds it
    claimed and does nothing."""
    training_runs_reap()
    if ModelVersion.objects.exists():
        return RunRequest(None, "The registry already holds a model; not training a first one.")
    # Imported here: the tasks module imports this one.
    from .tasks import baseline_run

    current = baseline_startup_in_flight()
    if current is None:
        overrides = baseline_sizing()
        try:
            with transaction.atomic():
                current = TrainingRun.objects.create(
                    kind=TrainingRun.Kind.BASELINE,
                    trigger=TrainingRun.Trigger.STARTUP,
                    requested_by="make run",
                    epochs=overrides["epochs"],
                    params=overrides,
                )
                baseline_run.delay_on_commit(current.pk)
        except IntegrityError:  # one_startup_baseline_in_flight: another start got there first
            current = baseline_startup_in_flight()
        else:
            return RunRequest(current, f"The registry is empty: the worker trains the first model as run {current.pk}.")
    if current is not None and current.status == TrainingRun.Status.QUEUED:
        baseline_run.delay(current.pk)
    what = f"run {current.pk} is {current.status}" if current else "it finished meanwhile"
    return RunRequest(current, f"The first model is already on its way ({what}).")


@contextmanager
def _run_claimed(run_id: int, what: str) -> Iterator[TrainingRun | None]:
    """Hold the retraining lock (so the reaper can tell a run whose worker
    died) and claim queued run ``run_id``: yields it, or None when it is not
    queued any more.  What the block raises fails the run, logged, and goes
    no further: an export refused is the whole story, anything else keeps
    its traceback."""
    with single_flight() as held:
        if not held:
            # Only a reaper holds it briefly; the broker delivers again.
            raise LockBusy(f"run {run_id}: the retraining lock is held")
        if not training_run_claim(run_id=run_id):
            log.info("Run %s is not queued any more; nothing to do", run_id)
            yield None
            return
        try:
            yield TrainingRun.objects.get(pk=run_id)
        except ExportRefused as exc:
            log.error("%s, run %s: %s", what, run_id, exc)
            training_run_fail(run_id=run_id, error=str(exc))
        except Exception:
            log.exception("%s, run %s, failed", what, run_id)
            training_run_fail(run_id=run_id, error=traceback.format_exc())


def baseline_run_execute(*, run_id: int) -> TrainingRun | None:
    """Claim a queued first-model run and train, register and activate it."""
    with _run_claimed(run_id, "First model") as run:
        if run is None:
            return None
        config = TrainConfig(**run.params)
        TrainingRun.objects.filter(pk=run_id).update(params=config.as_dict())

        def report(epoch: int, epochs: int, logs: dict) -> None:
            log.info(
                "First model, run %s: epoch %s/%s, accuracy %.4f, validation %.4f",
                run_id,
                epoch,
                epochs,
                logs.get("accuracy", 0.0),
                logs.get("val_accuracy", 0.0),
            )

        _baseline(run, config, on_epoch=report, verbose=0, activate_if_none=True)
    return TrainingRun.objects.get(pk=run_id)


# --- a fine-tuning ------------------------------------------------------------


def fine_tune_run_execute(*, run_id: int) -> TrainingRun | None:
    """Claim a queued run, fine-tune, gate, register, maybe promote.

    Everything a run writes at the end (the version, its gate decision, the
    activation, the run's outcome) is one transaction, so a worker killed at
    any point leaves no half-registered version, only a RUNNING run that the
    next trigger or worker start marks failed."""
    with _run_claimed(run_id, "Fine-tuning") as run:
        if run is None:
            return None
        _fine_tune(run)
    return TrainingRun.objects.get(pk=run_id)


def _fine_tune(run: TrainingRun) -> None:
    """Read the drawings, fine-tune, evaluate, gate and export
    (training.pipeline), then register what came out."""
    skipped = TrainingRun.Status.SKIPPED
    parent = active_model_version_get()
    if parent is None:
        training_run_finish(run_id=run.pk, status=skipped, message="No active version to fine-tune from.")
        return
    data_until = timezone.now()
    drawings = fine_tune_drawings_get()
    if not drawings.pick.new:
        last = last_fine_tune_run()
        after = f" since run {last.pk}" if last else ""
        message = f"Nothing new to learn{after}: {drawings.pick.available} drawings, none newly approved."
        training_run_finish(run_id=run.pk, status=skipped, message=message, parent=parent, data_until=data_until)
        return
    lineage_best = lineage_best_validation_accuracy(version=parent)
    config = FineTuneConfig.from_settings()
    TrainingRun.objects.filter(pk=run.pk).update(parent=parent, params=config.as_dict(), epochs=config.epochs)
    # Everything before the registering transaction, the export included
    # (seconds of work).
    candidate = fine_tune_candidate(
        parent=parent,
        config=config,
        drawings=drawings,
        on_epoch=_progress_of(run.pk),
        lineage_best_validation=lineage_best,
    )
    candidate.data_summary["collected_until"] = data_until.isoformat()
    _fine_tune_outcome_record(run, parent, candidate, data_until)


def _fine_tune_outcome_record(run: TrainingRun, parent: ModelVersion, candidate: Candidate, data_until) -> None:
    """Register the candidate, promote or reject it as the gate said, and
    finish the run, all in one transaction."""
    with transaction.atomic():
        version = _version_register(
            model=candidate.model,
            litert=candidate.litert,
            metrics=candidate.metrics,
            params=candidate.params,
            data_summary=candidate.data_summary,
            parent=parent,
        )
        reason = candidate.decision.reason
        if candidate.decision.passed:
            by = f"training run {run.pk}"
            version = model_version_activate(version=version, by=by, reason=reason, expected_current=parent)
        else:
            version = model_version_reject(version=version, reason=reason)
        outcome = {ModelVersion.Status.ACTIVE: "promoted", ModelVersion.Status.REJECTED: "rejected by the gate"}
        message = f"{version} {outcome.get(version.status, 'stays a candidate')}. {version.status_reason}"
        training_run_finish(
            run_id=run.pk,
            status=TrainingRun.Status.SUCCEEDED,
            message=message,
            result=version,
            data_summary=candidate.data_summary,
            data_until=data_until,
        )


# --- a trade, decided by staff ------------------------------------------------


def version_trade_decide(*, version: ModelVersion, decision: str, by: str, reason: str) -> TradeDecision:
    """Record staff's answer to a trade the gate refused (a candidate that
    gained held-out drawings and lost validation images of a digit).

    Accepting promotes the candidate through the registry, only while the
    parent it was measured against is still the one served; refusing keeps it
    refused.  Nothing is stored when it cannot be done (TradeError)."""
    reason = reason.strip()
    if decision not in TradeDecision.Decision.values:
        raise TradeError(f"Decide 'accepted' or 'refused', not {decision!r}.")
    if not reason:
        raise TradeError("Give the reason: it is recorded with the decision.")
    with transaction.atomic():
        target = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if target.status != ModelVersion.Status.REJECTED or not (target.metrics or {}).get("trade"):
            raise TradeError(f"{target} has no trade waiting: it is {target.get_status_display().lower()}.")
        if TradeDecision.objects.filter(version=target).exists():
            raise TradeError(f"The trade of {target} was already decided.")
        if decision == TradeDecision.Decision.ACCEPTED:
            note = f"trade accepted by {by}: {reason}"
            target = model_version_activate(version=target, by=by, reason=note, expected_current=target.parent)
            if target.status != ModelVersion.Status.ACTIVE:
                # It was judged against its parent; against another served version it was not.
                raise TradeError(f"{target} was judged against {target.parent}, which is no longer served.")
        made = TradeDecision.objects.create(version=target, decision=decision, by=by[:150], reason=reason)
    log.info("Trade of %s %s by %s: %s", target, decision, by, reason)
    return made
