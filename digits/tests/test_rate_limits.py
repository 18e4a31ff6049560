"""Per-client rate limits on predict and on storing drawings answer 429
with a JSON message, and a refused drawing is not stored."""

import pytest
from django.core.cache import cache

from digits.models import Sample


@pytest.fixture
def limited(settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_SAMPLES = "3/m"
    settings.RATELIMIT_PREDICT = "4/m"
    cache.clear()
    yield
    cache.clear()


def test_storing_past_the_limit_answers_429_and_stores_nothing(limited, active_version, post_json, seven_url):
    answers = [
        post_json("/api/digits/samples", {"image": seven_url, "label": 7, "label_source": "confirmed"})
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "rate_limited" and "3/m" in answers[-1].json()["detail"]
    assert Sample.objects.count() == 1  # three accepted repeats of one drawing: one sample


def test_predict_past_the_limit_answers_429(limited, active_version, post_json, seven_url):
    codes = [post_json("/api/digits/predict", {"image": seven_url}).status_code for _ in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_limits_count_per_client_address(limited, active_version, post_json, seven_url):
    for _ in range(4):
        post_json("/api/digits/predict", {"image": seven_url})
    assert post_json("/api/digits/predict", {"image": seven_url}).status_code == 429
    assert post_json("/api/digits/predict", {"image": seven_url}, REMOTE_ADDR="10.1.2.3").status_code == 200
