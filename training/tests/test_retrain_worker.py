"""Retraining end to end through a real Celery worker, Redis and PostgreSQL,
on a small slice of MNIST with three short epochs (the worker's settings)."""

from pathlib import Path

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from models.models import ModelActivation, ModelVersion
from training.locks import single_flight
from training.models import TrainingRun
from training.selectors import training_runs_by_version
from training.services import training_run_request
from training.tasks import retrain_check_threshold

from .conftest import finished, mnist_drawings, wait_until
from .processes import start_beat

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker_idle_after")]

# The gate compares per focus digit on the held-out drawings, so a run must
# clearly improve on the tiny served model (about 80% on MNIST) for its
# verdict not to be a coin toss: three epochs.  The tiny model (one epoch on
# 3,000 images) moves by a point or two on single digits from one fine-tune to
# the next (measured: 0s 99.06% -> 98.12%, 9 lost and 4 gained of 532), so
# the default per-digit floor of 0.5 point would refuse this promotion by
# chance; these tests are about the pipeline, the floor has its own tests
# (test_gate.py), and the per-digit McNemar test with Holm still applies.
WORKER_ENV = {"FINE_TUNE_EPOCHS": "3", "GATE_PER_CLASS_FLOOR": "0.03"}


def maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_manual_run_fine_tunes_passes_the_gate_and_is_served(worker, served_version, make_drawings, mnist):
    # About twenty held-out drawings of each digit, and three epochs (WORKER_ENV).
    make_drawings(*mnist_drawings(mnist, 1000))
    request = training_run_request(trigger=TrainingRun.Trigger.MANUAL, by="alice")
    assert request.run is not None and "queued" in request.message

    run = finished(request.run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert (run.trigger, run.requested_by, run.parent) == ("manual", "alice", served_version)
    assert run.epoch == run.epochs == 3 and {"epoch", "loss", "accuracy"} <= set(run.history[0])
    summary = run.data_summary
    assert sum(summary["collected_per_digit"]) + sum(summary["heldout_per_digit"]) == 1000
    assert 150 <= sum(summary["heldout_per_digit"]) <= 250  # the 20% held out, by content
    assert sum(summary["mnist_per_digit"]) == 2000

    version = run.result
    assert version.parent == served_version and training_runs_by_version(version_ids=[version.pk]) == {
        version.pk: run.pk
    }
    assert version.status == ModelVersion.Status.ACTIVE, version.status_reason
    assert version.status_reason.startswith("Gate passed")
    assert version.metrics["gate"]["passed"] and len(version.metrics["heldout_confusion"]) == 10
    per_digit = [c for c in version.metrics["gate"]["checks"] if "digit" in c]
    assert [c["check"] for c in per_digit] == [f"MNIST validation, {d}s" for d in range(10)]
    # The trade is computed by the worker when it judges the candidate: lost
    # validation images (by index) with their nearest gained held-out drawings.
    trade = version.metrics["trade"]
    lost = sorted(i for c in per_digit for i in c["lost"])
    if trade is not None:  # None when nothing was lost or nothing gained
        assert [m["index"] for m in trade["misread"]] == lost[:200]
        assert {n for m in trade["misread"] for n in m["neighbours"]} <= set(trade["gained"])
    assert {"mnist_7_as_9", "heldout_9_as_7", "validation_accuracy", "temperature", "mnist_ece"} <= set(version.metrics)
    assert version.params["method"].startswith("fine-tune: ") and version.params["kind"] == "fine_tune"
    assert f"{sum(summary['mnist_per_digit']):,} MNIST rehearsal images" in version.params["method"]
    assert version.params["learning_rate"] == 0.001 and version.params["parent"] == served_version.version
    activation = ModelActivation.objects.get(version=version)
    assert activation.by == f"training run {run.pk}" and activation.previous == served_version

    # TensorFlow was loaded in the pool child that trained, never in the
    # worker's parent, which forks the pool.
    assert "tensorflow" not in maps(worker.proc.pid)
    assert any("tensorflow" in maps(child) for child in children(worker.proc.pid))

    # Nothing approved since: the next run is recorded as skipped, not trained.
    again = finished(training_run_request(trigger=TrainingRun.Trigger.MANUAL, by="alice").run.pk)
    assert again.status == TrainingRun.Status.SKIPPED and "Nothing new" in again.message
    assert ModelVersion.objects.count() == 2


def test_a_run_with_no_drawings_is_skipped(worker, served_version):
    run = finished(training_run_request(trigger=TrainingRun.Trigger.MANUAL).run.pk)
    assert run.status == TrainingRun.Status.SKIPPED and "Nothing new to learn" in run.message
    assert ModelVersion.objects.count() == 1


def test_the_threshold_check_starts_a_run_once_enough_drawings_are_approved(
    worker, served_version, make_drawings, mnist, settings
):
    settings.RETRAIN_THRESHOLD = 100
    make_drawings(*mnist_drawings(mnist, 60))
    assert "60 new drawings of the 100" in retrain_check_threshold()
    assert not TrainingRun.objects.exists()

    make_drawings(*mnist_drawings(mnist, 60, start=51000))
    assert "queued" in retrain_check_threshold()
    run = finished(TrainingRun.objects.get().pk)
    assert run.trigger == TrainingRun.Trigger.THRESHOLD and run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "120 new drawings" in run.requested_by
    # Counted from the last run on: nothing new, no new run.
    assert "0 new drawings" in retrain_check_threshold()


def test_single_flight_a_second_trigger_says_so_and_a_held_lock_holds_the_run_back(
    worker, served_version, make_drawings, mnist
):
    make_drawings(*mnist_drawings(mnist, 100))
    with single_flight() as held:  # as if another host were retraining
        assert held
        first = training_run_request(trigger=TrainingRun.Trigger.MANUAL, by="alice")
        second = training_run_request(trigger=TrainingRun.Trigger.SCHEDULE, by="schedule")
        assert second.run is None and "already in progress" in second.message
        assert f"run {first.run.pk} is queued" in second.message
        # The worker may not start it while the lock is held elsewhere.
        wait_until(lambda: "retrying" in worker.output().lower() or "Retry in" in worker.output(), timeout=60)
        assert TrainingRun.objects.get(pk=first.run.pk).status == TrainingRun.Status.QUEUED
    run = finished(first.run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert TrainingRun.objects.count() == 1


def test_beat_starts_the_scheduled_run_from_the_database_schedule(worker, worker_folder, served_version):
    # Staff edit the schedule in the admin; here, the nightly task every second.
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name="Nightly retraining",
        defaults={"task": "training.retrain_scheduled", "interval": every_second, "crontab": None, "enabled": True},
    )
    beat = start_beat(worker_folder / "beat")
    try:
        run = wait_until(lambda: TrainingRun.objects.filter(trigger=TrainingRun.Trigger.SCHEDULE).first(), timeout=60)
    finally:
        beat.stop()
    run = finished(run.pk)
    assert run.requested_by == "schedule"
    assert run.status == TrainingRun.Status.SKIPPED and "Nothing new" in run.message
