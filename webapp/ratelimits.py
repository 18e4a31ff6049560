"""Rate limits for the API, through django-ratelimit, sized for people who
share an address (a classroom behind a school's NAT, everyone behind the
reverse proxy).

Two counts per request: one per browser, and a generous ceiling per client
address (see ``webapp.clients``).  A browser is its CSRF cookie: the page
sets it and every POST must carry it, so counting by it costs no database
read.  A script can drop or invent that cookie, which is what the per-address
ceiling is for; and a script that keeps it is stopped by the per-browser
limit without eating the ceiling of the people behind the same address.

Counting happens in the shared cache (Redis in production); when that cache
is unreachable the limit fails open with a log line, so drawing and storing
keep working while Redis is down."""

from __future__ import annotations

import hashlib
import logging
import math
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django_ratelimit.core import get_usage

from .clients import client_address
from .metrics import record_rate_limited

log = logging.getLogger(__name__)


def browser_key(group: str, request: HttpRequest) -> str:
    token = request.COOKIES.get(settings.CSRF_COOKIE_NAME)
    if not token:  # no cookie: such requests are refused by the CSRF check anyway
        return f"ip:{client_address(request)}"
    return "browser:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def address_key(group: str, request: HttpRequest) -> str:
    return f"ip:{client_address(request)}"


def _over(request: HttpRequest, *, group: str, key, rate: str) -> int | None:
    """Seconds until the window ends when this request is over the limit, else None."""
    usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    if usage is None or not usage["should_limit"]:
        return None
    return max(1, math.ceil(usage["time_left"]))


def rate_limited(*, group: str, rate_setting: str, address_rate_setting: str):
    """A view decorator answering 429 with a JSON message and Retry-After
    past the per-browser rate in ``settings.<rate_setting>`` or the
    per-address ceiling in ``settings.<address_rate_setting>`` (both read
    per request, so they can be changed)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            rate = getattr(settings, rate_setting)
            ceiling = getattr(settings, address_rate_setting)
            try:
                # The address is counted only for requests the browser limit let
                # through: a hammering script does not use up its neighbours' share.
                retry_after = _over(request, group=group, key=browser_key, rate=rate)
                limit = rate
                if retry_after is None:
                    retry_after = _over(request, group=f"{group}-address", key=address_key, rate=ceiling)
                    limit = f"{ceiling} per address"
            except Exception as exc:  # the cache is down: serve rather than refuse everyone
                log.warning("Rate limit %s not checked (cache unavailable: %s)", group, exc)
                retry_after = None
            if retry_after is not None:
                record_rate_limited(group=group)
                response = JsonResponse(
                    {"detail": f"Too many requests; the limit is {limit}. Please slow down.", "code": "rate_limited"},
                    status=429,
                )
                response["Retry-After"] = str(retry_after)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
