"""The default retraining schedule, as django-celery-beat rows staff can edit
in the admin: a nightly run, and a frequent check of how many drawings have
been approved since the last run."""

from django.db import migrations

NIGHTLY = "Nightly retraining"
THRESHOLD = "Retrain when enough new drawings are approved"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    every_5_min, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NIGHTLY,
        defaults={"task": "training.retrain_scheduled", "crontab": nightly, "description": "03:00 UTC every night"},
    )
    PeriodicTask.objects.get_or_create(
        name=THRESHOLD,
        defaults={"task": "training.retrain_check_threshold", "interval": every_5_min},
    )
    # Beat re-reads its schedule when this marker changes.
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[NIGHTLY, THRESHOLD]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0002_retraining"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
