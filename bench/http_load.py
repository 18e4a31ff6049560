"""HTTP load on the production server: gunicorn as docker-compose runs it
(webapp/gunicorn.conf.py, DEBUG off, 2 sync workers, PostgreSQL, Redis cache),
predict requests from wrk on loopback at concurrency 1, 8 and 32; then a
model swap (promote) while the load runs.

    .venv/bin/python bench/http_load.py [--duration 10] [--workers 2]

Needs wrk (`apt-get install wrk`), PostgreSQL and Redis on 127.0.0.1, and a
trained model in the local registry (var/, from `make run` or
`python manage.py train_baseline`). It uses its own database digitlab_bench.
"""

from __future__ import annotations

import argparse
import base64
import io
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
BENCH_DB = "postgres://postgres@127.0.0.1:5432/digitlab_bench"


def bench_env(var_dir: Path, port: int, workers: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "CACHE_URL"))}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=BENCH_DB,
        CACHE_URL="redis://127.0.0.1:6379/12",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/13",
        VAR_DIR=str(var_dir),
        MNIST_PATH=str(ROOT / "var" / "mnist.npz"),
        WEB_CONCURRENCY=str(workers),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        LOG_LEVEL="WARNING",
        RATELIMIT_ENABLE="false",  # measure the server, not the per-client limits
    )
    return env


def manage(env: dict, *args: str, capture: bool = False) -> str:
    out = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True, text=True, capture_output=True)
    return out.stdout


def local_baseline_path() -> Path:
    """The artifact of the active version in the local (var/) registry."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
    env["DEBUG"] = "true"
    code = "from models.selectors import active_model_version_get as a; v = a(); print(v.artifact.path if v else '')"
    path = manage(env, "shell", "--no-imports", "-c", code).strip()
    if not path:
        sys.exit("No active model in var/: run `make run` or `python manage.py train_baseline` first.")
    return Path(path)


def prepare_database(env: dict, artifact: Path) -> None:
    """A fresh bench database holding the baseline as v1 (active) and v2 (candidate)."""
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "digitlab_bench"], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "digitlab_bench"], check=True)
    manage(env, "migrate", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    code = (
        "import keras; from models.registry import model_version_register as r, model_version_activate as a; "
        "from training.datasets import load_mnist; from training.export import litert_for_registration as e; "
        f"m = keras.models.load_model({str(artifact)!r}, compile=False); lite = e(m, images=load_mnist().x_test); "
        "kw = dict(model=m, litert=lite.content, architecture=lite.architecture, metrics={}, params={}, "
        "data_summary={}); "
        "v1 = r(**kw); r(**kw, parent=v1); "
        "a(version=v1, by='bench')"
    )
    manage(env, "shell", "--no-imports", "-c", code)


def canvas_png_data_url() -> str:
    """An MNIST test digit drawn as the page sends it: black ink on a white 280x280 canvas."""
    from PIL import Image

    with np.load(ROOT / "var" / "mnist.npz") as f:
        digit = f["x_test"][0]
    img = Image.fromarray(255 - digit).resize((280, 280), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def wait_until_up(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"server at {url} did not come up")


WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "csrftoken={token}"
wrk.headers["X-CSRFToken"] = "{token}"
wrk.body = '{body}'
"""


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


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def predict_version(url: str, body: bytes, token: str) -> tuple[int, int]:
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Cookie": f"csrftoken={token}", "X-CSRFToken": token},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())["model"]["version"]


def swap_under_load(env: dict, url: str, lua: Path, body: bytes, token: str, duration: int) -> dict:
    """Promote v2 while wrk runs; a probe records the version of each answer."""
    load = threading.Thread(target=lambda: results.update(wrk(url, lua, 8, duration)))
    results: dict = {}
    load.start()
    time.sleep(duration / 3)
    seen: list[tuple[float, int, int]] = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            try:
                status, version = predict_version(url, body, token)
            except Exception:
                status, version = 0, 0
            seen.append((time.monotonic(), status, version))
            time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.5)
    promoted_at = time.monotonic()
    manage(env, "promote", "2", "--reason", "bench swap under load")
    time.sleep(4)
    stop.set()
    prober.join()
    load.join()
    after = [s for s in seen if s[0] >= promoted_at]
    old = [t for t, _, v in after if v == 1]
    last_old = (max(old) - promoted_at) if old else 0.0
    return {
        "load": results,
        "probe_requests": len(seen),
        "probe_failures": sum(1 for _, st, _ in seen if st != 200),
        "switched_after_s": round(last_old, 3),
        "new_version_answers": sum(1 for _, _, v in after if v == 2),
    }


def main() -> None:
    from webapp.devtools import free_port

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per concurrency level")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (docker-compose uses 2)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    artifact = local_baseline_path()
    port = free_port()
    var_dir = Path(tempfile.mkdtemp(prefix="digitlab-bench-"))
    env = bench_env(var_dir, port, args.workers)
    prepare_database(env, artifact)

    token = secrets.token_hex(16)  # a valid CSRF secret: 32 characters
    body = json.dumps({"image": canvas_png_data_url(), "activations": False})
    lua = var_dir / "predict.lua"
    lua.write_text(WRK_LUA.format(token=token, body=body))
    url = f"http://127.0.0.1:{port}/api/digits/predict"

    server = subprocess.Popen(
        [PY, "-m", "gunicorn", "webapp.wsgi:application", "-c", "webapp/gunicorn.conf.py"], cwd=ROOT, env=env
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/openapi.json")
        for _ in range(20):  # every worker loads and warms its model
            predict_version(url, body.encode(), token)
        rss = ", ".join(f"{rss_mib(pid):.0f} MiB" for pid in worker_pids(server.pid))
        print(f"resident memory of each web worker with the model loaded: {rss}")
        print(
            f"gunicorn: {args.workers} sync workers, DEBUG off, PostgreSQL + Redis; wrk on loopback, "
            f"{args.duration}s per level; predict without activations"
        )
        print(f"{'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'requests':>8}")
        for c in (1, 8, 32):
            r = wrk(url, lua, c, args.duration)
            print(
                f"{c:>4} {r['rps']:>8.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['errors']:>6} {r['requests']:>8}"
            )
        lua_acts = var_dir / "predict_acts.lua"
        lua_acts.write_text(
            WRK_LUA.format(token=token, body=body.replace('"activations": false', '"activations": true'))
        )
        r = wrk(url, lua_acts, 1, args.duration)
        print(
            f"with activations, concurrency 1: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
            f"p99 {r['p99_ms']:.2f} ms, errors {r['errors']}"
        )
        swap = swap_under_load(env, url, lua, body.encode(), token, max(args.duration, 9))
        load = swap["load"]
        print(
            f"swap under load (concurrency 8): promoted v2 mid-run; last v1 answer {swap['switched_after_s']}s "
            f"after promote; load errors {load.get('errors')}, probe failures {swap['probe_failures']} "
            f"of {swap['probe_requests']}; {load.get('rps', 0):.0f} req/s during the swap"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
