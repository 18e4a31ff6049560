"""gunicorn settings for production (docker-compose) and the HTTP benchmarks."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = 30
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
# Each worker loads the served model itself, after the fork (TensorFlow must
# never be initialised in a parent that forks), and warms it before serving.
preload_app = False


def post_worker_init(worker):
    from models.serving import model_server

    if os.environ.get("WARM_MODEL_ON_START", "true").lower() == "true":
        try:
            model_server().get()
        except Exception as exc:  # no model yet: requests answer 503 until one is active
            worker.log.warning("No model served yet: %s", exc)
    # Poll in the background: an idle worker, too, swaps to a newly activated
    # version within seconds, and requests never wait on the database for it.
    model_server().watch()
