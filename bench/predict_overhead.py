"""What a predict request with probabilities only costs above a trivial
request to the same server, in the same run.

gunicorn with production settings (bench/slow_network.py's server: DEBUG
off, 2 sync workers, the default rate limits, its own database and model),
then wrk at concurrency 1, alternating 5-second runs, several rounds:

- trivial: GET /api/models/served (the served version; no body, no CSRF,
  no rate limit, no drawing work);
- predict, the page's grey PNG: POST /api/digits/predict with the drawing as
  the page sends it now (an 8-bit grey PNG, digits/static/digits/draw/png.js);
- predict, the canvas's RGBA PNG: the same "7" as Chromium's toDataURL
  exports it (bench/record_canvas.py), as the page sent it before.

Every predict request rotates over 400 browser sessions (http_load.py's wrk
script), under the per-browser limit.  ``--baseline-ref REF`` also serves
that commit's tree (git archive) beside this one, on the same database and
model, and measures both in turns in each round: trivial and grey PNG.

    .venv/bin/python bench/predict_overhead.py [--rounds 5] [--seconds 5] [--baseline-ref main]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from http_load import WRK_LUA, canvas_png_data_url, cpu_seconds, worker_pids, wrk  # noqa: E402
from slow_network import Server, prepare, server_env, tree_at  # noqa: E402


def grey_png_data_url(rgba_url: str) -> str:
    """The same drawing as 8-bit grey PNG, as the page now sends it (Pillow's
    encoder here, the browser's deflate there: the same pixels and mode)."""
    from PIL import Image

    rgba = Image.open(io.BytesIO(base64.b64decode(rgba_url.split(",", 1)[1])))
    buffer = io.BytesIO()
    rgba.getchannel("R").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def main() -> None:
    from tests.ports import free_port

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--database", default="digitlab_slownet")
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "slow_network"))
    parser.add_argument("--baseline-ref", help="also measure this commit's tree, in turns with this one")
    args = parser.parse_args()

    var_dir = Path(args.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="digitlab-overhead-"))
    env = server_env(args.database, var_dir, scratch / "static", free_port())
    prepare(env, args.database)
    tokens = [secrets.token_hex(16) for _ in range(400)]
    rgba = canvas_png_data_url()
    scripts = {}
    for name, image in [("grey", grey_png_data_url(rgba)), ("rgba", rgba)]:
        body = json.dumps({"image": image})
        path = scratch / f"{name}.lua"
        path.write_text(WRK_LUA.format(tokens=", ".join(f'"{t}"' for t in tokens), body=body))
        scripts[name] = path
    trivial_lua = scratch / "trivial.lua"
    trivial_lua.write_text("")  # wrk's default: GET
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{now}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wrk c=1, {args.seconds} s a run")
    trees = [("this tree", ROOT, env, ("trivial", "grey", "trivial", "rgba"))]
    if args.baseline_ref:
        ref_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{free_port()}", "STATIC_ROOT": str(scratch / "static-ref")}
        trees.append((args.baseline_ref, tree_at(args.baseline_ref), ref_env, ("trivial", "grey")))
    p50 = {(tree, name): [] for tree, *_, names in trees for name in names}
    cpu = {key: [] for key in p50}  # the web workers' CPU ms a request: robust to a busy machine
    with contextlib.ExitStack() as stack:
        servers = [(name, stack.enter_context(Server(tree, tree_env)), names) for name, tree, tree_env, names in trees]
        for _, server, _names in servers:
            wrk(server.base + "/api/digits/predict", scripts["grey"], 1, 2)  # warm both workers
        for r in range(args.rounds):
            row = []
            for tree, server, names in servers:
                workers = worker_pids(server.proc.pid)
                for name in names:
                    url = server.base + ("/api/models/served" if name == "trivial" else "/api/digits/predict")
                    before = cpu_seconds(workers)
                    result = wrk(url, trivial_lua if name == "trivial" else scripts[name], 1, args.seconds)
                    cpu[tree, name].append((cpu_seconds(workers) - before) * 1000 / max(result["requests"], 1))
                    if result["errors"]:
                        sys.exit(f"{tree}, {name}: {result['errors']} errors")
                    p50[tree, name].append(result["p50_ms"])
                    row.append(f"{tree}: {name} {result['p50_ms']:.2f} ({cpu[tree, name][-1]:.2f})")
            print(f"round {r + 1}: p50 ms (CPU ms a request) " + ", ".join(row), flush=True)
    for tree, *_, names in trees:
        trivial = statistics.median(p50[tree, "trivial"])
        predicts = [n for n in names if n != "trivial"]
        for first, name in enumerate(predicts):
            # Each predict run against the trivial run just before it.
            before = p50[tree, "trivial"][first :: len(predicts)]
            deltas = [p - t for p, t in zip(p50[tree, name], before, strict=True)]
            print(
                f"{tree}: predict ({name} PNG), probabilities only: p50 {statistics.median(p50[tree, name]):.2f} ms "
                f"against trivial {trivial:.2f} ms: +{statistics.median(deltas):.2f} ms (rounds: "
                + ", ".join(f"{d:+.2f}" for d in deltas)
                + f"); CPU a request {statistics.median(cpu[tree, name]):.2f} ms against "
                f"{statistics.median(cpu[tree, 'trivial']):.2f} ms"
            )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
