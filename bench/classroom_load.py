"""A classroom behind one address, against the production server with the
production rate limits on.

gunicorn as docker-compose runs it (webapp/gunicorn.conf.py, DEBUG off, 2 sync
workers, PostgreSQL, Redis cache, the default RATELIMIT_* settings), then:

1. N simulated people (30) from one address, each with their own browser
   session (a GET of the page, its CSRF cookie), draw at once for a minute,
   as the page does: while drawing, one prediction with activations in flight
   at a time and at most one every 100 ms (about 10 a second); 2-3 s of
   drawing per digit, then the label is stored and a 2-4 s pause.
   Bar: 0 answers 429, 0 errors.
2. One script from the same address sends 200 predictions a second on one
   session for 10 s. Bar: it gets 429s.

    .venv/bin/python bench/classroom_load.py [--people 30] [--duration 60]

Needs PostgreSQL and Redis on 127.0.0.1 (CACHE_URL and CELERY_BROKER_URL
from the environment). It uses its own database (--database) and trains a
small CNN of the served architecture into it (about 30 s): what a prediction
costs does not depend on how well the weights were trained.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests
from _django import ROOT  # bench/_django.py: the repository, now on sys.path

PY = sys.executable


def server_env(database: str, var_dir: Path, port: int) -> dict:
    """Production settings; the rate limits are left at their defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "RATELIMIT_", "DATABASE_URL"))}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        CACHE_URL=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1"),
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        VAR_DIR=str(var_dir),
        MNIST_PATH=str(ROOT / "var" / "mnist.npz"),
        WEB_CONCURRENCY="2",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        LOG_LEVEL="ERROR",  # not a line per 429
    )
    return env


def manage(env: dict, *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True)


def prepare(env: dict, database: str) -> None:
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", database], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
    manage(env, "migrate", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    manage(env, "train_baseline", "--epochs", "1", "--train-limit", "5000", "--test-limit", "1000")


def drawings(count: int = 40) -> list[str]:
    """MNIST test digits drawn as the page sends them: black ink on a white 280x280 canvas."""
    from PIL import Image

    with np.load(ROOT / "var" / "mnist.npz") as f:
        digits = f["x_test"][:count]
    urls = []
    for digit in digits:
        buffer = io.BytesIO()
        Image.fromarray(255 - digit).resize((280, 280), Image.BILINEAR).save(buffer, format="PNG")
        urls.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    return urls


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.latencies: list[float] = []
        self.predictions = 0
        self.stored = 0
        self.sent: dict[int, list[float]] = {}  # person -> times of their predictions

    def peak_per_second(self, *, person: int | None = None) -> int:
        """The most predictions sent in one wall-clock second, by one person or by everyone."""
        times = self.sent.get(person, []) if person is not None else [t for ts in self.sent.values() for t in ts]
        return max(Counter(int(t) for t in times).values(), default=0)

    def add(self, status: int | str, seconds: float, kind: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            if kind == "predict":
                self.latencies.append(seconds)
                self.predictions += status == 200
            else:
                self.stored += status == 200


def browser(base: str) -> requests.Session:
    """A person opening the page: their own session and CSRF cookie."""
    session = requests.Session()
    session.get(base + "/", timeout=30).raise_for_status()
    session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": base + "/"})
    return session


def post(session: requests.Session, url: str, body: dict, tally: Tally, kind: str) -> None:
    started = time.monotonic()
    try:
        status = session.post(url, json=body, timeout=30).status_code
    except requests.RequestException as exc:
        status = type(exc).__name__
    tally.add(status, time.monotonic() - started, kind)


def person(base: str, images: list[str], until: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    session = browser(base)
    sent = tally.sent.setdefault(seed, [])
    time.sleep(rng.uniform(0, 2))  # people do not start on the same millisecond
    while time.monotonic() < until:
        image = rng.choice(images)
        stop_drawing = time.monotonic() + rng.uniform(2, 3)
        while time.monotonic() < min(stop_drawing, until):
            started = time.monotonic()
            sent.append(time.time())
            post(session, base + "/api/digits/predict", {"image": image, "activations": True}, tally, "predict")
            time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))  # the page: at most one every ~100 ms
        if time.monotonic() >= until:
            break
        body = {"image": image, "label": rng.randrange(10), "label_source": "confirmed"}
        post(session, base + "/api/digits/samples", body, tally, "samples")
        time.sleep(rng.uniform(2, 4))


def classroom(base: str, people: int, duration: float) -> tuple[Tally, float]:
    images = drawings()
    tally = Tally()
    until = time.monotonic() + duration
    threads = [threading.Thread(target=person, args=(base, images, until, tally, i)) for i in range(people)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally, time.monotonic() - started


def hammer(base: str, rate: float, duration: float, threads: int = 16) -> tuple[Tally, float]:
    """One script, one session, `rate` predictions a second (open loop, spread over threads)."""
    image = drawings(1)[0]
    session = browser(base)
    cookie, token = session.cookies["csrftoken"], session.headers["X-CSRFToken"]
    tally = Tally()
    until = time.monotonic() + duration

    def loop(offset: float) -> None:
        own = requests.Session()
        own.cookies.set("csrftoken", cookie)
        own.headers.update({"X-CSRFToken": token, "Referer": base + "/"})
        interval = threads / rate
        next_at = time.monotonic() + offset
        while next_at < until:
            time.sleep(max(0.0, next_at - time.monotonic()))
            post(own, base + "/api/digits/predict", {"image": image, "activations": True}, tally, "predict")
            next_at = max(next_at + interval, time.monotonic())  # behind schedule: no catching up in a burst

    workers = [threading.Thread(target=loop, args=(i / rate,)) for i in range(threads)]
    started = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return tally, time.monotonic() - started


SHOW_LIMITS = (
    "import json; from django.conf import settings as s; names = "
    "('RATELIMIT_ENABLE', 'RATELIMIT_PREDICT', 'RATELIMIT_PREDICT_ADDRESS'); "
    "print(json.dumps({k: getattr(s, k) for k in names}))"
)


def wait_until_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    sys.exit(f"server at {url} did not come up")


def start_server(env: dict) -> subprocess.Popen:
    server = subprocess.Popen(
        [PY, "-m", "gunicorn", "webapp.wsgi:application", "-c", "webapp/gunicorn.conf.py"], cwd=ROOT, env=env
    )
    try:
        wait_until_up(f"http://{env['GUNICORN_BIND']}/api/models/served")
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


def show_limits(env: dict) -> dict:
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c", SHOW_LIMITS], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def report_classroom(name: str, tally: Tally, elapsed: float, people: int, limits: dict) -> None:
    lat = sorted(tally.latencies)
    errors = sum(n for s, n in tally.statuses.items() if s not in (200, 429))
    print(
        f"{name}: {people} people, {elapsed:.0f} s: {tally.predictions} predictions answered "
        f"({tally.predictions / elapsed:.0f}/s, {tally.predictions / elapsed / people:.1f}/s a person), "
        f"{tally.stored} drawings stored; 429s: {tally.statuses.get(429, 0)}, errors: {errors}; "
        f"predict p50 {statistics.median(lat) * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms"
    )
    busiest = max(tally.peak_per_second(person=p) for p in tally.sent)
    print(
        f"  busiest second: {busiest} predictions sent by one person (limit {limits['RATELIMIT_PREDICT']}), "
        f"{tally.peak_per_second()} by the address (ceiling {limits['RATELIMIT_PREDICT_ADDRESS']})"
    )


def main() -> None:
    from tests.ports import free_port

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--duration", type=float, default=60, help="seconds of drawing")
    parser.add_argument("--hammer-rate", type=float, default=200, help="predictions a second of the one script")
    parser.add_argument("--database", default="digitlab_classroom")
    parser.add_argument(
        "--old-rule",
        action="store_true",
        help="first run the classroom under the old rule (20/s per address, no per-browser limit) as a baseline",
    )
    args = parser.parse_args()

    port = free_port()
    var_dir = Path(tempfile.mkdtemp(prefix="digitlab-classroom-"))
    env = server_env(args.database, var_dir, port)
    prepare(env, args.database)
    base = f"http://127.0.0.1:{port}"
    print(f"load: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores")
    print("gunicorn: 2 sync workers, DEBUG off, PostgreSQL + Redis, every request from 127.0.0.1")

    if args.old_rule:
        old = {**env, "RATELIMIT_PREDICT": "100000/s", "RATELIMIT_PREDICT_ADDRESS": "20/s"}
        server = start_server(old)
        try:
            tally, elapsed = classroom(base, args.people, args.duration)
            report_classroom("old rule (baseline)", tally, elapsed, args.people, show_limits(old))
        finally:
            stop_server(server)

    limits = show_limits(env)
    server = start_server(env)
    try:
        tally, elapsed = classroom(base, args.people, args.duration)
        report_classroom("classroom", tally, elapsed, args.people, limits)

        time.sleep(1)  # out of the classroom's rate windows
        script, elapsed = hammer(base, args.hammer_rate, 10)
        sent = sum(script.statuses.values())
        print(
            f"one script aiming at {args.hammer_rate:.0f}/s on one session: {sent} sent in {elapsed:.1f} s "
            f"({sent / elapsed:.0f}/s), {script.statuses.get(200, 0)} answered "
            f"({script.statuses.get(200, 0) / elapsed:.1f}/s), {script.statuses.get(429, 0)} refused with 429; "
            f"answers {dict(script.statuses)}"
        )
        print(f"load: {os.getloadavg()[0]:.1f} (1 min)")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
