import pytest
from django_celery_beat.models import PeriodicTask

from training.models import TrainingRun
from training.services import training_run_request, training_run_request_on_threshold


@pytest.mark.django_db
def test_retraining_is_scheduled_nightly_and_checks_the_threshold_by_default():
    nightly = PeriodicTask.objects.get(name="Nightly retraining")
    assert nightly.task == "training.retrain_scheduled" and nightly.enabled
    assert (nightly.crontab.minute, nightly.crontab.hour, nightly.crontab.day_of_week) == ("0", "3", "*")
    check = PeriodicTask.objects.get(name="Retrain when enough new drawings are approved")
    assert check.task == "training.retrain_check_threshold" and check.interval.every == 5


@pytest.mark.django_db
def test_a_second_trigger_while_one_is_queued_does_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = training_run_request(trigger=TrainingRun.Trigger.MANUAL, by="alice")
    assert len(callbacks) == 1  # the task is sent once the run is committed
    second = training_run_request(trigger=TrainingRun.Trigger.SCHEDULE, by="schedule")
    assert second.run is None and f"run {first.run.pk} is queued" in second.message
    assert TrainingRun.objects.count() == 1


@pytest.mark.django_db
def test_the_threshold_check_stays_quiet_below_the_threshold(settings):
    settings.RETRAIN_THRESHOLD = 5
    assert training_run_request_on_threshold().run is None
    assert not TrainingRun.objects.exists()
