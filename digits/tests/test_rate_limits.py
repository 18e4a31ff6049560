"""Rate limits on predict and on storing drawings: per browser, with a
ceiling per client address; past either, 429 with a JSON message and
Retry-After, and a refused drawing is not stored."""

import time
from collections import Counter
from contextlib import contextmanager

import pytest
import redis
from django.core.cache import cache
from django.test import Client

from digits.models import Sample


@pytest.fixture
def limited(settings):
    settings.RATELIMIT_ENABLE = True
    # Hourly windows: a test does not straddle a window's end by chance.
    settings.RATELIMIT_SAMPLES = "3/h"
    settings.RATELIMIT_SAMPLES_ADDRESS = "100/h"
    settings.RATELIMIT_PREDICT = "4/h"
    settings.RATELIMIT_PREDICT_ADDRESS = "10/h"
    cache.clear()
    yield
    cache.clear()


def _browser(token: str) -> Client:
    """A browser that loaded the page: it carries its own CSRF cookie."""
    browser = Client()
    browser.cookies["csrftoken"] = token
    return browser


def _predict(browser: Client, image: str, **extra) -> int:
    return browser.post("/api/digits/predict", {"image": image}, content_type="application/json", **extra).status_code


def test_storing_past_the_limit_answers_429_and_stores_nothing(limited, active_version, post_json, seven_url):
    answers = [
        post_json("/api/digits/samples", {"image": seven_url, "label": 7, "label_source": "confirmed"})
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "rate_limited" and "3/h" in answers[-1].json()["detail"]
    assert 1 <= int(answers[-1]["Retry-After"]) <= 3600  # the rest of the hour's window
    assert Sample.objects.count() == 1  # three accepted repeats of one drawing: one sample


def test_predict_past_the_limit_answers_429(limited, active_version, post_json, seven_url):
    codes = [post_json("/api/digits/predict", {"image": seven_url}).status_code for _ in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_a_refused_browser_is_refused_again_without_a_count(limited, active_version, seven_url):
    # Predict runs while its count is on its way; a process that refused a
    # browser refuses it again until the window ends, sending nothing to Redis.
    browser = _browser("r" * 32)
    assert [_predict(browser, seven_url) for _ in range(5)] == [200, 200, 200, 200, 429]
    cache.clear()  # the counters are gone ...
    assert _predict(browser, seven_url) == 429  # ... yet this process still refuses
    assert not cache.redis_client().keys("*rl:predict*")  # and counted nothing
    assert _predict(_browser("s" * 32), seven_url) == 200  # another browser is served


def test_each_browser_has_its_own_limit_behind_one_address(limited, active_version, seven_url):
    first, second = _browser("a" * 32), _browser("b" * 32)
    assert [_predict(first, seven_url) for _ in range(5)] == [200, 200, 200, 200, 429]
    assert [_predict(second, seven_url) for _ in range(4)] == [200, 200, 200, 200]


def test_the_address_ceiling_stops_a_script_that_invents_browsers(limited, active_version, seven_url):
    codes = [_predict(_browser(f"{i:032d}"), seven_url) for i in range(12)]
    assert codes == [200] * 10 + [429, 429]
    detail = _browser("z" * 32).post("/api/digits/predict", {"image": seven_url}, content_type="application/json")
    assert "per address" in detail.json()["detail"]
    # Another address has its own ceiling.
    assert _predict(_browser("y" * 32), seven_url, REMOTE_ADDR="10.1.2.3") == 200


def test_refusals_of_one_browser_do_not_use_up_the_address_ceiling(limited, active_version, seven_url):
    hammering = _browser("h" * 32)
    codes = [_predict(hammering, seven_url) for _ in range(30)]
    assert codes.count(200) == 4  # its own limit
    # 4 of the address's 10 were used; six other people still get answers.
    assert [_predict(_browser(f"{i:032d}"), seven_url) for i in range(6)] == [200] * 6


def test_limits_count_per_client_address(limited, active_version, post_json, seven_url):
    for _ in range(4):
        post_json("/api/digits/predict", {"image": seven_url})
    assert post_json("/api/digits/predict", {"image": seven_url}).status_code == 429
    assert post_json("/api/digits/predict", {"image": seven_url}, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(limited, settings, active_version, seven_url):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    proxy = Client()  # every request arrives from the proxy's address, without a cookie
    for _ in range(4):
        assert _predict(proxy, seven_url, HTTP_X_FORWARDED_FOR="203.0.113.7") == 200
    assert _predict(proxy, seven_url, HTTP_X_FORWARDED_FOR="203.0.113.7") == 429
    assert _predict(proxy, seven_url, HTTP_X_FORWARDED_FOR="203.0.113.8") == 200


def test_thirty_people_behind_one_address_drawing_at_once_are_not_limited(settings, active_version, seven_url):
    """The production defaults: 30 browsers, each sending 10 predictions as
    fast as they can (what the page sends in a second of drawing)."""
    settings.RATELIMIT_ENABLE = True  # the rates are the settings' defaults
    cache.clear()
    classroom = [_browser(f"{i:032x}") for i in range(30)]
    codes = Counter(_predict(browser, seven_url) for _ in range(10) for browser in classroom)
    assert codes == {200: 300}
    # One of them hammering as a script does is stopped by its own limit.
    assert 429 in {_predict(classroom[0], seven_url) for _ in range(40)}
    cache.clear()


@contextmanager
def _redis_calls():
    """The commands this test's cache database received meanwhile (MONITOR,
    filtered by database: other users of the same Redis do not count; the
    script's own commands come from "lua" and are left out)."""
    client = cache.redis_client()
    db = client.connection_pool.connection_kwargs.get("db", 0)
    calls, end = Counter(), f"end-{time.time_ns()}"
    watcher = redis.Redis(connection_pool=redis.ConnectionPool(**client.connection_pool.connection_kwargs))
    with watcher.monitor() as monitor:
        yield calls
        client.echo(end)
        for command in monitor.listen():
            if command["db"] != db or command["client_type"] == "lua":
                continue
            if command["command"] == f"ECHO {end}":
                break
            calls[command["command"].split()[0].lower()] += 1


def test_on_redis_both_limits_cost_one_round_trip(limited, active_version, seven_url):
    browser = _browser("r" * 32)
    assert _predict(browser, seven_url) == 200  # loads the script
    with _redis_calls() as calls:
        assert _predict(browser, seven_url) == 200
    assert calls["evalsha"] + calls["eval"] == 1, calls
    assert sum(calls.values()) == 1, calls  # nothing past the script


def test_the_embedded_defaults_local_memory_cache_limits_too(limited, settings, active_version, seven_url):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    first, second = _browser("a" * 32), _browser("b" * 32)
    assert [_predict(first, seven_url) for _ in range(5)] == [200, 200, 200, 200, 429]
    assert [_predict(_browser(f"{i:032d}"), seven_url) for i in range(7)] == [200] * 6 + [429]
    assert _predict(second, seven_url) == 429  # the address's ten are used


def test_rates_read_as_django_ratelimit_writes_them():
    from webapp.ratelimits import rate_parse

    assert rate_parse("20/s") == (20, 1)
    assert rate_parse("60/m") == (60, 60)
    assert rate_parse("5/10m") == (5, 600)
    assert rate_parse("1200/d") == (1200, 86400)
    with pytest.raises(ValueError):
        rate_parse("20 per second")
