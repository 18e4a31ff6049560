"""`train_baseline --follow`: the lines `make run` prints while the worker
trains the first model, read from the run as the worker records it."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection

from training.models import TrainingRun
from training.services import training_run_finish, training_run_progress

pytestmark = pytest.mark.django_db(transaction=True)

METRICS = {
    "mnist_accuracy": 0.9912,
    "validation_accuracy": 0.9921,
    "best_epoch": 2,
    "temperature": 1.1,
    "mnist_ece_raw": 0.01,
    "mnist_ece": 0.005,
}


def test_it_prints_each_epoch_the_worker_records_then_the_version(register_version, capsys):
    run = TrainingRun.objects.create(kind=TrainingRun.Kind.BASELINE, trigger=TrainingRun.Trigger.STARTUP, epochs=2)

    def worker() -> None:
        try:
            time.sleep(0.5)
            TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.RUNNING)
            for epoch in (1, 2):
                time.sleep(1.2)
                logs = {"loss": 0.5 / epoch, "accuracy": 0.9 + epoch / 100, "val_accuracy": 0.95}
                training_run_progress(run_id=run.pk, epoch=epoch, epochs=2, logs=logs)
            version = register_version(metrics=METRICS)
            training_run_finish(run_id=run.pk, status=TrainingRun.Status.SUCCEEDED, result=version)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    call_command("train_baseline", follow=True)
    thread.join()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "The first model trains in the worker for 2 epochs (a few minutes in all)."
    assert lines[1] == "The worker started it: loading TensorFlow and MNIST..."
    assert lines[2].startswith("epoch 1/2  loss 0.5000  accuracy 0.9100  validation 0.9500  (")
    assert lines[3].startswith("epoch 2/2  loss 0.2500  accuracy 0.9200  validation 0.9500  (")
    assert lines[4].startswith("Registered v1: MNIST validation accuracy 99.2100% (epoch 2 kept)")
    assert len(lines) == 5


def test_with_no_first_model_in_flight_it_prints_nothing(capsys):
    call_command("train_baseline", follow=True)
    assert capsys.readouterr().out == ""
