"""Prometheus metrics for operators, at /metrics (web) and, when
``WORKER_METRICS_BIND`` is set, on a port of each Celery worker.

Request latency per view and responses per status (429s included) come from
django-prometheus's middleware.  Beside them:

- ``digitlab_rate_limited_total{group}``: requests refused with 429;
- what each app counts in its process (digits/metrics.py: predictions and
  the served version);
- read from the database at scrape time, so any process tells the same: the
  collectors that the apps register in their ``AppConfig.ready()``
  (``database_collector_register``): pending drawings (digits/metrics.py),
  training runs and their durations (training/metrics.py).

Nobody from the public gets them: a request is served only from an address in
``METRICS_ALLOWED_NETWORKS`` that did not come through a proxy (a scraper on
the internal network), or to a logged-in staff user."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable
from typing import Protocol

import prometheus_client
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

RATE_LIMITED = Counter("digitlab_rate_limited", "Requests refused with 429 by the rate limits", ["group"])


def record_rate_limited(*, group: str) -> None:
    RATE_LIMITED.labels(group=group).inc()


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


_database_collectors: dict[str, Collector] = {}


def database_collector_register(collector: Collector) -> None:
    """Add what an app reads from the database at each scrape (called from
    its ``AppConfig.ready()``; once per collector class, however often
    that runs)."""
    _database_collectors[type(collector).__qualname__] = collector


class _DatabaseCollector:
    """The apps' collectors, each left out (with a warning) when the
    database does not answer, so the process's own metrics still come."""

    def collect(self):
        for collector in _database_collectors.values():
            try:
                metrics = list(collector.collect())
            except DatabaseError as exc:
                log.warning("Metrics from the database left out (%s): %s", type(collector).__name__, exc)
                continue
            yield from metrics


def metrics_registry() -> prometheus_client.CollectorRegistry:
    """This process's metrics, or every process's when METRICS_DIR is set
    (gunicorn's workers write their values there), plus the database's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = prometheus_client.CollectorRegistry()
        registry.register(_ProcessRegistry())
    registry.register(_DatabaseCollector())
    return registry


class _ProcessRegistry:
    """The default registry's metrics (process, GC, django-prometheus, ours)."""

    def collect(self):
        yield from prometheus_client.REGISTRY.collect()


def metrics_allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    return internal_scrape(request)


def internal_scrape(request: HttpRequest) -> bool:
    """A request from ``METRICS_ALLOWED_NETWORKS`` that did not come through
    the reverse proxy."""
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
    return _metrics_response()


def _metrics_response() -> HttpResponse:
    body = prometheus_client.generate_latest(metrics_registry())
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)


class InternalScrapeMiddleware:
    """Answer an internal scraper's ``/metrics`` before anything reads the
    Host header.  Prometheus finds each web replica by address and sends
    ``Host: 10.89.0.5:8000``, which ``ALLOWED_HOSTS`` (the public name)
    refuses with a 400.  Host validation guards the absolute URLs a page
    builds; this answer builds none, and comes only from inside."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/metrics" and internal_scrape(request):
            return _metrics_response()
        return self.get_response(request)


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
