"""Training runs as recorded work: create, progress, finish."""

from __future__ import annotations

import logging
import traceback

from django.db import transaction
from django.utils import timezone

from models.registry import model_version_activate, model_version_register

from .models import TrainingRun
from .train import TrainConfig, code_revision

log = logging.getLogger(__name__)


def training_run_progress(*, run_id: int, epoch: int, epochs: int, logs: dict) -> None:
    """Record one finished epoch (also a heartbeat)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        run.epoch, run.epochs = epoch, epochs
        run.history = [*run.history, {"epoch": epoch, **{k: round(v, 5) for k, v in logs.items()}}]
        run.heartbeat_at = timezone.now()
        run.save(update_fields=["epoch", "epochs", "history", "heartbeat_at"])


def training_run_fail(*, run_id: int, error: str) -> None:
    TrainingRun.objects.filter(pk=run_id, status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]).update(
        status=TrainingRun.Status.FAILED, error=error[:10000], finished_at=timezone.now()
    )


def baseline_train(
    *,
    config: TrainConfig,
    trigger: str = TrainingRun.Trigger.COMMAND,
    on_epoch=None,
    verbose: int = 2,
    activate_if_none: bool = True,
) -> TrainingRun:
    """Train a baseline CNN on MNIST, register it, and activate it when no
    version is active yet."""
    from .datasets import load_mnist
    from .network import architecture_summary
    from .train import train_baseline

    data = load_mnist()
    run = TrainingRun.objects.create(
        kind=TrainingRun.Kind.BASELINE,
        trigger=trigger,
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
        epochs=config.epochs,
        params=config.as_dict(),
    )

    def progress(epoch, epochs, logs):
        training_run_progress(run_id=run.pk, epoch=epoch, epochs=epochs, logs=logs)
        if on_epoch:
            on_epoch(epoch, epochs, logs)

    try:
        model, metrics, summary = train_baseline(data, config, on_epoch=progress, verbose=verbose)
        params = {**config.as_dict(), "code_revision": code_revision(), "kind": "baseline"}
        version = model_version_register(
            model=model,
            architecture=architecture_summary(model),
            metrics=metrics,
            params=params,
            data_summary=summary,
            training_run=run,
        )
        run.refresh_from_db()
        run.status = TrainingRun.Status.SUCCEEDED
        run.result = version
        run.data_summary = summary
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "result", "data_summary", "finished_at"])
        if activate_if_none:
            by = f"training run {run.pk}"
            model_version_activate(version=version, by=by, reason="first baseline", expected_current=None)
    except Exception:
        training_run_fail(run_id=run.pk, error=traceback.format_exc())
        raise
    run.refresh_from_db()
    return run
