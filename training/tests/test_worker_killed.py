"""A worker killed with SIGKILL in the middle of a fine-tuning run."""

import pytest

from models.models import ModelVersion
from training.locks import single_flight
from training.models import TrainingRun
from training.services import WORKER_LOST, training_run_request

from .conftest import wait_until
from .processes import start_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_killed_worker_leaves_the_run_failed_the_lock_free_and_nothing_registered(
    worker_folder, served_version, make_drawings, mnist
):
    from webapp.celery import app

    app.control.purge()
    make_drawings(mnist.x_train[50000:50100], mnist.y_train[50000:50100])
    # Long enough that the kill lands mid-training.
    doomed = start_worker(worker_folder, name="doomed", FINE_TUNE_EPOCHS="200")
    fresh = None
    try:
        run = training_run_request(trigger=TrainingRun.Trigger.MANUAL).run
        wait_until(lambda: TrainingRun.objects.get(pk=run.pk).epoch >= 1, timeout=120, message="no epoch finished")
        doomed.kill()

        run.refresh_from_db()
        assert run.status == TrainingRun.Status.RUNNING  # nobody has noticed yet

        def lock_free() -> bool:
            with single_flight() as held:
                return held

        # The server frees it as soon as it sees the dead process's connection close.
        wait_until(lock_free, timeout=10, message="the dead worker's lock was not freed")
        assert ModelVersion.objects.count() == 1
        assert not [p for p in (worker_folder / "artifacts").glob("*.keras") if p.name != served_version.artifact.name]

        # A worker that starts marks the orphan failed...
        fresh = start_worker(worker_folder, name="fresh")
        wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.FAILED, timeout=60)
        run.refresh_from_db()
        assert run.error == WORKER_LOST and run.finished_at and run.result is None

        # ...and retraining goes on: the next trigger is not blocked.
        again = training_run_request(trigger=TrainingRun.Trigger.MANUAL).run
        assert again is not None
        wait_until(lambda: TrainingRun.objects.get(pk=again.pk).status in TrainingRun.FINISHED, timeout=180)
        again.refresh_from_db()
        assert again.status == TrainingRun.Status.SUCCEEDED, again.error
    finally:
        doomed.stop()
        if fresh:
            fresh.stop()
