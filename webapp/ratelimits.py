"""Per-client rate limits for the API, through django-ratelimit.

A client is its address: a session cookie is the client's to drop, so it
cannot be what a limit counts by.  (Behind a proxy, have it set REMOTE_ADDR.)
Counting happens in the shared cache (Redis in production); when that cache
is unreachable the limit fails open with a log line, so drawing and storing
keep working while Redis is down."""

from __future__ import annotations

import logging
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django_ratelimit.core import is_ratelimited

log = logging.getLogger(__name__)


def client_key(group: str, request: HttpRequest) -> str:
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


def rate_limited(*, group: str, rate_setting: str):
    """A view decorator answering 429 with a JSON message past the rate in
    ``settings.<rate_setting>`` (read per request, so it can be changed)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            rate = getattr(settings, rate_setting)
            try:
                limited = is_ratelimited(request, group=group, key=client_key, rate=rate, increment=True)
            except Exception as exc:  # the cache is down: serve rather than refuse everyone
                log.warning("Rate limit %s not checked (cache unavailable: %s)", group, exc)
                limited = False
            if limited:
                response = JsonResponse(
                    {"detail": f"Too many requests; the limit is {rate}. Please slow down.", "code": "rate_limited"},
                    status=429,
                )
                response["Retry-After"] = "1"
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
