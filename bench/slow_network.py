"""The drawing page on a slow link: Chromium draws MNIST test digits on the
page at a person's pace and counts what went over the wire.

Each MNIST test digit is thinned to its skeleton and traced into strokes
(topmost end first), which Chromium's mouse draws on the pad in about two
seconds a digit (pointer moves at 30 Hz, 0.15 s between strokes), then
the pad is cleared after a second's pause.  Chromium's network emulation
(CDP ``Network.emulateNetworkConditions``) throttles each page:

- one person: 2 Mbit/s each way, 100 ms latency;
- a class: N people (30) on 10 Mbit/s, each page at 10/N Mbit/s, 100 ms.
  Per-page emulation cannot share one link, so this is an equal, fixed
  split: nobody borrows an idle neighbour's share (pessimistic) and nobody
  queues behind a neighbour's burst (optimistic).  Only --class-pages (5) of
  them draw in Chromium at once: 30 pages did not even finish loading in
  3 minutes on this busy 2-core machine.  With a fixed split each person's
  link is their own, so the pages drawing stand for the rest; what 30
  drawers cost the server is bench/classroom_load.py's measurement.

Chromium's latency is added once per request, before the answer's headers,
which is a round trip on a kept-alive connection.

Each page loads unthrottled, then its link slows before the first digit.
Counted: the predict requests of each drawing (request and answer, headers
and bodies as they went over the wire, compressed where they were); the
page itself and its static files are not (cached after the first visit).
Timed, from each stroke's end (pointerup) in the page's clock: the first
answer on screen for the drawing as it then is, and the complete answer
(the last one for it: with the explanation and any feature maps).

Served by gunicorn with production settings (DEBUG off, 2 sync workers, the
default rate limits) on its own database: this tree, and ``--before`` (by
default the commit this branch left main at) served the same way in the
same run, scenario by scenario.

    .venv/bin/python bench/slow_network.py [--people 30] [--digits 6] [--before REF]

Needs PostgreSQL and Redis on 127.0.0.1 (CACHE_URL and CELERY_BROKER_URL
from the environment) and Debian's Chromium.  The first run trains a small
CNN of the served architecture into its database (what goes over the wire
does not depend on how well it was trained); later runs reuse it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
PAGE_SECONDS = 2.0  # a digit's strokes, pen-up pauses included
PEN_UP = 0.15
HZ = 30

# Pointer events on the pad and every predict request's send and arrival,
# in the page's own clock, whatever the page's code.
PROBE = """
window.__lab = { down: [], move: [], up: [], answers: [] };
for (const kind of ["down", "move", "up"]) {
  document.addEventListener("pointer" + kind, (e) => {
    if (e.target.id === "pad") window.__lab[kind].push(performance.now());
  }, true);
}
const originalFetch = window.fetch;
window.fetch = async (url, options) => {
  const sent = performance.now();
  const response = await originalFetch(url, options);
  if (String(url).includes("/predict")) {
    const copy = response.clone();
    const status = response.status;
    copy.arrayBuffer().then(() => window.__lab.answers.push({ sent, done: performance.now(), status }));
  }
  return response;
};
"""


# --- the digits, as strokes ----------------------------------------------------


def digit_strokes(digit: np.ndarray) -> list[list[tuple[float, float]]]:
    """A 28x28 MNIST digit as pen strokes in pad units (0-1): its skeleton,
    traced from the topmost free end, always on to the neighbour that turns
    least."""
    from PIL import Image
    from skimage.morphology import skeletonize

    scale = 4
    big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.BILINEAR)) > 96
    left = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeletonize(big)), strict=True)}

    def around(p):
        return [(p[0] + dr, p[1] + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr or dc)]

    strokes = []
    while left:
        ends = [p for p in left if sum(q in left for q in around(p)) <= 1]
        point = min(ends or left)
        stroke, heading = [point], (0, 0)
        left.discard(point)
        while True:
            ahead = [q for q in around(point) if q in left]
            if not ahead:
                break
            nxt = max(ahead, key=lambda q: (q[0] - point[0]) * heading[0] + (q[1] - point[1]) * heading[1])
            heading = (nxt[0] - point[0], nxt[1] - point[1])
            left.discard(nxt)
            stroke.append(nxt)
            point = nxt
        if len(stroke) >= 6:
            strokes.append([(c / (28 * scale), r / (28 * scale)) for r, c in stroke[::2]])
    return strokes


def mnist_digits(count: int, offset: int = 0) -> list[np.ndarray]:
    path = Path(os.environ.get("MNIST_PATH") or ROOT / "var" / "mnist.npz")
    with np.load(path) as f:
        return list(f["x_test"][offset : offset + count])


# --- serving ---------------------------------------------------------------------


def server_env(database: str, var_dir: Path, static_root: Path, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "RATELIMIT_", "DATABASE_URL"))}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        CACHE_URL=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1"),
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        VAR_DIR=str(var_dir),
        STATIC_ROOT=str(static_root),
        MNIST_PATH=os.environ.get("MNIST_PATH") or str(ROOT / "var" / "mnist.npz"),
        WEB_CONCURRENCY="2",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        LOG_LEVEL="ERROR",
    )
    return env


def manage(tree: Path, env: dict, *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=tree, env=env, check=True, capture_output=True, text=True)


def prepare(env: dict, database: str) -> None:
    """The database (kept between runs) with a served model."""
    exists = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname='{database}'"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
    manage(ROOT, env, "migrate", "-v0")
    manage(ROOT, env, "train_baseline", "--if-empty", "--epochs", "1", "--train-limit", "5000", "--test-limit", "1000")


def tree_at(ref: str) -> Path:
    """The files of ``ref`` in a temporary folder (git archive: the repository is left as it is)."""
    folder = Path(tempfile.mkdtemp(prefix="digitlab-before-"))
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True)
    with tarfile.open(fileobj=__import__("io").BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


class Server:
    def __init__(self, tree: Path, env: dict):
        self.tree, self.env = tree, env
        self.base = f"http://{env['GUNICORN_BIND']}"

    def __enter__(self):
        manage(self.tree, self.env, "collectstatic", "--noinput", "-v0")
        cmd = [PY, "-m", "gunicorn", "webapp.wsgi:application", "-c", "webapp/gunicorn.conf.py"]
        self.proc = subprocess.Popen(cmd, cwd=self.tree, env=self.env)
        import requests

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/api/models/served", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise SystemExit(f"{self.tree}: the server did not come up")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)


# --- one person's page -------------------------------------------------------------


@dataclass
class Drawing:
    sent: int = 0  # bytes, headers and bodies
    received: int = 0
    requests: int = 0
    failed: int = 0  # network failures and answers other than 200 and 422
    blank: int = 0  # 422: the drawing's first dot, "hardly anything" yet
    seconds: float = 0.0  # first pointerdown to last pointerup
    first_ms: list[float] = field(default_factory=list)  # per stroke end
    complete_ms: list[float] = field(default_factory=list)


async def draw(page, strokes, seconds: float = PAGE_SECONDS) -> None:
    """The strokes at a steady pen speed, up to HZ pointer moves a second.
    The pen keeps to the clock: on a busy machine, where a move takes longer
    than a frame, it moves fewer times rather than drawing more slowly."""
    box = await page.locator("#pad").bounding_box()
    lengths = [sum(math.dist(a, b) for a, b in zip(s, s[1:], strict=False)) for s in strokes]
    speed = sum(lengths) / max(seconds - PEN_UP * (len(strokes) - 1), 0.5)  # pad units a second
    loop = asyncio.get_running_loop()
    for stroke, length in zip(strokes, lengths, strict=True):
        xy = np.asarray(stroke)
        along = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        start, d = loop.time(), 0.0
        while True:
            x, y = np.interp(d, along, xy[:, 0]), np.interp(d, along, xy[:, 1])
            await page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
            if d == 0.0:
                await page.mouse.down()
            if d >= length:
                break
            await asyncio.sleep(1 / HZ)
            d = min(length, (loop.time() - start) * speed)
        await page.mouse.up()
        await asyncio.sleep(PEN_UP)


def stroke_times(lab: dict) -> list[dict]:
    """Each stroke end with its answers: those sent after the stroke's last
    move (they carry the drawing as it is at its end) and before the next
    stroke began."""
    out = []
    for up in lab["up"]:
        last_move = max([t for t in lab["move"] if t <= up], default=up)
        following = min([t for t in lab["down"] if t > up], default=math.inf)
        answers = [a for a in lab["answers"] if last_move <= a["sent"] < following and a["status"] == 200]
        if answers:
            out.append(
                {
                    "first": max(0.0, min(a["done"] for a in answers) - up),
                    "complete": max(0.0, max(a["done"] for a in answers) - up),
                }
            )
    return out


async def person(
    browser, base: str, digits: list[np.ndarray], *, mbit: float, rtt_ms: float, viewport, start_after: float
) -> list:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    await page.add_init_script(PROBE)
    # The page loads unthrottled (its loading is not measured, and 30 pages
    # starting at once on this 2-core machine time out); then the link slows.
    await asyncio.sleep(start_after)
    await page.goto(base + "/", timeout=180_000)
    await page.wait_for_selector("#architecture svg", timeout=180_000)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    bytes_per_s = mbit * 1e6 / 8
    conditions = {"offline": False, "latency": rtt_ms}
    conditions.update(downloadThroughput=bytes_per_s, uploadThroughput=bytes_per_s)
    await cdp.send("Network.emulateNetworkConditions", conditions)
    await asyncio.sleep(1.0)
    drawings: list[Drawing] = []
    pending = []

    async def count(request, drawing: Drawing) -> None:
        try:
            sizes = await request.sizes()
            response = await request.response()
        except Exception:
            drawing.failed += 1
            return
        drawing.requests += 1
        drawing.sent += sizes["requestHeadersSize"] + sizes["requestBodySize"]
        drawing.received += sizes["responseHeadersSize"] + sizes["responseBodySize"]
        drawing.blank += response is not None and response.status == 422
        drawing.failed += response is None or response.status not in (200, 422)

    def finished(request) -> None:
        if "/api/digits/predict" in request.url and drawings:
            pending.append(asyncio.ensure_future(count(request, drawings[-1])))

    def failed(request) -> None:
        if "/api/digits/predict" in request.url and drawings:
            drawings[-1].failed += 1

    page.on("requestfinished", finished)
    page.on("requestfailed", failed)
    for digit in digits:
        drawing = Drawing()
        drawings.append(drawing)
        await page.evaluate("for (const k in window.__lab) window.__lab[k] = []")
        await draw(page, digit_strokes(digit))
        await asyncio.sleep(1.0)  # a look at the answer
        await asyncio.sleep(0)  # (requests of this drawing still in flight are counted with it)
        lab = await page.evaluate("window.__lab")
        drawing.seconds = (max(lab["up"], default=0) - min(lab["down"], default=0)) / 1000
        for stroke in stroke_times(lab):
            drawing.first_ms.append(stroke["first"])
            drawing.complete_ms.append(stroke["complete"])
        await page.locator("#clear").click()
    await asyncio.gather(*pending)
    await context.close()
    return drawings


async def scenario(base: str, digits: list[np.ndarray], *, pages: int, mbit: float, rtt_ms: float, viewport):
    """``pages`` people drawing at once, each page at ``mbit`` each way."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-quic"]
        )
        per_person = [digits[(i * 7) % len(digits) :] + digits[: (i * 7) % len(digits)] for i in range(pages)]
        started = time.monotonic()
        results = await asyncio.gather(
            *(
                person(browser, base, mine, mbit=mbit, rtt_ms=rtt_ms, viewport=viewport, start_after=i * 0.3)
                for i, mine in enumerate(per_person)
            )
        )
        elapsed = time.monotonic() - started
        await browser.close()
    return [d for drawings in results for d in drawings], elapsed


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def report(name: str, drawings: list[Drawing], elapsed: float) -> dict:
    total = [(d.sent + d.received) / 1000 for d in drawings]
    first = [t for d in drawings for t in d.first_ms]
    complete = [t for d in drawings for t in d.complete_ms]
    row = {
        "name": name,
        "drawings": len(drawings),
        "requests": statistics.mean(d.requests for d in drawings),
        "sent_kb": statistics.mean(d.sent for d in drawings) / 1000,
        "received_kb": statistics.mean(d.received for d in drawings) / 1000,
        "total_kb": statistics.mean(total),
        "total_p50_kb": statistics.median(total),
        "first_p50": pct(first, 0.5),
        "first_p90": pct(first, 0.9),
        "complete_p50": pct(complete, 0.5),
        "complete_p90": pct(complete, 0.9),
        "strokes": len(complete),
        "failed": sum(d.failed for d in drawings),
        "blank": sum(d.blank for d in drawings),
        "seconds": statistics.mean(d.seconds for d in drawings),
    }
    print(
        f"{name}: {row['drawings']} drawings ({row['seconds']:.1f} s each), {row['strokes']} stroke ends, "
        f"{elapsed:.0f} s; "
        f"{row['requests']:.1f} predict requests a drawing; "
        f"{row['total_kb']:.1f} KB a drawing (p50 {row['total_p50_kb']:.1f}; sent {row['sent_kb']:.1f}, "
        f"received {row['received_kb']:.1f}); stroke end -> first answer on screen p50 {row['first_p50']:.0f} ms "
        f"(p90 {row['first_p90']:.0f}), -> complete answer p50 {row['complete_p50']:.0f} ms "
        f"(p90 {row['complete_p90']:.0f}); failed: {row['failed']} (422 blank so far: {row['blank']})",
        flush=True,
    )
    return row


def main() -> None:
    from tests.ports import free_port

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=30, help="drawers at once on the shared link")
    parser.add_argument("--digits", type=int, default=6, help="digits each person draws")
    parser.add_argument("--single-digits", type=int, default=20, help="digits the one person draws")
    parser.add_argument("--mbit", type=float, default=2.0, help="one person's link, each way")
    parser.add_argument("--class-mbit", type=float, default=10.0, help="the class's link, each way")
    parser.add_argument(
        "--class-pages",
        type=int,
        default=5,
        help="Chromium pages that draw at once, each at the class's link / --people (30 pages do not even load "
        "on a busy 2-core machine; the server's side of 30 drawers is bench/classroom_load.py's)",
    )
    parser.add_argument("--rtt", type=float, default=100.0, help="ms")
    parser.add_argument("--before", default="", help="git ref served as 'before' (default: merge-base with main)")
    parser.add_argument("--no-before", action="store_true")
    parser.add_argument("--no-class", action="store_true")
    parser.add_argument("--database", default="digitlab_slownet")
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "slow_network"), help="its model (kept)")
    args = parser.parse_args()

    var_dir = Path(args.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="digitlab-slownet-"))
    after_env = server_env(args.database, var_dir, scratch / "static-after", free_port())
    prepare(after_env, args.database)
    trees = [("after", ROOT, after_env)]
    if not args.no_before:
        ref = (
            args.before
            or subprocess.run(
                ["git", "merge-base", "HEAD", "main"], cwd=ROOT, check=True, capture_output=True, text=True
            ).stdout.strip()
        )
        before_env = server_env(args.database, var_dir, scratch / "static-before", free_port())
        trees.insert(0, (f"before ({ref[:10]})", tree_at(ref), before_env))
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{now}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    single = mnist_digits(args.single_digits)
    tall, wide = {"width": 1280, "height": 2000}, {"width": 1280, "height": 900}
    plans = [
        (
            f"one person, {args.mbit:g} Mbit/s, {args.rtt:g} ms, 1280x900 (the layers below the fold)",
            dict(pages=1, mbit=args.mbit, viewport={"width": 1280, "height": 900}),
            single,
        ),
        (
            f"one person, {args.mbit:g} Mbit/s, {args.rtt:g} ms, 1280x2000 (pad and first layers on screen)",
            dict(pages=1, mbit=args.mbit, viewport=tall),
            single,
        ),
    ]
    if not args.no_class:
        plans.append(
            (
                f"{args.people} people, {args.class_mbit:g} Mbit/s split evenly "
                f"({args.class_mbit / args.people:.2f} each), {args.rtt:g} ms, 1280x900, "
                f"{args.class_pages} of them drawing in Chromium",
                dict(pages=args.class_pages, mbit=args.class_mbit / args.people, viewport=wide),
                mnist_digits(args.digits, offset=100),
            ),
        )
    for title, plan, digits in plans:
        print(f"\n== {title} ==", flush=True)
        for name, tree, env in trees:
            with Server(tree, env) as server:
                drawings, elapsed = asyncio.run(scenario(server.base, digits, rtt_ms=args.rtt, **plan))
            report(name, drawings, elapsed)
    print(f"\nload average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
