"""Retraining end to end through a real Celery worker, Redis and PostgreSQL,
on a small slice of MNIST with one short epoch."""

from pathlib import Path

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from digits.models import SampleReading
from models.models import ModelActivation, ModelVersion
from training.locks import single_flight
from training.models import TrainingRun
from training.selectors import training_runs_by_version
from training.services import training_run_request
from training.tasks import retrain_check_threshold

from .conftest import wait_until
from .processes import start_beat

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _worker_idle_before_flush(transactional_db, worker):
    """A registered version sends the worker a readings task after the run
    has finished; the test database is emptied (TRUNCATE) when a test ends,
    and the two deadlock when they overlap.  So each test ends only once the
    worker has nothing active or reserved, twice in a row."""
    yield
    from webapp.celery import app

    def idle() -> bool:
        inspect = app.control.inspect(timeout=1.0)
        busy = [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
        return not any(busy)

    wait_until(lambda: idle() and idle(), timeout=120, interval=0.5, message="the worker is still busy")


def finished(run_id: int, timeout: float = 180) -> TrainingRun:
    def done():
        run = TrainingRun.objects.select_related("result", "parent").get(pk=run_id)
        return run if run.status in TrainingRun.FINISHED else None

    return wait_until(done, timeout=timeout, message=f"run {run_id} did not finish")


def maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def mnist_drawings(mnist, count: int, start: int = 50000):
    """Real handwriting the tiny model has not trained on, as if collected."""
    return mnist.x_train[start : start + count], mnist.y_train[start : start + count]


def test_a_manual_run_fine_tunes_passes_the_gate_and_is_served(worker, served_version, make_drawings, mnist):
    # The gate compares per focus digit on the held-out drawings, so the run
    # must clearly improve on the tiny served model (about 80% on MNIST) for
    # its verdict not to be a coin toss: about twenty held-out drawings of
    # each digit and three epochs.
    make_drawings(*mnist_drawings(mnist, 1000))
    request = training_run_request(trigger=TrainingRun.Trigger.MANUAL, by="alice", overrides={"epochs": 3})
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


def test_a_candidate_that_forgets_mnist_fails_the_gate_and_is_rejected_with_the_reason(
    worker, served_version, make_drawings, mnist
):
    # A learning rate far too high for fine-tuning wrecks what the parent knew.
    make_drawings(*mnist_drawings(mnist, 100))
    request = training_run_request(trigger=TrainingRun.Trigger.MANUAL, overrides={"learning_rate": 0.05})
    run = finished(request.run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    candidate = run.result
    assert candidate.status == ModelVersion.Status.REJECTED
    assert candidate.status_reason.startswith("Gate failed: MNIST validation (paired)")
    assert not candidate.metrics["gate"]["passed"]
    assert f"{candidate} rejected by the gate. Gate failed" in run.message
    served_version.refresh_from_db()
    assert served_version.status == ModelVersion.Status.ACTIVE

    # Once the version committed, the worker read every drawing (all 100 are
    # recent) with it and with its parent, and stored what each said.
    read = lambda version: SampleReading.objects.filter(version=version).count()  # noqa: E731
    wait_until(lambda: read(candidate) == 100 and read(served_version) == 100, timeout=120, message="no readings")
    held_out = SampleReading.objects.filter(version=candidate, held_out=True).count()
    assert 0 < held_out < 100


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
