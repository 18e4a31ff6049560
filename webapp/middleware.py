"""Answer 503 with a JSON message when the database is unreachable, instead
of a 500 page: the client may retry, and nothing half-done was accepted
(every write runs in a transaction that rolled back)."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

log = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
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
