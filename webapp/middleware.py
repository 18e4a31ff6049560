"""The project's own middleware: a 503 JSON answer when the database is
unreachable, and gzip for the API's larger JSON answers."""

import gzip
import logging
import re

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.utils.cache import patch_vary_headers

log = logging.getLogger(__name__)
ACCEPTS_GZIP = re.compile(r"\bgzip\b")


class DatabaseUnavailableMiddleware:
    """Answer 503 with a JSON message when the database is unreachable, instead
    of a 500 page: the client may retry, and nothing half-done was accepted
    (every write runs in a transaction that rolled back)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError) as exc:  # raised outside a view, e.g. by the session middleware
            return self._unavailable(request, exc)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            return self._unavailable(request, exception)
        return None

    @staticmethod
    def _unavailable(request, exc) -> JsonResponse:
        return database_unavailable(request, exc)


def database_unavailable(request, exc) -> JsonResponse:
    """The 503 answer; the API's exception handler uses it too."""
    log.error("Database unavailable for %s %s: %s", request.method, request.path, exc)
    body = {"detail": "The service is temporarily unavailable; please retry.", "code": "unavailable"}
    response = JsonResponse(body, status=503)
    response["Retry-After"] = "5"
    return response


class JsonGzipMiddleware:
    """Gzip the API's larger JSON answers when the client accepts it, for the
    runserver and no-proxy case (behind deploy/nginx.conf, nginx compresses
    and this middleware's answers pass through it already encoded).

    Only JSON: BREACH recovers a secret from the size of compressed answers
    that also reflect what an attacker sends; the JSON answers hold no secret
    (the CSRF token travels in a cookie and a header), whereas HTML pages
    carry the CSRF token in their body and stay uncompressed.  Only above
    MIN_BYTES: below it gzip saves a few hundred bytes, less than a packet,
    for its CPU time.  Static files are compressed ahead of time by
    whitenoise."""

    MIN_BYTES = 1024
    # Level 1: all nine layers' maps (78 KB) gzip to 28.5 KB in 1.1 ms of CPU,
    # against 25.7 KB in 4.5-5 ms at level 6 (bench/README.md, slow network).
    LEVEL = 1

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.streaming
            or response.has_header("Content-Encoding")
            or not response.get("Content-Type", "").startswith("application/json")
            or len(response.content) < self.MIN_BYTES
        ):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        if not ACCEPTS_GZIP.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            return response
        response.content = gzip.compress(response.content, compresslevel=self.LEVEL, mtime=0)
        response["Content-Length"] = str(len(response.content))
        response["Content-Encoding"] = "gzip"
        return response
