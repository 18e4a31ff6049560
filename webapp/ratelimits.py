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
keep working while Redis is down.  On Redis both counts are one Lua script,
one round trip (django-ratelimit's add-then-incr took up to four, about a
fifth of a predict request's CPU); on other caches (the embedded defaults'
local memory) django-ratelimit counts.

A view without side effects (predict) may overlap that round trip with its
own work (``overlap=True``): the script is sent, the view runs, and the
reply is read before the answer leaves; an answer over the limit is
replaced by the 429.  So that a browser or address over its limit does not
cost a whole prediction with every request, each process remembers what it
refused until that window ends and refuses it again without any work."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import time
from functools import wraps

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, JsonResponse
from django_ratelimit.core import get_usage
from redis.exceptions import NoScriptError

from .cache import RedisCache
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


# KEYS: the browser's and the address's counters; ARGV: each one's limit and
# window in seconds.  A counter starts its window at its first request.  The
# address is counted only when the browser is under its limit.  Returns
# {which limit was passed (0: none, 1: browser, 2: address), seconds left}.
COUNT_BOTH = """
local function count(key, period)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, period) end
  return n
end
if count(KEYS[1], ARGV[2]) > tonumber(ARGV[1]) then return {1, redis.call('TTL', KEYS[1])} end
if count(KEYS[2], ARGV[4]) > tonumber(ARGV[3]) then return {2, redis.call('TTL', KEYS[2])} end
return {0, 0}
"""
RATE = re.compile(r"^(\d+)/(\d*)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=64)  # two per request, from a handful of settings
def rate_parse(rate: str) -> tuple[int, int]:
    """("20/s") -> (20, 1): requests allowed per window, the window in seconds
    (django-ratelimit's notation, "5/10m" included)."""
    match = RATE.match(rate)
    if not match:
        raise ValueError(f"{rate!r} is not a rate such as 20/s or 60/m")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * UNIT_SECONDS[unit]


@functools.cache
def _count_both(client):
    """COUNT_BOTH for ``client``; run by its hash, loaded again if Redis lost it."""
    return client.register_script(COUNT_BOTH)


def _over_redis(request: HttpRequest, *, group: str, rate: str, ceiling: str) -> tuple[int, str] | None:
    """Both counts in one round trip: None, or (seconds left, the limit passed)."""
    cache = caches["default"]
    client = cache.redis_client()
    keys = [
        cache.make_and_validate_key(f"rl:{group}:{browser_key(group, request)}"),
        cache.make_and_validate_key(f"rl:{group}-address:{address_key(group, request)}"),
    ]
    which, left = _count_both(client)(keys=keys, args=[*rate_parse(rate), *rate_parse(ceiling)], client=client)
    if not which:
        return None
    return max(1, int(left)), rate if which == 1 else f"{ceiling} per address"


class _CountInFlight:
    """COUNT_BOTH sent on a connection of its own, its reply not read yet."""

    def __init__(self, request: HttpRequest, *, group: str, rate: str, ceiling: str):
        cache = caches["default"]
        self.client, self.rate, self.ceiling = cache.redis_client(), rate, ceiling
        self.keys = [
            cache.make_and_validate_key(f"rl:{group}:{browser_key(group, request)}"),
            cache.make_and_validate_key(f"rl:{group}-address:{address_key(group, request)}"),
        ]
        self.args = [*rate_parse(rate), *rate_parse(ceiling)]
        self.pool = self.client.connection_pool
        self.connection = self.pool.get_connection()
        try:
            self.connection.send_command("EVALSHA", _count_both(self.client).sha, 2, *self.keys, *self.args)
        except BaseException:
            self.abandon()
            raise

    def result(self) -> tuple[int, str] | None:
        """None, or (seconds left, the limit passed)."""
        try:
            which, left = self.connection.read_response()
        except NoScriptError:  # Redis restarted and lost the script: load it and count now
            which, left = _count_both(self.client)(keys=self.keys, args=self.args, client=self.client)
        except BaseException:
            self.abandon()
            raise
        self.pool.release(self.connection)
        if not which:
            return None
        return max(1, int(left)), self.rate if which == 1 else f"{self.ceiling} per address"

    def abandon(self) -> None:
        """Drop the connection: a reply still on its way must not reach the next command."""
        self.connection.disconnect()
        self.pool.release(self.connection)


# (group, key) -> (monotonic end of the window, the limit passed): what this
# process refused.  A counter over its limit stays over until its window
# ends, so refusing again from here answers as Redis would.
_refused: dict[tuple[str, str], tuple[float, str]] = {}
REFUSED_KEPT = 10_000


def _refused_here(request: HttpRequest, group: str) -> tuple[int, str] | None:
    now = time.monotonic()
    for key in (browser_key(group, request), address_key(group, request)):
        until, limit = _refused.get((group, key), (0.0, ""))
        if until > now:
            return max(1, math.ceil(until - now)), limit
    return None


def _refused_remember(request: HttpRequest, group: str, over: tuple[int, str]) -> None:
    if len(_refused) >= REFUSED_KEPT:
        _refused.clear()
    retry_after, limit = over
    key = address_key(group, request) if limit.endswith("per address") else browser_key(group, request)
    _refused[(group, key)] = (time.monotonic() + retry_after, limit)


def refusals_forget() -> None:
    """Forget what this process refused (tests clear the counters too)."""
    _refused.clear()


def _over_cache(request: HttpRequest, *, group: str, rate: str, ceiling: str) -> tuple[int, str] | None:
    """django-ratelimit's counts, on any cache: None, or (seconds left, the limit passed)."""
    retry_after = _over(request, group=group, key=browser_key, rate=rate)
    if retry_after is not None:
        return retry_after, rate
    retry_after = _over(request, group=f"{group}-address", key=address_key, rate=ceiling)
    return None if retry_after is None else (retry_after, f"{ceiling} per address")


def _over(request: HttpRequest, *, group: str, key, rate: str) -> int | None:
    """Seconds until the window ends when this request is over the limit, else None."""
    usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    if usage is None or not usage["should_limit"]:
        return None
    return max(1, math.ceil(usage["time_left"]))


def _too_many(group: str, over: tuple[int, str]) -> JsonResponse:
    retry_after, limit = over
    record_rate_limited(group=group)
    response = JsonResponse(
        {"detail": f"Too many requests; the limit is {limit}. Please slow down.", "code": "rate_limited"},
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def rate_limited(*, group: str, rate_setting: str, address_rate_setting: str, overlap: bool = False):
    """A view decorator answering 429 with a JSON message and Retry-After
    past the per-browser rate in ``settings.<rate_setting>`` or the
    per-address ceiling in ``settings.<address_rate_setting>`` (both read
    per request, so they can be changed).  ``overlap``: the view has no side
    effects, so on Redis it may run while the count is on its way."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not settings.RATELIMIT_ENABLE:
                return view(request, *args, **kwargs)
            rate = getattr(settings, rate_setting)
            ceiling = getattr(settings, address_rate_setting)
            if overlap and isinstance(caches["default"], RedisCache):
                return _overlapped(view, request, args, kwargs, group=group, rate=rate, ceiling=ceiling)
            over = None
            try:
                # The address is counted only for requests the browser limit let
                # through: a hammering script does not use up its neighbours' share.
                count = _over_redis if isinstance(caches["default"], RedisCache) else _over_cache
                over = count(request, group=group, rate=rate, ceiling=ceiling)
            except Exception as exc:  # the cache is down: serve rather than refuse everyone
                log.warning("Rate limit %s not checked (cache unavailable: %s)", group, exc)
            if over is not None:
                return _too_many(group, over)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _overlapped(view, request: HttpRequest, args, kwargs, *, group: str, rate: str, ceiling: str):
    """The count sent, the view run, then the count's reply read."""
    over = _refused_here(request, group)
    if over is not None:
        return _too_many(group, over)
    try:
        in_flight = _CountInFlight(request, group=group, rate=rate, ceiling=ceiling)
    except Exception as exc:
        log.warning("Rate limit %s not checked (cache unavailable: %s)", group, exc)
        return view(request, *args, **kwargs)
    try:
        response = view(request, *args, **kwargs)
    except BaseException:
        in_flight.abandon()
        raise
    try:
        over = in_flight.result()
    except Exception as exc:
        log.warning("Rate limit %s not checked (cache unavailable: %s)", group, exc)
        return response
    if over is None:
        return response
    _refused_remember(request, group, over)
    return _too_many(group, over)
