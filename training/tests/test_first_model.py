"""The first model: `make run` with an empty registry queues a baseline run
that a real Celery worker claims, trains (progress per epoch), registers and
activates; asking again changes nothing.  Small settings: seconds of training."""

import pytest
from django.test import Client

from models.models import ModelActivation, ModelVersion
from training.models import TrainingRun
from training.services import WORKER_LOST, baseline_run_request_if_empty

from .conftest import wait_until

# Minutes, not seconds, when the two shared cores are busy: a wide margin.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]


@pytest.fixture(autouse=True)
def _small_first_model(settings):
    settings.BASELINE_EPOCHS = 2
    settings.BASELINE_TRAIN_LIMIT = 2000
    settings.BASELINE_TEST_LIMIT = 1000


@pytest.fixture(autouse=True)
def _worker_idle_before_flush(transactional_db, worker):
    """The version's readings task runs after the run; the test database is
    emptied only once the worker is idle (see test_retrain_worker)."""
    yield
    from webapp.celery import app

    def idle() -> bool:
        inspect = app.control.inspect(timeout=1.0)
        return not any([*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()])

    wait_until(lambda: idle() and idle(), timeout=600, interval=0.5, message="the worker is still busy")


def version_metrics_count(run: TrainingRun) -> int:
    return run.result.data_summary["mnist_test_count"]


def first_model_json() -> dict:
    response = Client().get("/api/training/first-model")
    assert response.status_code == 200
    return response.json()


def follow(run_id: int, timeout: float = 900) -> tuple[TrainingRun, set[tuple[str, int]]]:
    """Wait for the run to finish; also what the page saw on the way: (status, epoch) pairs."""
    seen = set()

    def done():
        run = TrainingRun.objects.select_related("result").get(pk=run_id)
        seen.add((run.status, run.epoch))
        return run if run.status in TrainingRun.FINISHED else None

    return wait_until(done, timeout=timeout, interval=0.1, message=f"run {run_id} did not finish"), seen


def test_an_empty_registry_trains_the_first_model_in_the_worker_once(worker, shared_storage):
    assert first_model_json() == {"served": False, "version": None, "run": None}

    request = baseline_run_request_if_empty()
    assert request.run is not None and f"as run {request.run.pk}" in request.message
    again = baseline_run_request_if_empty()  # `make run` started twice: the same run
    assert again.run.pk == request.run.pk and "already on its way" in again.message
    assert TrainingRun.objects.count() == 1

    run, seen = follow(request.run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert (run.kind, run.trigger, run.requested_by) == ("baseline", "startup", "make run")
    assert ("running", 1) in seen  # progress after each epoch, while it ran
    assert run.epoch == run.epochs == 2 and [h["epoch"] for h in run.history] == [1, 2]
    assert {"loss", "accuracy", "val_accuracy"} <= set(run.history[0])
    assert (run.params["epochs"], run.params["train_limit"], run.params["test_limit"]) == (2, 2000, 1000)
    assert "augment" in run.params and version_metrics_count(run) == 1000

    version = run.result
    assert version.status == ModelVersion.Status.ACTIVE and version.params["kind"] == "baseline"
    assert ModelActivation.objects.get(version=version).by == f"training run {run.pk}"
    # What the drawing page polls: served, so the page comes alive.
    answer = first_model_json()
    assert answer["served"] and answer["version"] == version.version
    assert answer["run"] == {"id": run.pk, "status": "succeeded", "epoch": 2, "epochs": 2, "progress": 1.0, "error": ""}

    later = baseline_run_request_if_empty()  # the next `make run`
    assert later.run is None and "already holds a model" in later.message
    assert TrainingRun.objects.count() == 1 and ModelVersion.objects.count() == 1


def test_a_first_model_whose_worker_died_is_marked_failed_and_queued_again(worker, shared_storage):
    # Left RUNNING by a worker that was killed: nobody holds the lock.
    lost = TrainingRun.objects.create(
        kind=TrainingRun.Kind.BASELINE, trigger=TrainingRun.Trigger.STARTUP, status="running", epoch=1, epochs=2
    )
    assert first_model_json()["run"]["status"] == "running"

    request = baseline_run_request_if_empty()
    lost.refresh_from_db()
    assert lost.status == TrainingRun.Status.FAILED and lost.error == WORKER_LOST
    assert request.run is not None and request.run.pk != lost.pk

    run, _ = follow(request.run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.result.status == ModelVersion.Status.ACTIVE
