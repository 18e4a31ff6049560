"""gunicorn settings for production (docker-compose) and the HTTP benchmarks.

Every value comes from webapp/settings.py, which reads the environment."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from django.conf import settings  # noqa: E402  (settings only; no app is loaded in the master)

bind = settings.GUNICORN_BIND
workers = settings.WEB_CONCURRENCY
threads = settings.GUNICORN_THREADS
worker_class = "gthread" if threads > 1 else "sync"
timeout = 30
keepalive = 5
accesslog = settings.GUNICORN_ACCESSLOG
# The proxies Django believes about the client (TRUSTED_PROXIES) are the ones
# gunicorn believes about the scheme; with none, only a local proxy.
forwarded_allow_ips = ",".join(settings.TRUSTED_PROXIES) or "127.0.0.1,::1"
# Each worker loads the served model itself, after the fork (TensorFlow must
# never be initialised in a parent that forks), and warms it before serving.
preload_app = False


def post_worker_init(worker):
    from models.serving import model_server

    if settings.WARM_MODEL_ON_START:
        try:
            model_server().get()
        except Exception as exc:  # no model yet: requests answer 503 until one is active
            worker.log.warning("No model served yet: %s", exc)
    # Poll in the background: an idle worker, too, swaps to a newly activated
    # version within seconds, and requests never wait on the database for it.
    model_server().watch()


def on_starting(server):
    # With METRICS_DIR the workers' metric files are summed by /metrics; the
    # files of an earlier run would be summed in too.
    if settings.METRICS_DIR:
        from pathlib import Path

        for stale in Path(settings.METRICS_DIR).glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    if settings.METRICS_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
