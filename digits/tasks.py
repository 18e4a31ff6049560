"""Celery tasks of the digits app: thin, calling services."""

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings


@shared_task(name="digits.rejected_images_purge", ignore_result=True)
def rejected_images_purge() -> int:
    """Daily (a django-celery-beat schedule): the retention rule for rejected drawings' images."""
    from .services import rejected_images_purge as purge

    return purge(older_than_days=settings.REJECTED_IMAGE_RETENTION_DAYS)


@shared_task(name="digits.triage_pending", ignore_result=True, acks_late=True)  # services.TRIAGE_TASK
def triage_pending() -> int:
    """Triage the drawings stored since (digits/triage.py), a batch at a time.

    The "triage soon" mark is cleared first, so a drawing stored while this
    runs enqueues the next task rather than wait; a full batch enqueues the
    next one too."""
    from django.core.cache import cache

    from .services import TRIAGE_SOON_KEY
    from .triage import triage_batch

    cache.delete(TRIAGE_SOON_KEY)
    done = triage_batch(limit=settings.TRIAGE_BATCH)
    if done >= settings.TRIAGE_BATCH:
        triage_pending.delay()
    return done


@worker_ready.connect
def _triage_on_worker_start(sender=None, **kwargs) -> None:
    """Drawings stored while no worker ran (their triage request expired, or
    was lost with a killed worker) are triaged when one starts (through the
    broker, so the parent process touches no database)."""
    triage_pending.delay()
