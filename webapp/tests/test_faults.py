"""Faults, with the real PostgreSQL, Redis, gunicorn and Celery worker of
this machine: the database and the broker go away and come back, many
clients store drawings at once, two beats run by mistake.

These tests stop and start the machine's own services, so they run in the
one test process of `make test`, never beside another suite."""

from __future__ import annotations

import base64
import io
import secrets
import threading
import time

import numpy as np
import pytest
import requests
from django.db import connection
from PIL import Image

from digits.models import Sample
from training.models import TrainingRun
from training.tests.processes import start_beat, start_web, start_worker

from . import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def canvas_data_url(digit: np.ndarray) -> str:
    """An MNIST digit as the page sends it: black ink on a white 280x280 PNG."""
    img = Image.fromarray(255 - digit).resize((280, 280), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class Client:
    """A browser-like client: a session cookie and a CSRF token."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}/api/digits"
        self.http = requests.Session()
        token = secrets.token_hex(16)
        self.http.cookies.set("csrftoken", token, domain="127.0.0.1")
        self.http.headers.update({"X-CSRFToken": token})

    def predict(self, image: str) -> requests.Response:
        return self.http.post(f"{self.base}/predict", json={"image": image}, timeout=30)

    def store(self, image: str, label: int) -> requests.Response:
        body = {"image": image, "label": label, "label_source": "confirmed"}
        return self.http.post(f"{self.base}/samples", json=body, timeout=30)


def _retry(call, until, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = call()
            if until(response):
                return response
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError("no good answer in time")
        time.sleep(0.5)


def test_postgres_down_answers_503_and_loses_nothing_accepted(served_version, worker_folder, mnist):
    web, port = start_web(worker_folder, "web-pg")
    client = Client(port)
    accepted = []
    try:
        first = client.store(canvas_data_url(mnist.x_test[0]), int(mnist.y_test[0]))
        assert first.status_code == 200, first.text
        accepted.append(first.json()["id"])

        servers.postgres_stop()
        try:
            down = client.store(canvas_data_url(mnist.x_test[1]), int(mnist.y_test[1]))
            assert down.status_code == 503, down.text
            assert "retry" in down.json()["detail"]
            # Predicting needs no database (the model is loaded, limits count in Redis).
            predicted = client.predict(canvas_data_url(mnist.x_test[2]))
            assert predicted.status_code == 200, predicted.text
        finally:
            servers.postgres_start()
            connection.close()  # the test's own connection died with the server

        again = _retry(
            lambda: client.store(canvas_data_url(mnist.x_test[1]), int(mnist.y_test[1])),
            until=lambda r: r.status_code == 200,
        )
        accepted.append(again.json()["id"])
    finally:
        web.stop()
    stored = set(Sample.objects.values_list("id", flat=True))
    assert set(accepted) <= stored
    assert Sample.objects.count() == 2  # the refused request stored nothing


def test_redis_down_keeps_prediction_and_storing_and_work_resumes(served_version, worker_folder, mnist, settings):
    worker = start_worker(worker_folder, name="worker-redis")
    web, port = start_web(worker_folder, "web-redis")
    client = Client(port)
    try:
        servers.redis_stop()
        try:
            predicted = client.predict(canvas_data_url(mnist.x_test[3]))
            assert predicted.status_code == 200, predicted.text
            stored = client.store(canvas_data_url(mnist.x_test[3]), int(mnist.y_test[3]))
            assert stored.status_code == 200, stored.text
        finally:
            servers.redis_start()

        # The worker reconnects by itself and takes new work.
        from webapp.celery import app

        token = secrets.token_hex(8)
        ping = worker_folder / "var" / "worker-ping"
        app.send_task("webapp.ping", kwargs={"token": token})
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (ping.exists() and ping.read_text() == token):
            time.sleep(0.3)
        assert ping.read_text() == token, worker.output()[-2000:]
    finally:
        if not servers.redis_up():
            servers.redis_start()
        web.stop()
        worker.stop()
    assert Sample.objects.filter(id=stored.json()["id"]).exists()


def test_many_clients_storing_at_once_lose_nothing_and_store_nothing_twice(served_version, worker_folder, mnist):
    web, port = start_web(worker_folder, "web-load", WEB_CONCURRENCY="2", RATELIMIT_ENABLE="false")
    images = [canvas_data_url(mnist.x_test[i]) for i in range(120)]
    results: list[tuple[int, int, int]] = []  # (image index, status, id)
    lock = threading.Lock()

    def client_run(k: int) -> None:
        client = Client(port)
        for i in range(k * 10, k * 10 + 10):
            for _attempt in range(2):  # every drawing sent twice: a double click
                r = client.store(images[i], int(mnist.y_test[i]))
                with lock:
                    results.append((i, r.status_code, r.json().get("id", -1)))

    threads = [threading.Thread(target=client_run, args=(k,)) for k in range(12)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        web.stop()
    assert len(results) == 240
    assert {status for _, status, _ in results} == {200}
    ids_by_image: dict[int, set[int]] = {}
    for i, _, sample_id in results:
        ids_by_image.setdefault(i, set()).add(sample_id)
    assert all(len(ids) == 1 for ids in ids_by_image.values())  # the repeat got the same sample
    accepted = {next(iter(ids)) for ids in ids_by_image.values()}
    assert set(Sample.objects.values_list("id", flat=True)) == accepted
    assert Sample.objects.count() == 120


def test_two_beats_started_by_mistake_do_not_train_twice(served_version, worker_folder, make_drawings, mnist):
    """Two beats fire every second at two workers.  Without single flight each
    tick would queue a run while the first trains (and a second worker would
    train it at the same time): here every request made while one run is in
    flight is refused, and no two runs ever overlap."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    make_drawings(mnist.x_test[:60], mnist.y_test[:60])
    PeriodicTask.objects.all().delete()
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="retrain every second", task="training.retrain_scheduled", interval=every)
    workers = [start_worker(worker_folder, name=f"worker-beats-{n}") for n in (1, 2)]
    beats = [start_beat(worker_folder / f"beat{n}") for n in (1, 2)]
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).exists():
                break
            time.sleep(0.5)
        time.sleep(4)  # both beats keep firing while and after the run
    finally:
        for beat in beats:
            beat.stop()
        # A tick just before the beats stopped may have queued a run (after
        # the first one ended, which is allowed): let the workers finish it.
        drained = time.monotonic() + 60
        while TrainingRun.objects.filter(status__in=TrainingRun.IN_FLIGHT).exists() and time.monotonic() < drained:
            time.sleep(0.5)
        for worker in workers:
            worker.stop()
    runs = list(TrainingRun.objects.filter(kind=TrainingRun.Kind.FINE_TUNE).order_by("created_at"))
    trained = [r for r in runs if r.status == TrainingRun.Status.SUCCEEDED]
    assert len(trained) == 1, [(r.pk, r.status, r.message) for r in runs]
    assert all(r.status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.SKIPPED) for r in runs), [
        (r.pk, r.status, r.error[-300:]) for r in runs
    ]
    run = trained[0]
    # Nothing else was queued while it was in flight (a run without the
    # guard would have been, and skipped later as "nothing new")...
    queued_meanwhile = [r.pk for r in runs if r.pk != run.pk and run.created_at <= r.created_at <= run.finished_at]
    assert not queued_meanwhile, [(r.pk, r.created_at, r.status, r.message) for r in runs]
    # ...though the beats did ask, and were told so.
    logs = "".join(worker.output() for worker in workers)
    assert "already in progress" in logs, logs[-2000:]
    # No two runs were ever executing at the same time.
    spans = sorted((r.started_at, r.finished_at) for r in runs if r.started_at)
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False)), spans
