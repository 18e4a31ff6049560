import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="webapp.ping")
def ping(token: str) -> None:
    """A liveness probe: proves a worker takes tasks from the broker by
    writing ``token`` to var/worker-ping."""
    from django.conf import settings

    (settings.VAR_DIR / "worker-ping").write_text(token)
