"""HTTP load on the production server, the LiteRT path beside the old one in
the same run.

gunicorn as docker-compose runs it (webapp/gunicorn.conf.py, DEBUG off, 2 sync
workers, PostgreSQL, Redis cache) with the production rate limits on: wrk on
loopback sends predict requests that rotate over many browser sessions (each
its own CSRF cookie, which is what the per-browser limit counts; all from one
address, under the per-address ceiling), at concurrency 1, 8 and 32, then
with activations at concurrency 1.  Then a model swap while wrk keeps
concurrency 8: the activation is committed in this process, its commit time
taken in ``transaction.on_commit``, and probe clients record each answer's
version and the web process that gave it (``served_by``), so the report
says when each worker first answered with the new version, the slowest one,
and how many requests failed.  The resident memory of each web worker is
read after the load.

The old path is the tree at ``--baseline-ref`` (web processes on TensorFlow),
checked out with `git worktree` and served the same way against the same
database; ``--baseline-ref ''`` skips it.

    .venv/bin/python bench/http_load.py [--duration 10] [--workers 2] [--sessions 400]

Needs wrk (`apt-get install wrk`), PostgreSQL and Redis on 127.0.0.1.  It uses
its own database digitlab_bench and Redis databases 12 and 13.  It serves the
active model of the local registry (var/, from `make run`), or else trains a
small CNN of the served architecture (timings do not depend on accuracy).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import _django  # bench/_django.py
from _django import ROOT  # bench/_django.py: the repository, now on sys.path

PY = sys.executable
BENCH_DB = "postgres://postgres@127.0.0.1:5432/digitlab_bench"
# The last commit whose web processes served through TensorFlow.
BASELINE_REF = "763992d"


def bench_env(var_dir: Path, port: int, workers: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "CACHE_URL"))}
    env = {k: v for k, v in env.items() if not k.startswith(("RATELIMIT_", "DEBUG"))}  # production limits
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=BENCH_DB,
        CACHE_URL="redis://127.0.0.1:6379/12",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/13",
        VAR_DIR=str(var_dir),
        ARTIFACT_ROOT=str(var_dir / "artifacts"),
        MNIST_PATH=str(ROOT / "var" / "mnist.npz"),
        WEB_CONCURRENCY=str(workers),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        LOG_LEVEL="WARNING",
    )
    return env


def manage(env: dict, *args: str, cwd: Path = ROOT) -> str:
    out = subprocess.run([PY, "manage.py", *args], cwd=cwd, env=env, check=True, text=True, capture_output=True)
    return out.stdout


def local_baseline_path() -> Path | None:
    """The artifact of the active version in the local (var/) registry, if any."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
    env["DEBUG"] = "true"
    code = "from models.selectors import active_model_version_get as a; v = a(); print(v.artifact.path if v else '')"
    try:
        path = manage(env, "shell", "--no-imports", "-c", code).strip()
    except subprocess.CalledProcessError:
        return None
    return Path(path) if path else None


def prepare_database(env: dict, artifact: Path) -> None:
    """A fresh bench database holding one model as v1 (active) and v2 (candidate);
    ``artifact`` is trained (small) and saved there when it does not exist."""
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "digitlab_bench"], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "digitlab_bench"], check=True)
    subprocess.run(["redis-cli", "-n", "12", "flushdb"], check=True, capture_output=True)
    manage(env, "migrate", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    if artifact.exists():
        load = f"m = keras.models.load_model({str(artifact)!r}, compile=False); "
    else:
        print("no model in var/: training a small CNN of the served architecture ...", flush=True)
        load = (
            "from training.train import TrainConfig, train_baseline; "
            "c = TrainConfig(epochs=1, train_limit=3000, test_limit=1000, learning_rate=3e-3, batch_size=64, "
            "batchnorm=False); "
            f"m = train_baseline(load_mnist(), c, verbose=0)[0]; m.save({str(artifact)!r}); "
        )
    code = (
        "import keras; from models.registry import model_version_register as r, model_version_activate as a; "
        "from training.datasets import load_mnist; from training.litert import litert_for_registration as e; "
        + load
        + "lite = e(m, images=load_mnist().x_test); "
        "kw = dict(model=m, litert=lite.content, architecture=lite.architecture, metrics={}, params={}, "
        "data_summary={}); v1 = r(**kw); r(**kw, parent=v1); a(version=v1, by='bench')"
    )
    manage(env, "shell", "--no-imports", "-c", code)


def canvas_png_data_url() -> str:
    """A "7" as the page sends it: drawn in Chromium on the page's canvas
    (bench/record_canvas.py), black ink on a white 280x280 canvas."""
    from record_canvas import PATH

    return "data:image/png;base64," + base64.b64encode(PATH.read_bytes()).decode()


def wait_until_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"server at {url} did not come up")


# Every request picks the next browser session (CSRF cookie) of the list, each
# wrk thread starting elsewhere in it: at 2,000 requests a second over 400
# sessions, each session sends about 5 a second, under the per-browser limit
# (20/s), as people drawing do.
WRK_LUA = """
local tokens = {{{tokens}}}
local body = '{body}'
local i = 0
init = function(args)
  i = math.random(#tokens)
end
request = function()
  i = i % #tokens + 1
  local t = tokens[i]
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json", ["Cookie"] = "csrftoken=" .. t,
                                   ["X-CSRFToken"] = t}}, body)
end
"""


def wrk_script(path: Path, tokens: list[str], body: str) -> Path:
    path.write_text(WRK_LUA.format(tokens=", ".join(f'"{t}"' for t in tokens), body=body))
    return path


def wrk(url: str, lua: Path, connections: int, duration: int) -> dict:
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(lua), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "connections": connections,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0),
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def predict(url: str, body: bytes, token: str) -> dict:
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Cookie": f"csrftoken={token}", "X-CSRFToken": token},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def activate_v2(env: dict) -> float:
    """Activate v2 in this process against the bench database; the wall-clock
    time right after its transaction committed."""
    for key in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "VAR_DIR", "ARTIFACT_ROOT", "SECRET_KEY", "DEBUG"):
        os.environ[key] = env[key]
    _django.setup()
    from django.db import connections, transaction

    from models.registry import model_version_activate
    from models.selectors import model_version_get

    committed: list[float] = []
    with transaction.atomic():
        model_version_activate(version=model_version_get(number=2), by="bench/http_load.py")
        transaction.on_commit(lambda: committed.append(time.time()))
    connections.close_all()
    return committed[0]


def swap_under_load(env, url, lua, body: bytes, tokens: list[str], duration: int, probes: int = 8) -> dict:
    """Activate v2 while wrk runs at concurrency 8; probes record (time,
    status, version, pid) of every answer they get.  Each probe is one browser
    drawing (one session, about 10 predictions a second, as the page sends),
    so the per-browser rate limit does not refuse it."""
    results: dict = {}
    load = threading.Thread(target=lambda: results.update(wrk(url, lua, 8, duration + 20)))
    load.start()
    time.sleep(duration / 3)
    seen: list[tuple[float, int, int, int]] = []
    stop = threading.Event()

    def probe(token: str):
        while not stop.is_set():
            try:
                answer = predict(url, body, token)
                pid = answer.get("served_by", {}).get("pid", 0)  # 0: an old answer that does not say
                seen.append((time.time(), 200, answer["model"]["version"], pid))
            except Exception:
                seen.append((time.time(), 0, 0, 0))
            time.sleep(0.1)

    probers = [threading.Thread(target=probe, args=(tokens[i],)) for i in range(probes)]
    for t in probers:
        t.start()
    time.sleep(0.5)
    committed_at = activate_v2(env)
    deadline = time.time() + 20
    while time.time() < deadline:  # until each worker answered with v2 (and a second more), or 20 s
        time.sleep(0.5)
        pids = {pid for t, st, _, pid in seen if st == 200}
        new = {pid for t, st, v, pid in seen if st == 200 and v == 2}
        if new and new >= pids and time.time() - committed_at > 2:
            break
    stop.set()
    for t in probers:
        t.join()
    load.join()  # wrk runs on past the swap: its errors count
    first_new: dict[int, float] = {}
    last_old: dict[int, float] = defaultdict(float)
    for t, status, version, pid in seen:
        if status != 200:
            continue
        if version == 2:
            first_new[pid] = min(first_new.get(pid, t), t)
        elif t >= committed_at:
            last_old[pid] = max(last_old[pid], t)
    return {
        "load": results,
        "probe_requests": len(seen),
        "probe_failures": sum(1 for _, st, _, _ in seen if st != 200),
        "first_new_after_s": {pid: round(t - committed_at, 3) for pid, t in sorted(first_new.items())},
        "last_old_after_s": {pid: round(t - committed_at, 3) for pid, t in sorted(last_old.items())},
    }


def baseline_tree(ref: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="digitlab-baseline-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), ref], cwd=ROOT, check=True, capture_output=True)
    return folder


def serve_and_measure(
    name: str,
    tree: Path,
    env: dict,
    args,
    tokens: list[str],
    body: str,
    var_dir: Path,
    *,
    app: str = "webapp.wsgi:application",
    levels_only: bool = False,
) -> dict:
    port = int(env["GUNICORN_BIND"].rsplit(":", 1)[1])
    url = f"http://127.0.0.1:{port}/api/digits/predict"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())[:40]
    lua = wrk_script(var_dir / f"{slug}.lua", tokens, body)
    lua_acts = wrk_script(
        var_dir / f"{slug}_acts.lua", tokens, body.replace('"activations": false', '"activations": true')
    )
    print(f"\n== {name}: {tree} ==", flush=True)
    server = subprocess.Popen([PY, "-m", "gunicorn", app, "-c", "webapp/gunicorn.conf.py"], cwd=tree, env=env)
    out: dict = {"levels": {}}
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/openapi.json")
        for i in range(20):  # every worker loads and warms its model
            predict(url, body.encode(), tokens[i % len(tokens)])
        # CPU the web workers spent per request: what a request costs, whatever
        # else the machine is doing (the wall clock on a shared machine is not).
        workers = worker_pids(server.pid)
        print(f"{'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'requests':>8} {'CPU ms/req':>10}")
        for c in (1, 8, 32):
            before = cpu_seconds(workers)
            r = out["levels"][c] = wrk(url, lua, c, args.duration)
            r["cpu_ms"] = (cpu_seconds(workers) - before) * 1000 / max(r["requests"], 1)
            print(
                f"{c:>4} {r['rps']:>8.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['errors']:>6} {r['requests']:>8} "
                f"{r['cpu_ms']:>10.2f}"
            )
        if levels_only:
            return out
        r = out["acts"] = wrk(url, lua_acts, 1, args.duration)
        print(f"with activations, concurrency 1: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, errors {r['errors']}")
        out["rss"] = [rss_mib(pid) for pid in worker_pids(server.pid)]
        print("resident memory of each web worker: " + ", ".join(f"{m:.0f} MiB" for m in out["rss"]))
        swap = out["swap"] = swap_under_load(env, url, lua, body.encode(), tokens, max(args.duration, 9))
        print(
            f"swap under load (concurrency 8): first answer with v2 after the activation commit, per worker "
            f"(s): {swap['first_new_after_s']}; last v1 answer: {swap['last_old_after_s']}; "
            f"failed: wrk {swap['load'].get('errors')}, probes {swap['probe_failures']} of {swap['probe_requests']}"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def main() -> None:
    from tests.ports import free_port

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per concurrency level")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (docker-compose uses 2)")
    parser.add_argument("--sessions", type=int, default=400, help="browser sessions the load rotates over")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the old path ('' to skip)")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also serve this tree with the drawing's work replaced by a stored answer (bench/stack_floor.py): "
        "what the stack alone costs",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    var_dir = Path(tempfile.mkdtemp(prefix="digitlab-bench-"))
    env = bench_env(var_dir, free_port(), args.workers)
    tokens = [secrets.token_hex(16) for _ in range(args.sessions)]  # valid CSRF secrets: 32 characters
    body = json.dumps({"image": canvas_png_data_url(), "activations": False})
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; gunicorn {args.workers} sync workers, "
        f"DEBUG off, production rate limits, {args.sessions} sessions; wrk {args.duration}s per level"
    )
    runs = []
    baseline = None
    try:
        artifact = local_baseline_path() or var_dir / "bench-model.keras"
        prepare_database(env, artifact)
        if args.baseline_ref:
            baseline = baseline_tree(args.baseline_ref)
            runs.append(
                (
                    "old",
                    serve_and_measure(f"old path ({args.baseline_ref})", baseline, env, args, tokens, body, var_dir),
                )
            )
            prepare_database(env, artifact)  # v1 active again, a fresh cache
        runs.append(("new", serve_and_measure("LiteRT (this tree)", ROOT, env, args, tokens, body, var_dir)))
        if args.floor:
            prepare_database(env, artifact)
            name = "the stack alone (bench/stack_floor.py: every answer stored, no drawing work)"
            floor = serve_and_measure(
                name, ROOT, env, args, tokens, body, var_dir, app="bench.stack_floor:application", levels_only=True
            )
            runs.append(("floor", floor))
    finally:
        if baseline:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, capture_output=True)
        shutil.rmtree(var_dir, ignore_errors=True)
    summary(dict(runs))


def summary(runs: dict) -> None:
    new, old = runs["new"], runs.get("old")

    def both(key):
        return f"{key(new)}" + (f"   (old path: {key(old)})" if old else "")

    swap = new["swap"]
    slowest = max(swap["first_new_after_s"].values(), default=float("nan"))
    failed = (swap["load"].get("errors") or 0) + swap["probe_failures"]
    print(f"\nBars (issue 14), load average {os.getloadavg()[0]:.1f}:")
    rows = [
        ("HTTP c=1 p50 <= 1.5 ms", lambda r: f"{r['levels'][1]['p50_ms']:.2f} ms", new["levels"][1]["p50_ms"] <= 1.5),
        (
            "HTTP c=32 >= 1500 req/s, 0 errors",
            lambda r: f"{r['levels'][32]['rps']:.0f} req/s, {r['levels'][32]['errors']} errors",
            new["levels"][32]["rps"] >= 1500 and new["levels"][32]["errors"] == 0,
        ),
        ("worker RSS <= 150 MiB", lambda r: f"{max(r['rss']):.0f} MiB", max(new["rss"]) <= 150),
        ("(web workers' CPU per request at c=32)", lambda r: f"{r['levels'][32]['cpu_ms']:.2f} ms", None),
        (
            "every worker on the new version <= 1 s after commit, 0 failed",
            lambda r: (
                f"slowest {max(r['swap']['first_new_after_s'].values(), default=float('nan')):.2f} s, "
                f"{(r['swap']['load'].get('errors') or 0) + r['swap']['probe_failures']} failed"
            ),
            slowest <= 1.0 and failed == 0 and len(swap["first_new_after_s"]) == len(new["rss"]),
        ),
    ]
    for name, fmt, met in rows:
        verdict = "" if met is None else "met" if met else "NOT met"
        print(f"  {name:<62} {both(fmt)}  {verdict}")
    if "floor" in runs:
        floor, levels = runs["floor"]["levels"], new["levels"]
        print(
            f"  the stack alone (no drawing work): c=1 p50 {floor[1]['p50_ms']:.2f} ms "
            f"(with it {levels[1]['p50_ms']:.2f}), c=32 {floor[32]['rps']:.0f} req/s "
            f"(with it {levels[32]['rps']:.0f}), "
            f"CPU per request at c=32 {floor[32]['cpu_ms']:.2f} ms (with it {levels[32]['cpu_ms']:.2f})"
        )


if __name__ == "__main__":
    main()
