"""The collection side at scale: fill a scratch PostgreSQL database with N
synthetic drawings and time what reviewers, staff and training do with them.

    .venv/bin/python bench/scale.py              # N = 1,000,000 (filled once, reused)
    .venv/bin/python bench/scale.py --n 10000000 --refill
    .venv/bin/python bench/scale.py --skip-training

The scratch database is DATABASE_URL's name plus ``_bench`` (``--db`` to
choose); it is created, migrated and filled here with INSERT ... SELECT over
``generate_series`` (1/3 approved, 1/7 rejected, the rest pending, over 60
days and 5,000 clients, about 1 in 7 predictions disagreeing), and reused
while it holds exactly N drawings.  The 28x28 arrays are real MNIST training
digits (1,000 of them, repeated); the original PNG files are 4 canned images.

Pages are timed through Django's test client with a reviewer logged in
(median and 90th percentile of ``--repeat`` requests after two warm-ups).
The training measurements run in child processes (peak RSS of the process,
with its RSS after start-up beside it) on a second scratch database
(``<name>_train``) filled the same way with all N drawings approved; the
fine-tune runs in a transaction rolled back afterwards, so every run of the
benchmark starts from the same state.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import _django  # bench/_django.py
from _django import ROOT  # bench/_django.py: the repository, now on sys.path

STATE = ROOT / "var" / "bench-scale"
CANNED_DIGITS = 1000
CLIENTS = 5000
DAYS = 60
CHUNK = 250_000


def _bench_url(name: str | None) -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/digitlab")
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        sys.exit("bench/scale.py needs PostgreSQL: set DATABASE_URL to a postgres:// URL (its server is used).")
    name = name or parts.path.lstrip("/") + "_bench"
    return urlunsplit(parts._replace(path="/" + name))


def _setup(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ["RATELIMIT_ENABLE"] = "false"
    os.environ["ARTIFACT_ROOT"] = str(STATE / "artifacts")
    os.environ["MEDIA_ROOT"] = str(STATE / "media")
    os.environ["LOG_LEVEL"] = "WARNING"
    _django.setup(DEBUG="true")


def _create_database(db_url: str) -> None:
    import psycopg2

    parts = urlsplit(db_url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def _rss_mib() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it does
    not carry the parent's peak over a fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- filling ------------------------------------------------------------------


def _tiny_version():
    """A small real CNN in the scratch registry (trained once, 1 epoch on 3,000
    MNIST images): the drawings' model version and the fine-tune's parent.
    The scratch database outlives a checkout, its artifacts (under this
    checkout's var/) may not: a version whose files are missing here is
    replaced by a new one, made active."""
    from models.models import ModelVersion

    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    existing = active or ModelVersion.objects.order_by("id").first()
    if existing and all(f and f.storage.exists(f.name) for f in (existing.artifact, existing.litert_artifact)):
        return existing
    from models.registry import model_version_activate, model_version_register
    from training.datasets import load_mnist
    from training.litert import litert_for_registration
    from training.train import TrainConfig, train_baseline

    print("training a tiny CNN for the scratch registry ...", flush=True)
    config = TrainConfig(
        epochs=1, train_limit=3000, test_limit=1000, learning_rate=3e-3, batch_size=64, batchnorm=False
    )
    mnist = load_mnist()
    model, metrics, summary = train_baseline(mnist, config, verbose=0)
    lite = litert_for_registration(model, images=mnist.x_test[:1000])
    version = model_version_register(
        model=model,
        litert=lite.content,
        metrics=metrics,
        params={"bench": "scale"},
        data_summary=summary,
        architecture=lite.architecture,
    )
    return model_version_activate(version=version, by="bench/scale.py")


def _reviewer():
    from django.contrib.auth.models import Group, User

    user, created = User.objects.get_or_create(username="bench-reviewer", defaults={"is_staff": True})
    if created:
        user.groups.add(Group.objects.get(name="Reviewers"))
    return user


def _canned_files() -> None:
    from PIL import Image

    from training.datasets import load_mnist

    folder = STATE / "media" / "samples" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    mnist = load_mnist()
    for k in range(4):
        Image.fromarray(255 - mnist.x_train[k]).resize((280, 280)).save(folder / f"{k}.png")


def fill(n: int, refill: bool, all_approved: bool = False) -> None:
    from django.db import connection

    from digits.models import Sample
    from training.datasets import load_mnist

    version = _tiny_version()
    reviewer = _reviewer()
    _canned_files()
    wanted = Sample.objects.filter(status="approved") if all_approved else Sample.objects.all()
    if not refill and Sample.objects.count() == n and wanted.count() == n:
        # As autovacuum would have by now: fresh statistics and visibility map.
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE digits_sample")
        print(f"reusing {n:,} drawings", flush=True)
        return
    columns = {f.column for f in Sample._meta.concrete_fields}
    mnist = load_mnist()
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE digits_sample RESTART IDENTITY CASCADE")
        cur.execute("CREATE TEMP TABLE bench_digit (k int PRIMARY KEY, px bytea, label int)")
        cur.executemany(
            "INSERT INTO bench_digit VALUES (%s, %s, %s)",
            [(k, mnist.x_train[k].tobytes(), int(mnist.y_train[k])) for k in range(CANNED_DIGITS)],
        )
        cur.execute("CREATE TEMP TABLE bench_probs (d int PRIMARY KEY, probs jsonb)")
        cur.executemany(
            "INSERT INTO bench_probs VALUES (%s, %s)",
            [(d, json.dumps([0.82 if i == d else 0.02 for i in range(10)])) for d in range(10)],
        )
        cur.execute("SET synchronous_commit = off")
        # Optional columns of later schemas, filled the way the services fill them.
        extra_cols, extra_vals = "", ""
        if "margin" in columns:
            extra_cols += ", margin"
            extra_vals += ", s.confidence - 0.02"
        for start in range(1, n + 1, CHUNK):
            stop = min(n, start + CHUNK - 1)
            cur.execute(
                f"""
                INSERT INTO digits_sample (image, image_sha256, pixels, label, label_source, predicted, confidence,
                    probabilities, model_version_id, client_id, created_at, status, reviewed_by_id, reviewed_at
                    {extra_cols})
                SELECT s.image, s.sha, s.px, s.label, s.label_source, s.predicted, s.confidence, p.probs,
                    %(version)s, s.client_id, s.created_at, s.status,
                    CASE WHEN s.status = 'pending' THEN NULL ELSE %(reviewer)s END,
                    CASE WHEN s.status = 'pending' THEN NULL ELSE s.created_at + interval '1 hour' END
                    {extra_vals}
                FROM (
                    SELECT 'samples/bench/' || (i %% 4) || '.png' AS image,
                        md5(i::text) || md5((-i)::text) AS sha,
                        d.px, d.label,
                        CASE WHEN i %% 7 = 0 THEN (d.label + 1 + i %% 9) %% 10 ELSE d.label END AS predicted,
                        0.5 + (i %% 50) / 100.0 AS confidence,
                        CASE WHEN i %% 7 = 0 THEN 'corrected' WHEN i %% 5 = 0 THEN 'prompted' ELSE 'confirmed' END
                            AS label_source,
                        'client-' || ((i * 7919) %% {CLIENTS}) AS client_id,
                        now() - interval '{DAYS} days' + (i::float / %(n)s) * interval '{DAYS} days' AS created_at,
                        CASE WHEN %(all_approved)s OR (i * 13) %% 21 < 7 THEN 'approved'
                             WHEN (i * 13) %% 21 < 10 THEN 'rejected' ELSE 'pending' END AS status
                    FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i
                    JOIN bench_digit d ON d.k = i %% {CANNED_DIGITS}
                ) s JOIN bench_probs p ON p.d = s.predicted
                """,
                {
                    "version": version.pk,
                    "reviewer": reviewer.pk,
                    "n": n,
                    "start": start,
                    "stop": stop,
                    "all_approved": all_approved,
                },
            )
            print(f"  {stop:,} drawings ({time.perf_counter() - started:.0f} s)", flush=True)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE digits_sample")
    _rebuild_counts()
    print(f"filled {n:,} drawings in {time.perf_counter() - started:.0f} s", flush=True)


def _rebuild_counts() -> None:
    """Counter and rollup tables, where the schema has them, rebuilt from the
    rows (what the management command does after a bulk import)."""
    try:
        from digits.tallies import tallies_rebuild as rebuild
    except ImportError:  # a schema from before the tallies
        rebuild = None
    if rebuild is not None:
        started = time.perf_counter()
        rebuild()
        print(f"counts and rollups rebuilt in {time.perf_counter() - started:.1f} s", flush=True)


# --- timing pages -------------------------------------------------------------


def _time(label: str, call, repeat: int, rows: list) -> None:
    for _ in range(2):
        call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    rows.append((label, f"{statistics.median(times):.1f} ms", f"{p90:.1f} ms"))
    print(f"  {label}: median {statistics.median(times):.1f} ms, p90 {p90:.1f} ms", flush=True)


def pages(repeat: int) -> list:
    from django.test import Client

    client = Client()
    client.force_login(_reviewer())
    rows: list = []

    def get(path: str):
        def call():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.content[:300])
            return response

        return call

    _time("GET /api/review/queue (oldest first)", get("/api/review/queue?limit=5"), repeat, rows)
    _time(
        "GET /api/review/queue (disagreements first)",
        get("/api/review/queue?limit=5&disagreements_first=true"),
        repeat,
        rows,
    )
    queue = client.get("/api/review/queue?limit=20").json()["samples"]
    ids = iter(s["id"] for s in queue)

    def decide():
        sample_id = next(ids)
        response = client.post(
            f"/api/review/samples/{sample_id}/decision", {"action": "approve"}, content_type="application/json"
        )
        assert response.status_code == 200, response.content[:300]
        assert "pending" in response.json()["counts"]

    _time("POST a review decision (with counts)", decide, min(repeat, 18), rows)
    _time("GET /review/statistics/", get("/review/statistics/"), repeat, rows)
    _time("GET /admin/digits/sample/ (unfiltered)", get("/admin/digits/sample/"), repeat, rows)
    _time("GET /admin/digits/sample/?status=pending", get("/admin/digits/sample/?status__exact=pending"), repeat, rows)
    _time("GET /admin/digits/sample/?disagrees=yes", get("/admin/digits/sample/?disagrees=yes"), repeat, rows)
    _time("GET /admin/digits/sample/?label=7", get("/admin/digits/sample/?label=7"), repeat, rows)
    year = time.gmtime().tm_year
    _time(
        "GET /admin/digits/sample/ (date hierarchy: a year)",
        get(f"/admin/digits/sample/?created_at__year={year}"),
        repeat,
        rows,
    )
    return rows


# --- training (child processes) -----------------------------------------------


def _rolled_back():
    """A transaction rolled back at exit: what the fine-tune registers goes, so
    the next run of the benchmark starts from the same state."""
    from django.db import transaction

    atomic = transaction.atomic()
    atomic.__enter__()
    return atomic


def child_load() -> dict:
    """Load every approved drawing the way training does: time and peak RSS."""
    import numpy as np

    from digits import selectors

    before = _rss_mib()
    started = time.perf_counter()
    if "folder" in inspect.signature(selectors.samples_arrays).parameters:  # streams into a memory-mapped file
        x, y, _ = selectors.samples_arrays(selectors.approved_samples(), folder=STATE / "arrays")
    else:
        x, y = selectors.approved_samples_get()
    seconds = time.perf_counter() - started
    checksum = int(np.asarray(y, dtype=np.int64).sum())
    return {
        "rows": int(len(y)),
        "seconds": seconds,
        "rss_start_mib": before,
        "rss_peak_mib": _rss_mib(),
        "x_shape": list(x.shape),
        "checksum": checksum,
    }


def child_fine_tune() -> dict:
    """One threshold fine-tuning run, as a worker runs it, with every drawing
    approved (rolled back afterwards, the new version too)."""
    from django.utils import timezone

    from training.models import TrainingRun
    from training.services import fine_tune_run_execute

    before = _rss_mib()
    atomic = _rolled_back()
    # Everything counts as newly approved: the last run ended before the data.
    TrainingRun.objects.filter(status__in=TrainingRun.IN_FLIGHT).update(status=TrainingRun.Status.FAILED)
    run = TrainingRun.objects.create(trigger=TrainingRun.Trigger.THRESHOLD, requested_by="bench/scale.py")
    started = time.perf_counter()
    run = fine_tune_run_execute(run_id=run.pk)
    seconds = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "status": run.status,
        "message": run.message[:300],
        "error": run.error[-600:],
        "summary": {k: v for k, v in (run.data_summary or {}).items() if not isinstance(v, list)},
        "rss_start_mib": before,
        "rss_peak_mib": _rss_mib(),
        "finished": timezone.now().isoformat(),
    }
    atomic.__exit__(RuntimeError, RuntimeError("rollback"), None)
    return result


def _child(kind: str, db_url: str, timeout: int, n: int = 0, refill: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--db-url", db_url, "--n", str(n)]
    command += ["--refill"] if refill else []
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"failed": done.returncode, "stderr": done.stderr[-1500:]}
    return json.loads(lines[-1])


def child_fill_train(n: int, refill: bool) -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill(n, refill, all_approved=True)
    return {"filled": n}


def training(db_url: str, fine_tune_timeout: int, n: int, refill: bool) -> list:
    """In a second scratch database where all N drawings are approved."""
    rows = []
    _create_database(db_url)
    filled = _child("fill_train", db_url, 3600, n=n, refill=refill)
    print("  training database:", filled, flush=True)
    load = _child("load", db_url, 900)
    print("  load:", load, flush=True)
    if "seconds" in load:
        rows.append(
            (
                f"load {load['rows']:,} approved drawings for training",
                f"{load['seconds']:.1f} s",
                f"peak RSS {load['rss_peak_mib']:.0f} MiB (start-up {load['rss_start_mib']:.0f} MiB)",
            )
        )
    else:
        rows.append(("load approved drawings for training", json.dumps(load)[:120], ""))
    tune = _child("fine_tune", db_url, fine_tune_timeout)
    print("  fine-tune:", tune, flush=True)
    if "seconds" in tune:
        rows.append(
            (
                f"threshold fine-tune, {n:,} approved drawings",
                f"{tune['seconds']:.1f} s",
                f"{tune['status']}; peak RSS {tune['rss_peak_mib']:.0f} MiB",
            )
        )
    elif "timeout" in tune:
        rows.append((f"threshold fine-tune, {n:,} approved drawings", f"> {tune['timeout']} s (stopped)", ""))
    else:
        rows.append((f"threshold fine-tune, {n:,} approved drawings", "failed", tune.get("stderr", "")[-200:]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--db", help="scratch database name (default: DATABASE_URL's name + _bench)")
    parser.add_argument("--refill", action="store_true", help="empty and fill again even if it holds N drawings")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--fine-tune-timeout", type=int, default=600)
    parser.add_argument("--child", choices=["load", "fine_tune", "fill_train"], help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        _setup(args.db_url)
        children = {"load": child_load, "fine_tune": child_fine_tune}
        result = children[args.child]() if args.child in children else child_fill_train(args.n, args.refill)
        print(json.dumps(result), flush=True)
        return

    db_url = _bench_url(args.db)
    _create_database(db_url)
    _setup(db_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill(args.n, args.refill)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min)  database: {urlsplit(db_url).path.lstrip('/')}", flush=True)
    rows = pages(args.repeat)
    if not args.skip_training:
        train_url = urlunsplit(urlsplit(db_url)._replace(path=urlsplit(db_url).path + "_train"))
        rows += training(train_url, args.fine_tune_timeout, args.n, args.refill)
    width = max(len(r[0]) for r in rows)
    print(f"\n{args.n:,} drawings; load average {os.getloadavg()[0]:.2f}")
    print(f"{'what':<{width}}  {'median':>12}  p90 / notes")
    for label, median, note in rows:
        print(f"{label:<{width}}  {median:>12}  {note}")


if __name__ == "__main__":
    main()
