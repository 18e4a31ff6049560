"""Celery tasks of the digits app: thin, calling services."""

from celery import shared_task
from django.conf import settings


@shared_task(name="digits.rejected_images_purge", ignore_result=True)
def rejected_images_purge() -> int:
    """Daily (a django-celery-beat schedule): the retention rule for rejected drawings' images."""
    from .services import rejected_images_purge as purge

    return purge(older_than_days=settings.REJECTED_IMAGE_RETENTION_DAYS)
