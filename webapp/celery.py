import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _serve_worker_metrics(sender=None, **kwargs) -> None:
    from .metrics import worker_metrics_serve

    worker_metrics_serve()


@app.task(name="webapp.ping")
def ping(token: str) -> None:
    """A liveness probe: proves a worker takes tasks from the broker by
    writing ``token`` to var/worker-ping."""
    from django.conf import settings

    (settings.VAR_DIR / "worker-ping").write_text(token)
