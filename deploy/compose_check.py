"""`make compose-check`: the production stack built and started from
docker-compose.yml (migrate, 3 web replicas behind the nginx proxy, worker,
beat, PostgreSQL, Redis), then driven through the proxy with plain HTTP as a
visitor, a reviewer and an operator would.  Every step prints what it saw and
how long it took; anything wrong stops the check with the reason.

    deploy/podman-host start && deploy/local-images   # the engine and base images (make compose-check does both)
    .venv/bin/python deploy/compose_check.py           # up, check, down
    .venv/bin/python deploy/compose_check.py build up check  # and leave it running (127.0.0.1:8088)

The first baseline is small (BASELINE_*: one epoch on 6,000 MNIST
images, about a minute instead of five) and fine-tuning is shortened the same
way: this checks that the platform works, not how good its model is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.drawings import data_url, seven_png  # noqa: E402  (Pillow only, no Django)

PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "digitlab-check")
PORT = int(os.environ.get("COMPOSE_CHECK_PORT", "8088"))
BASE = f"http://127.0.0.1:{PORT}"
REPLICAS = 3
PASSWORD = "compose-check-not-a-secret"  # a throwaway stack on 127.0.0.1
PAGES = ["/", "/review/", "/review/statistics/", "/models/", "/admin/", "/admin/digits/sample/", "/api/docs"]
STATIC = re.compile(r'(?:src|href)="(/static/[^"]+)"')
# What the check changes from the production defaults, and why: minutes saved.
CHECK_SETTINGS = {
    "BASELINE_EPOCHS": "1",
    "BASELINE_TRAIN_LIMIT": "6000",
    "BASELINE_TEST_LIMIT": "2000",
    "FINE_TUNE_EPOCHS": "1",
    "FINE_TUNE_REHEARSAL": "2000",
    "FINE_TUNE_TEST_LIMIT": "2000",
}
TIMINGS: dict[str, float] = {}
FIGURES: dict[str, object] = {}


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@contextmanager
def step(name: str):
    started = time.monotonic()
    print(f"--- {name}", flush=True)
    yield
    TIMINGS[name] = round(time.monotonic() - started, 1)
    print(f"    {name}: {TIMINGS[name]} s", flush=True)


def compose_env() -> dict[str, str]:
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        **os.environ,
        "COMPOSE_PROJECT_NAME": PROJECT,
        "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///run/digitlab-podman/podman.sock"),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "DIGITLAB_PORT": f"127.0.0.1:{PORT}",
        "GIT_REVISION": revision.stdout.strip() or "unknown",
        **CHECK_SETTINGS,
    }


ENV = compose_env()


def compose(*args: str, timeout: float = 1800, check: bool = True, quiet: bool = False) -> str:
    result = subprocess.run(
        ["docker-compose", *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise CheckFailed(f"docker-compose {' '.join(args)}: exit {result.returncode}\n{result.stderr[-4000:]}")
    if not quiet and result.stdout.strip():
        print(result.stdout.rstrip()[-2000:])
    return result.stdout


def manage(*args: str, service: str = "web") -> str:
    return compose("exec", "-T", service, "python", "manage.py", *args, quiet=True)


def sql(query: str) -> str:
    """One query through psql in the db container (no client on the host needed)."""
    return compose("exec", "-T", "db", "psql", "-U", "digitlab", "-d", "digitlab", "-At", "-c", query, quiet=True)


def web_hosts() -> set[str]:
    """The web containers' host names (a container's is its short id): what `served_by` names."""
    ids = compose("ps", "-q", "web", quiet=True).split()
    return {i[:12] for i in ids}


class Client(requests.Session):
    """A browser: cookies kept, the CSRF token sent with every POST."""

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 60)
        kwargs["allow_redirects"] = False  # Session.get asks to follow them
        if method.upper() == "POST":
            headers = kwargs.setdefault("headers", {})
            headers.setdefault("X-CSRFToken", self.cookies.get("csrftoken", ""))
        return super().request(method, BASE + url, *args, **kwargs)

    def login(self, username: str) -> None:
        self.get("/admin/login/")
        answer = self.post(
            "/admin/login/?next=/admin/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": self.cookies["csrftoken"]},
        )
        expect(answer.status_code == 302, f"login as {username}: {answer.status_code}")


def drawing(i: int) -> str:
    """A different "7" for every i (the same drawing sent twice is one sample)."""
    left, top = 40 + (i * 7) % 50, 30 + (i * 11) % 40
    return data_url(seven_png(box=(left, top, left + 140 + i % 30, top + 180), width=16 + i % 9))


# --- bringing the stack up --------------------------------------------------------------------


def build() -> None:
    with step("build"):
        compose("build", timeout=3600, quiet=True)


def stack_up() -> None:
    with step("down -v (a fresh stack: no volumes from an earlier check)"):
        compose("down", "-v", "--remove-orphans", timeout=300, quiet=True)
    with step(f"up: migrate (and the first baseline), {REPLICAS} web replicas healthy, proxy"):
        compose("up", "-d", "--scale", f"web={REPLICAS}", timeout=3600)
        wait_for_proxy()
    expect(len(web_hosts()) == REPLICAS, f"web replicas: {web_hosts()}")
    with step("a new process in a web container finds the database by name"):
        wait_for_names()
    manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import Group, User\n"
        f"rita = User.objects.create_user('rita', 'rita@example.org', '{PASSWORD}', is_staff=True)\n"
        "rita.groups.add(Group.objects.get(name='Reviewers'))\n"
        f"User.objects.create_superuser('olga', 'olga@example.org', '{PASSWORD}')\n",
    )


def wait_for_names() -> None:
    """Right after `up`, a new process in a web container has been seen to
    fail to resolve `db` for a while ("Temporary failure in name
    resolution", podman's aardvark-dns 1.4) although the replicas were
    healthy; retry until it resolves, in at most 60 s, and say how long."""
    probe = "import socket; socket.getaddrinfo('db', 5432); socket.getaddrinfo('redis', 6379)"
    started, tries = time.monotonic(), 0
    while True:
        tries += 1
        result = subprocess.run(
            ["docker-compose", "exec", "-T", "web", "python", "-c", probe],
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode == 0:
            FIGURES["name lookups before db and redis resolved"] = tries
            return
        expect(time.monotonic() - started < 60, f"web never resolved db and redis: {result.stderr[-1000:]}")
        time.sleep(1)


def wait_for_proxy() -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            if requests.get(BASE + "/", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        expect(time.monotonic() < deadline, "the proxy never answered / with 200")
        time.sleep(1)


def stack_down() -> None:
    with step("down -v"):
        compose("down", "-v", "--remove-orphans", timeout=300, quiet=True)


# --- the checks -------------------------------------------------------------------------------


def check_pages() -> None:
    with step("every page and its static files, as a reviewer"):
        anonymous = Client()
        expect(anonymous.get("/review/").status_code == 302, "/review/ is not for anonymous visitors")
        reviewer = Client()
        reviewer.login("rita")
        static: set[str] = set()
        for path in PAGES:
            answer = reviewer.get(path)
            expect(answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}")
            static.update(STATIC.findall(answer.text))
        expect(any(p.endswith(".js") for p in static) and any(p.endswith(".css") for p in static), str(static))
        for path in sorted(static):
            answer = reviewer.get(path)
            expect(answer.status_code == 200 and bool(answer.content), f"{path}: {answer.status_code}")
        print(f"    {len(PAGES)} pages, {len(static)} static files: 200")


def check_predict_and_store() -> list[int]:
    """Predict and store with CSRF as an anonymous visitor; store the drawings the retrain learns from."""
    with step("predict and store with CSRF"):
        visitor = Client()
        expect(visitor.get("/").status_code == 200, "/")
        body = {"image": drawing(0), "activations": True}
        refused = visitor.request("POST", "/api/digits/predict", json=body, headers={"X-CSRFToken": ""})
        expect(refused.status_code in (401, 403), f"predict without a CSRF token: {refused.status_code}")
        predicted = visitor.post("/api/digits/predict", json=body)
        expect(predicted.status_code == 200, f"predict: {predicted.status_code} {predicted.text[:300]}")
        answer = predicted.json()
        expect(answer["served_by"]["host"] in web_hosts(), f"served_by {answer['served_by']}")
        ids = []
        for i in range(40):
            stored = visitor.post(
                "/api/digits/samples", json={"image": drawing(i), "label": 7, "label_source": "confirmed"}
            )
            expect(stored.status_code == 200, f"store: {stored.status_code} {stored.text[:300]}")
            ids.append(stored.json()["id"])
        expect(len(set(ids)) == 40, "40 different drawings are 40 samples")
        expect(sql(f"select count(*) from digits_sample where id in ({','.join(map(str, ids))})").strip() == "40", "")
        print(f"    predicted {answer['digit']} (version {answer['model']['version']}), stored 40 drawings")
        return ids


def check_review(ids: list[int]) -> None:
    with step("review decisions"):
        reviewer = Client()
        reviewer.login("rita")
        for sample_id in ids:
            decided = reviewer.post(f"/api/review/samples/{sample_id}/decision", json={"action": "approve"})
            expect(decided.status_code == 200, f"decision on {sample_id}: {decided.status_code} {decided.text[:300]}")
        approved = sql(
            f"select count(*) from digits_sample where status = 'approved' and id in ({','.join(map(str, ids))})"
        )
        expect(approved.strip() == str(len(ids)), f"approved: {approved}")
        print(f"    {len(ids)} drawings approved by rita")


def check_retrain() -> dict:
    """ "Retrain now" in the admin; the run is claimed and finished by the worker container."""
    with step('"Retrain now" runs in the worker container'):
        operator = Client()
        operator.login("olga")
        run = retrain(operator)
        expect(run["status"] == "succeeded", f"run {run['id']}: {run['status']} {run['message']} {run['error']}")
        worker_log = compose("logs", "--no-color", "worker", quiet=True)
        expect(
            re.search(r"fine_tune_run\[[^\]]+\] succeeded", worker_log) is not None,
            "the worker container's log does not show the run",
        )
        print(f"    run {run['id']}: {run['message']}")
        return run


def retrain(operator: Client) -> dict:
    """The admin's "Retrain now", then the run's end."""
    before = operator.get("/api/training/runs/latest")
    previous = before.json()["id"] if before.status_code == 200 else None
    started = operator.post(
        "/admin/training/trainingrun/retrain/", data={"csrfmiddlewaretoken": operator.cookies["csrftoken"]}
    )
    expect(started.status_code == 302, f"Retrain now: {started.status_code}")
    deadline = time.monotonic() + 900
    while True:
        answer = operator.get("/api/training/runs/latest")
        run = answer.json() if answer.status_code == 200 else {}
        if run.get("id") != previous and run.get("status") in ("succeeded", "failed", "skipped"):
            return run
        expect(time.monotonic() < deadline, f"no run finished within 900 s: {answer.text[:300]}")
        time.sleep(2)


@dataclass
class Answer:
    at: float
    status: int
    version: int | None = None
    host: str = ""
    pid: int = 0


@dataclass
class Pollers:
    """Visitors predicting through the proxy, each with its own session and
    at most 10 a second (under the per-browser limit), recording who answered."""

    count: int = 8
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, index: int) -> None:
        visitor = Client()
        visitor.get("/")
        body = {"image": drawing(1000 + index)}
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                answer = visitor.post("/api/digits/predict", json=body, timeout=10)
                got = answer.json() if answer.status_code == 200 else {}
                served = got.get("served_by", {})
                self.answers.append(
                    Answer(
                        time.time(),
                        answer.status_code,
                        got.get("model", {}).get("version"),
                        served.get("host", ""),
                        served.get("pid", 0),
                    )
                )
            except requests.RequestException:
                self.answers.append(Answer(time.time(), 0))
            time.sleep(max(0.0, 0.1 - (time.monotonic() - sent)))

    def __enter__(self):
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(self.count)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)


def swap_to(version: int, *, label: str) -> float:
    """Activate `version` with `manage.py promote` while visitors predict;
    measure from the activation's commit until no replica answers with
    another version, and count failed requests."""
    hosts = web_hosts()
    with step(f"{label}: every web replica serves version {version}"), Pollers() as pollers:
        time.sleep(2)
        before = {a.version for a in pollers.answers if a.status == 200}
        expect(version not in before, f"version {version} is already served: {before}")
        manage("promote", str(version), "--reason", f"compose check: {label}")
        activated = float(
            sql(f"select extract(epoch from activated_at) from models_modelversion where version = {version}")
        )
        deadline = time.time() + 30
        while True:
            time.sleep(0.5)
            recent = [a for a in pollers.answers if a.at > time.time() - 2]
            after = [a for a in pollers.answers if a.at > activated]
            new_hosts = {a.host for a in after if a.version == version}
            if new_hosts == hosts and recent and all(a.version == version for a in recent):
                break
            expect(time.time() < deadline, f"after 30 s, replicas serving {version}: {new_hosts} of {hosts}")
    answers = pollers.answers
    failed = [a for a in answers if a.status != 200]
    old = [a.at for a in answers if a.status == 200 and a.version != version]
    processes = {(a.host, a.pid) for a in answers if a.version == version and a.at > activated}
    seconds = max(0.0, max(old, default=activated) - activated)
    FIGURES[label] = {
        "version": version,
        "seconds_after_activation_commit": round(seconds, 3),
        "requests": len(answers),
        "failed": len(failed),
        "replicas": len(hosts),
        "processes_serving_it": len(processes),
    }
    print(f"    {FIGURES[label]}")
    expect(not failed, f"{len(failed)} failed requests during the swap: {[a.status for a in failed][:10]}")
    return seconds


def check_versions(run: dict) -> None:
    """The retrain's version on every replica, then the rollback to its parent."""
    candidate, parent = run["result"], run["parent"]
    expect(candidate is not None and parent is not None, f"run {run['id']} registered no version")
    active = int(sql("select version from models_modelversion where status = 'active'"))
    if active == candidate:  # the gate promoted it: roll back, then promote it again by hand
        swap_to(parent, label="rollback")
        swap_to(candidate, label="new version")
    else:  # the gate kept the parent: promote the candidate by hand, then roll back
        swap_to(candidate, label="new version")
        swap_to(parent, label="rollback")


def check_metrics_refused() -> None:
    with step("/metrics refused through the proxy, served on the compose network"):
        through_proxy = requests.get(BASE + "/metrics", timeout=10)
        expect(through_proxy.status_code == 403, f"/metrics through the proxy: {through_proxy.status_code}")
        inside = compose(
            "exec",
            "-T",
            "worker",
            "python",
            "-c",
            # As Prometheus's dns_sd_configs would: every replica by its
            # address, which is then the Host header (docs/production.md).
            "import socket, urllib.request as u; "
            "ips = sorted({a[4][0] for a in socket.getaddrinfo('web', 8000, socket.AF_INET)}); "
            "print(len(ips), *[u.urlopen(f'http://{ip}:8000/metrics', timeout=10).status for ip in ips])",
            quiet=True,
        )
        expect(inside.split() == [str(REPLICAS)] + ["200"] * REPLICAS, f"/metrics from the worker container: {inside}")


# --- faults ----------------------------------------------------------------------------------


def engine(method: str, path: str) -> dict | list | None:
    """One call to the engine's Docker API (podman serves it): what compose cannot do to one replica."""
    socket_path = ENV["DOCKER_HOST"].removeprefix("unix://")
    answer = subprocess.run(
        ["curl", "-sf", "-X", method, "--unix-socket", socket_path, f"http://d{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(answer) if answer.strip() else None


def started_at(service: str) -> dict[str, str]:
    return {
        i[:12]: engine("GET", f"/containers/{i}/json")["State"]["StartedAt"]
        for i in compose("ps", "-q", service, quiet=True).split()
    }


@dataclass
class Person:
    """Someone drawing: a few predictions while drawing, then the label
    stored; every request retried after a failure, as the page does."""

    index: int
    stored: dict[str, int] = field(default_factory=dict)  # drawing -> sample id
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def send(self, visitor: Client, path: str, body: dict) -> dict:
        for _ in range(60):
            try:
                answer = visitor.post(path, json=body, timeout=15)
                if answer.status_code == 200:
                    return answer.json()
                self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
                delay = float(answer.headers.get("Retry-After", "0.5"))
            except requests.RequestException:
                self.statuses[0] = self.statuses.get(0, 0) + 1
                delay = 0.5
            self.retries += 1
            time.sleep(delay)
        raise CheckFailed(f"person {self.index}: {path} kept failing: {self.statuses}")

    def draw(self, stop: threading.Event) -> None:
        visitor = Client()
        while visitor.get("/").status_code != 200:
            time.sleep(0.5)
        k = 0
        while not stop.is_set():
            image = drawing(10_000 + self.index * 1000 + k)
            for _ in range(3):
                self.send(visitor, "/api/digits/predict", {"image": image})
                time.sleep(0.2)
            self.stored[image] = self.send(
                visitor, "/api/digits/samples", {"image": image, "label": 7, "label_source": "confirmed"}
            )["id"]
            k += 1
            time.sleep(1)


def kill_a_web_container_under_load() -> None:
    with step("fault: one web container killed while 30 people draw"):
        victim = sorted(compose("ps", "-q", "web", quiet=True).split())[0]
        stop = threading.Event()
        people = [Person(i) for i in range(30)]
        threads = [threading.Thread(target=p.draw, args=(stop,), daemon=True) for p in people]
        for thread in threads:
            thread.start()
        time.sleep(8)
        engine("POST", f"/containers/{victim}/kill")
        time.sleep(15)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        ids = [i for p in people for i in p.stored.values()]
        drawings = sum(len(p.stored) for p in people)
        found = int(sql(f"select count(*) from digits_sample where id in ({','.join(map(str, ids))})"))
        statuses: dict[int, int] = {}
        for p in people:
            for code, n in p.statuses.items():
                statuses[code] = statuses.get(code, 0) + n
        FIGURES["web_killed_under_load"] = {
            "drawings_stored": drawings,
            "found_in_database": found,
            "lost": drawings - found,
            "retries": sum(p.retries for p in people),
            "failures_retried_by_status": statuses,
        }
        print(f"    {FIGURES['web_killed_under_load']}")
        expect(drawings > 30 and found == drawings, "stored drawings lost")
        compose("up", "-d", "--no-recreate", "--scale", f"web={REPLICAS}", quiet=True)  # the killed one back
        compose("restart", "proxy", quiet=True)


def restart_the_database() -> None:
    with step("fault: the PostgreSQL container restarted; web and worker recover by themselves"):
        web_before, worker_before = started_at("web"), started_at("worker")
        compose("restart", "db", quiet=True)
        recovered = time.monotonic()
        # Enough drawings that every web process meets the new server with
        # the connection it held to the old one.
        person = Person(99)
        visitor = Client()
        visitor.get("/")
        for k in range(30):
            image = drawing(99_000 + k)
            person.send(visitor, "/api/digits/samples", {"image": image, "label": 7, "label_source": "confirmed"})
        FIGURES["database_restarted"] = {
            "drawings_stored_after": 30,
            "retries": person.retries,
            "failures_retried_by_status": person.statuses,
            "seconds_to_store_them": round(time.monotonic() - recovered, 1),
        }
        operator = Client()
        operator.login("olga")
        run = retrain(operator)  # the worker reads and writes the database again
        expect(run["status"] in ("succeeded", "skipped"), f"run after the database restart: {run}")
        expect(
            started_at("web") == web_before and started_at("worker") == worker_before,
            "a web or worker container restarted",
        )
        FIGURES["database_restarted"]["run_after"] = run["status"]
        print(f"    {FIGURES['database_restarted']}")


def kill_the_worker_mid_run() -> None:
    with step("fault: the worker container killed mid-run; the run is marked failed, the next succeeds"):
        reviewer = Client()
        reviewer.login("rita")
        pending = [
            int(i) for i in sql("select id from digits_sample where status = 'pending' order by id limit 60").split()
        ]
        for sample_id in pending:
            reviewer.post(f"/api/review/samples/{sample_id}/decision", json={"action": "approve"})
        operator = Client()
        operator.login("olga")
        started = operator.post(
            "/admin/training/trainingrun/retrain/", data={"csrfmiddlewaretoken": operator.cookies["csrftoken"]}
        )
        expect(started.status_code == 302, f"Retrain now: {started.status_code}")
        deadline = time.monotonic() + 300
        while (run := operator.get("/api/training/runs/latest").json())["status"] != "running":
            expect(
                time.monotonic() < deadline and run["status"] == "queued",
                f"run never ran: {run}",
            )
            time.sleep(1)
        time.sleep(5)
        (worker,) = compose("ps", "-q", "worker", quiet=True).split()
        engine("POST", f"/containers/{worker}/kill")
        killed = run["id"]
        compose("up", "-d", "--no-recreate", "worker", quiet=True)  # its restart policy may have started it already
        deadline = time.monotonic() + 120
        while (status := sql(f"select status from training_trainingrun where id = {killed}").strip()) == "running":
            expect(time.monotonic() < deadline, f"run {killed} still running 120 s after its worker was killed")
            time.sleep(2)
        expect(status == "failed", f"run {killed}: {status}")
        run = retrain(operator)
        expect(run["status"] == "succeeded" and run["id"] != killed, f"the next run: {run}")
        FIGURES["worker_killed"] = {
            "killed_run": killed,
            "marked": status,
            "next_run": run["id"],
            "next": run["status"],
        }
        print(f"    {FIGURES['worker_killed']}")


def faults() -> None:
    kill_a_web_container_under_load()
    restart_the_database()
    kill_the_worker_mid_run()


# --- backup and restore ----------------------------------------------------------------------

# Every table's row count, from one query (query_to_xml runs a count per table).
ROW_COUNTS = """
select table_name, (xpath('/row/c/text()',
    query_to_xml(format('select count(*) as c from %I', table_name), false, true, '')))[1]::text
from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1
"""
# What the rows hold, for the tables people's work lives in.
CONTENT_TABLES = [
    "digits_sample",
    "models_modelversion",
    "models_modelactivation",
    "training_trainingrun",
    "auth_user",
]


def stack_state() -> dict:
    """What a restore must bring back: every table's rows, a digest of the
    rows of the tables that hold people's work, every file's sha256 on the
    appdata volume, and the version every replica serves."""
    counts = dict(line.split("|") for line in sql(ROW_COUNTS).split())
    digests = {
        table: sql(f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {table} t").strip()
        for table in CONTENT_TABLES
    }
    listing = compose(
        "exec",
        "-T",
        "worker",
        "sh",
        "-c",
        "cd /data && find artifacts media -type f -print0 | sort -z | xargs -0 -r sha256sum",
        quiet=True,
    )
    files = {path: digest for digest, path in (line.split(None, 1) for line in listing.splitlines())}
    with Pollers(count=4) as pollers:
        time.sleep(3)
    served = {(a.host, a.version) for a in pollers.answers if a.status == 200}
    expect(all(a.status == 200 for a in pollers.answers), "predictions failed while reading the state")
    return {
        "counts": counts,
        "digests": digests,
        "files": files,
        "served": sorted({v for _, v in served}),
        "hosts": len({h for h, _ in served}),
    }


def volumes() -> list[str]:
    """The project's volumes, as the engine lists them."""
    names = [v["Name"] for v in engine("GET", "/volumes")["Volumes"] or []]
    return [n for n in names if n.startswith((PROJECT + "_", PROJECT.replace("-", "") + "_"))]


def backup_drill() -> None:
    """Fill (the checks above did), back up, destroy every volume, restore,
    compare."""
    folder = ROOT / "var" / "compose-check-backup"
    with step("restore drill: the state before"):
        before = stack_state()
        expect(int(before["counts"]["digits_sample"]) > 0 and len(before["files"]) > 0, "nothing to back up")
    with step("restore drill: deploy/backup"):
        subprocess.run(["rm", "-rf", str(folder)], check=True)
        subprocess.run(["deploy/backup", str(folder)], cwd=ROOT, env=ENV, check=True, capture_output=True, timeout=600)
        FIGURES["backup_bytes"] = {p.name: p.stat().st_size for p in folder.iterdir()}
    with step("restore drill: down -v (every container and volume gone)"):
        names = volumes()
        expect(len(names) >= 2, f"volumes before: {names}")
        compose("down", "-v", timeout=300, quiet=True)
        expect(volumes() == [], f"volumes left: {volumes()}")
    with step("restore drill: deploy/restore, up"):
        restored = subprocess.run(
            ["deploy/restore", str(folder)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900
        )
        expect(restored.returncode == 0, f"deploy/restore: {restored.stdout[-2000:]} {restored.stderr[-2000:]}")
        compose("up", "-d", "--scale", f"web={REPLICAS}", timeout=1800, quiet=True)
        wait_for_proxy()
    with step("restore drill: the state after"):
        after = stack_state()
    for key in ("counts", "digests", "files", "served"):
        differing = (
            sorted(k for k in set(before[key]) | set(after[key]) if before[key].get(k) != after[key].get(k))
            if isinstance(before[key], dict)
            else (before[key] != after[key])
        )
        expect(not differing, f"restore drill: {key} differ: {differing}")
    FIGURES["restore_drill"] = {
        "tables": len(after["counts"]),
        "rows": sum(int(c) for c in after["counts"].values()),
        "files": len(after["files"]),
        "served_version": after["served"],
        "replicas": after["hosts"],
    }
    print(f"    {FIGURES['restore_drill']}: every count, row digest and sha256 equal")


def check() -> None:
    check_pages()
    ids = check_predict_and_store()
    check_review(ids)
    run = check_retrain()
    check_versions(run)
    check_metrics_refused()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "phases",
        nargs="*",
        help="of build, up, check, faults, backup, down (default: build up check backup down)",
    )
    phases = parser.parse_args().phases or ["build", "up", "check", "backup", "down"]
    unknown = set(phases) - {"build", "up", "check", "faults", "backup", "down"}
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    try:
        if "build" in phases:
            build()
        if "up" in phases:
            stack_up()
        if "check" in phases:
            check()
        if "faults" in phases:
            faults()
        if "backup" in phases:
            backup_drill()
    except CheckFailed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        print(compose("ps", check=False, quiet=True), file=sys.stderr)
        return 1
    finally:
        TIMINGS["total"] = round(time.monotonic() - started, 1)
        print(json.dumps({"timings_s": TIMINGS, "figures": FIGURES}, indent=1))
    if "down" in phases:
        stack_down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
