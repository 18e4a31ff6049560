"""Celery tasks that retrain: thin, idempotent, taking ids, calling services.

Nothing here imports TensorFlow at module level: this module is imported by
the worker's parent process (which forks the pool) and by beat.  The heavy
work is imported inside the services, so TensorFlow first loads in the pool
child that runs a fine-tuning.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from .models import TrainingRun
from .readings import READINGS_TASK
from .services import (
    QUEUED_EXPIRES_SECONDS,
    LockBusy,
    baseline_run_execute,
    fine_tune_run_execute,
    training_run_request,
    training_run_request_on_threshold,
    training_runs_reap,
)

log = logging.getLogger(__name__)


@shared_task(
    name="training.fine_tune_run",
    bind=True,
    acks_late=True,
    max_retries=30,
    expires=QUEUED_EXPIRES_SECONDS,  # as the run it executes (training.services.training_runs_reap)
    # The soft limit raises inside the task (the run is marked failed); the
    # hard one kills the pool child, and the next trigger reaps the run.
    soft_time_limit=settings.RETRAIN_TIME_LIMIT,
    time_limit=settings.RETRAIN_TIME_LIMIT + 60,
)
def fine_tune_run(self, run_id: int) -> None:
    try:
        fine_tune_run_execute(run_id=run_id)
    except LockBusy as exc:
        raise self.retry(exc=exc, countdown=2) from exc


@shared_task(
    name="training.baseline_run",
    bind=True,
    acks_late=True,
    max_retries=30,
    soft_time_limit=settings.RETRAIN_TIME_LIMIT,
    time_limit=settings.RETRAIN_TIME_LIMIT + 60,
)
def baseline_run(self, run_id: int) -> None:
    """The first model, when `make run` starts with an empty registry."""
    try:
        baseline_run_execute(run_id=run_id)
    except LockBusy as exc:
        raise self.retry(exc=exc, countdown=2) from exc


@shared_task(name="training.retrain_scheduled", ignore_result=True)
def retrain_scheduled() -> str:
    """The nightly run (a django-celery-beat schedule staff can edit)."""
    return training_run_request(trigger=TrainingRun.Trigger.SCHEDULE, by="schedule").message


@shared_task(name="training.retrain_check_threshold", ignore_result=True)
def retrain_check_threshold() -> str:
    return training_run_request_on_threshold().message


@shared_task(name="training.reap_runs", ignore_result=True)
def reap_runs() -> int:
    return training_runs_reap()


@worker_ready.connect
def _reap_on_worker_start(sender=None, **kwargs) -> None:
    """A worker that starts after one was killed marks the orphaned run failed
    (through the broker, so the parent process touches no database)."""
    reap_runs.delay()


@shared_task(name=READINGS_TASK, ignore_result=True, acks_late=True)
def version_readings(version_id: int) -> int:
    """How a newly registered version reads the held-out and recent drawings."""
    from .readings import version_readings_compute

    return version_readings_compute(version_id=version_id)
