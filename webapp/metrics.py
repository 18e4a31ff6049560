"""Prometheus metrics for operators, at /metrics (web) and, when
``WORKER_METRICS_BIND`` is set, on a port of each Celery worker.

Request latency per view and responses per status (429s included) come from
django-prometheus's middleware.  Beside them:

- ``digitlab_predictions_total{version, digit}``: counted where the digits
  services predict (``record_prediction``), per process;
- ``digitlab_served_model_version``: the version each process last answered
  with (one series per process id);
- ``digitlab_rate_limited_total{group}``: requests refused with 429;
- read from the database at scrape time, so any process tells the same:
  pending drawings (the tallies), training runs by kind and outcome, and the
  duration of finished runs.

Nobody from the public gets them: a request is served only from an address in
``METRICS_ALLOWED_NETWORKS`` that did not come through a proxy (a scraper on
the internal network), or to a logged-in staff user."""

from __future__ import annotations

import ipaddress
import logging
import os

import prometheus_client
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

PREDICTIONS = Counter(
    "digitlab_predictions", "Predictions answered, by served model version and predicted digit", ["version", "digit"]
)
RATE_LIMITED = Counter("digitlab_rate_limited", "Requests refused with 429 by the rate limits", ["group"])
SERVED_VERSION = Gauge(
    "digitlab_served_model_version", "The model version this process last answered with", multiprocess_mode="liveall"
)
RUN_DURATION_BUCKETS = (15, 30, 60, 90, 120, 300, 600, 1200, 1800, 3600)


def record_prediction(*, version: int, digit: int) -> None:
    PREDICTIONS.labels(version=str(version), digit=str(digit)).inc()
    SERVED_VERSION.set(version)


def record_rate_limited(*, group: str) -> None:
    RATE_LIMITED.labels(group=group).inc()


class DatabaseCollector:
    """What the database knows, read at each scrape (a few small queries)."""

    def collect(self):
        from digits.selectors import review_queue_counts
        from training.models import TrainingRun

        try:
            counts = review_queue_counts()
            runs = list(TrainingRun.objects.order_by().values("kind", "status").annotate(n=Count("id")))
            finished = TrainingRun.objects.filter(started_at__isnull=False, finished_at__isnull=False)
            durations = list(finished.values_list("status", "started_at", "finished_at"))
        except DatabaseError as exc:
            log.warning("Metrics from the database left out: %s", exc)
            return
        yield GaugeMetricFamily("digitlab_pending_drawings", "Drawings waiting for review", value=counts.pending)
        yield GaugeMetricFamily(
            "digitlab_pending_disagreeing_drawings",
            "Pending drawings whose prediction disagrees with their label",
            value=counts.disagreements,
        )
        total = CounterMetricFamily(
            "digitlab_training_runs", "Training runs by kind and outcome", labels=["kind", "status"]
        )
        for row in runs:
            total.add_metric([row["kind"], row["status"]], row["n"])
        yield total
        histogram = HistogramMetricFamily(
            "digitlab_training_run_duration_seconds", "How long finished training runs took", labels=["status"]
        )
        for status in sorted({status for status, _, _ in durations}):
            seconds = [(end - start).total_seconds() for s, start, end in durations if s == status]
            buckets = [(str(b), sum(1 for d in seconds if d <= b)) for b in RUN_DURATION_BUCKETS]
            histogram.add_metric([status], buckets + [("+Inf", len(seconds))], sum(seconds))
        yield histogram


def metrics_registry() -> prometheus_client.CollectorRegistry:
    """This process's metrics, or every process's when METRICS_DIR is set
    (gunicorn's workers write their values there), plus the database's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = prometheus_client.CollectorRegistry()
        registry.register(_ProcessRegistry())
    registry.register(DatabaseCollector())
    return registry


class _ProcessRegistry:
    """The default registry's metrics (process, GC, django-prometheus, ours)."""

    def collect(self):
        yield from prometheus_client.REGISTRY.collect()


def metrics_allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    # Through the reverse proxy means from outside (it always adds
    # X-Forwarded-For): the proxy's own address would otherwise pass for the
    # internal network.  A scraper reaches web directly.
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("Metrics are for the internal network and staff.\n", status=403, content_type="text/plain")
    body = prometheus_client.generate_latest(metrics_registry())
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)


def worker_metrics_serve() -> None:
    """Serve a worker's metrics on ``WORKER_METRICS_BIND`` (host:port), from
    the worker's main process (bind it to an internal address only)."""
    if not settings.WORKER_METRICS_BIND:
        return
    host, _, port = settings.WORKER_METRICS_BIND.rpartition(":")
    registry = metrics_registry()
    registry.register(_CloseConnection())
    prometheus_client.start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    log.info("Worker metrics on %s", settings.WORKER_METRICS_BIND)


class _CloseConnection:
    """Last in a worker's scrape: close the scrape thread's database
    connection, so no socket of it lingers for the pool to inherit."""

    def collect(self):
        connection.close()
        return iter(())
