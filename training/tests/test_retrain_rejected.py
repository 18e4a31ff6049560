"""A fine-tune that forgets MNIST, through a real Celery worker: the gate
rejects it and says why."""

import pytest

from digits.models import SampleReading
from models.models import ModelVersion
from training.models import TrainingRun
from training.services import training_run_request

from .conftest import finished, mnist_drawings, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker_idle_after")]

# A learning rate far too high for fine-tuning wrecks what the parent knew.
WORKER_ENV = {"FINE_TUNE_LEARNING_RATE": "0.05"}


def test_a_candidate_that_forgets_mnist_fails_the_gate_and_is_rejected_with_the_reason(
    worker, served_version, make_drawings, mnist
):
    make_drawings(*mnist_drawings(mnist, 100))
    request = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
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
