"""/metrics: for the internal network and staff, never for the public; and
the numbers an operator watches are in it."""

import pytest
from django.test import Client

from digits.metrics import record_prediction
from digits.models import Sample
from digits.tallies import tallies_rebuild
from training.models import TrainingRun
from webapp.metrics import record_rate_limited

PUBLIC = "203.0.113.7"


def test_an_anonymous_public_request_is_refused(client, db):
    response = client.get("/metrics", REMOTE_ADDR=PUBLIC)

    assert response.status_code == 403
    assert b"digitlab_" not in response.content and b"django_http" not in response.content


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_FORWARDED_FOR": "127.0.0.1"},
        {"HTTP_FORWARDED": "for=127.0.0.1"},
    ],
)
def test_a_request_through_a_proxy_is_public_even_from_an_internal_address(client, db, headers):
    # The reverse proxy connects from inside; what it forwards comes from outside.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **headers).status_code == 403


def test_a_logged_in_user_who_is_not_staff_is_refused(client, visitor):
    client.force_login(visitor)

    assert client.get("/metrics", REMOTE_ADDR=PUBLIC).status_code == 403


def test_staff_get_it_from_anywhere(client, staff_user):
    client.force_login(staff_user)

    assert client.get("/metrics", REMOTE_ADDR=PUBLIC).status_code == 200


def test_the_internal_scraper_sees_what_an_operator_watches(client, db, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    Sample.objects.bulk_create(
        Sample(image=f"s/{i}.png", image_sha256=str(i) * 8, pixels=bytes(784), label=7, predicted=p, client_id="c")
        for i, p in enumerate([7, 1, 1])
    )
    tallies_rebuild()
    TrainingRun.objects.create(trigger="manual", status="failed")
    record_prediction(version=41, digit=3)
    record_rate_limited(group="predict")
    client.get("/api/models/current", REMOTE_ADDR="10.1.2.3")

    body = client.get("/metrics", REMOTE_ADDR="10.1.2.3").content.decode()

    assert "digitlab_pending_drawings 3.0" in body
    assert "digitlab_pending_disagreeing_drawings 2.0" in body
    assert 'digitlab_training_runs_total{kind="fine_tune",status="failed"} 1.0' in body
    assert 'digitlab_predictions_total{digit="3",version="41"}' in body
    assert "digitlab_served_model_version 41.0" in body
    assert 'digitlab_rate_limited_total{group="predict"}' in body
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in body
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403  # no longer listed


def test_a_429_is_counted(client, db, settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_PREDICT = "1/m"
    browser = Client(enforce_csrf_checks=False)
    before = _sample_value(client, 'digitlab_rate_limited_total{group="predict"}')
    for _ in range(3):
        browser.post(
            "/api/digits/predict", {"image": "data:,"}, content_type="application/json", REMOTE_ADDR="10.9.9.9"
        )

    assert _sample_value(client, 'digitlab_rate_limited_total{group="predict"}') >= before + 2


def _sample_value(client, name: str) -> float:
    for line in client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.django_db(transaction=True)
def test_a_worker_serves_its_metrics_on_the_internal_address_it_is_given(settings):
    import urllib.request

    from tests.ports import free_port
    from webapp.metrics import worker_metrics_serve

    port = free_port()
    settings.WORKER_METRICS_BIND = f"127.0.0.1:{port}"
    worker_metrics_serve()

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()

    assert "digitlab_pending_drawings 0.0" in body
    assert "# TYPE digitlab_training_run_duration_seconds histogram" in body


def test_a_scraper_that_names_a_replica_by_its_address_is_answered(client, db, settings):
    # Prometheus's service discovery finds each web replica by address and
    # sends it as the Host, which ALLOWED_HOSTS (the public name) does not list.
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.ALLOWED_HOSTS = ["digits.example.org"]
    address = "10.89.0.5:8000"

    inside = client.get("/metrics", REMOTE_ADDR="10.89.0.4", HTTP_HOST="10.89.0.5:8000")
    assert inside.status_code == 200 and b"digitlab_" in inside.content

    # Anything else with that Host, or the same through the proxy, is not.
    assert client.get("/api/models/current", REMOTE_ADDR="10.89.0.4", HTTP_HOST="10.89.0.5:8000").status_code == 400
    proxied = client.get("/metrics", REMOTE_ADDR="10.89.0.4", HTTP_HOST=address, HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert proxied.status_code in (400, 403)
    assert client.get("/metrics", REMOTE_ADDR=PUBLIC, HTTP_HOST="10.89.0.5:8000").status_code in (400, 403)
