"""A fresh clone's first minutes: `make run` until the drawing page answers
and shows the first model's training, until that progress advances, and
(with --until prediction) until the first prediction; and the lines in the
terminal that are not Digit Lab's own, up to the URL.

    .venv/bin/python bench/first_page.py [--until page|epoch|prediction] [--port 8791]

The clone is of this checkout's HEAD (commit first), in a temporary folder,
with this checkout's .venv linked in: the packages are installed, so
`make -o .venv/bin/.installed run` starts at once.  It runs on the embedded
defaults (DATABASE_URL, CELERY_BROKER_URL and CACHE_URL are unset) in a
pseudo-terminal, as a person's would be, and is stopped with Ctrl-C (SIGINT
to its process group).  Beside the figures: the time of one `manage.py
check` in this checkout, the machine's yardstick (2 shared cores), and the
load average.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from _django import ROOT

# What Digit Lab itself prints in `make run` (bin/run and `train_baseline`).
OWN_LINES = [
    r"",
    r"  Preparing the database\.\.\.",
    r"  Starting the web server, the worker and beat \(their logs: .*\)\.\.\.",
    r"  Digit Lab is running at http://\S+",
    r"  \(Ctrl-C stops everything\)",
    r"The registry is empty: the worker trains the first model as run \d+\.",
    r"The registry already holds a model; not training a first one\.",
    r"The first model is already on its way \(.*\)\.",
    r"The first model trains in the worker for \d+ epochs .*",
    r"The worker started it: loading TensorFlow and MNIST\.\.\.",
    r"epoch \d+/\d+  loss .*",
    r"Registered v\d+: .*",
    r"The first model's training .* did not succeed: .*",
]
OWN = re.compile("|".join(f"(?:{p})" for p in OWN_LINES))
URL_LINE = "Digit Lab is running at"


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _terminal_signals() -> None:
    """Ctrl-C and Ctrl-\\ as a terminal's shell leaves them (a benchmark
    started in the background inherits them ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


class Terminal:
    """`make run` in a pseudo-terminal; each line with its time since start."""

    def __init__(self, folder: Path, port: int):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
        env.update(PORT=str(port))
        self.lines: list[tuple[float, str]] = []
        master, slave = pty.openpty()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            ["make", "-o", ".venv/bin/.installed", "run"],
            cwd=folder,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_terminal_signals,
        )
        os.close(slave)
        self.master = master
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                self.lines.append((time.monotonic() - self.started, raw.decode(errors="replace").rstrip("\r")))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def ctrl_c(self, timeout: float = 120) -> float:
        """Ctrl-C as a terminal sends it; seconds until every process is gone."""
        pressed = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return float("inf")
        # Its children too: nothing of the group may be left.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return float("inf")
        return time.monotonic() - pressed


class Site:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def predict(self) -> int:
        from tests.drawings import data_url, seven_png

        token = next((c.value for c in self.cookies if c.name == "csrftoken"), "")
        body = json.dumps({"image": data_url(seven_png())}).encode()
        request = urllib.request.Request(
            self.base + "/api/digits/predict",
            data=body,
            headers={"Content-Type": "application/json", "X-CSRFToken": token, "Referer": self.base + "/"},
        )
        try:
            with self.opener.open(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0


def wait(terminal: Terminal, what: str, check, timeout: float, interval: float = 0.3) -> float | None:
    while terminal.elapsed() < timeout:
        if check():
            return terminal.elapsed()
        if terminal.proc.poll() is not None:
            print(f"make run exited ({terminal.proc.returncode}) before {what}")
            return None
        time.sleep(interval)
    print(f"{what}: not after {timeout:.0f}s")
    return None


def yardstick() -> float:
    started = time.monotonic()
    env = {**os.environ, "DEBUG": "true"}
    subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "check"], cwd=ROOT, env=env, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", choices=["page", "epoch", "prediction"], default="epoch")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    print(f"yardstick: `manage.py check` {yardstick():.1f}s; load average {load()}")
    with tempfile.TemporaryDirectory(prefix="digitlab-clone-") as tmp:
        folder = Path(tmp) / "digitlab"
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
        (folder / ".venv").symlink_to((ROOT / ".venv").resolve())
        print(f"fresh clone of {head.stdout.strip()} in {folder}")

        terminal = Terminal(folder, args.port)
        site = Site(args.port)
        figures: dict[str, float | None] = {}
        try:

            def page_shows_training() -> bool:
                status, body = site.get("/")
                return status == 200 and b"The first model is training" in body

            def run_state() -> dict:
                status, body = site.get("/api/training/first-model")
                return json.loads(body) if status == 200 else {}

            figures["URL in the terminal"] = wait(
                terminal, "the URL", lambda: any(URL_LINE in line for _, line in terminal.lines), args.timeout
            )
            figures["page 200 with the banner and the run's progress"] = wait(
                terminal, "the page", lambda: page_shows_training() and run_state().get("run"), args.timeout
            )
            print(f"  first-model JSON then: {run_state()}")
            if args.until in ("epoch", "prediction"):
                figures["progress: first epoch recorded"] = wait(
                    terminal, "epoch 1", lambda: (run_state().get("run") or {}).get("epoch", 0) >= 1, args.timeout, 2
                )
            if args.until == "prediction":
                figures["first prediction (200)"] = wait(
                    terminal, "a prediction", lambda: site.predict() == 200, args.timeout, 2
                )
        except KeyboardInterrupt:
            print("stopped waiting (Ctrl-C)")
        finally:
            figures["Ctrl-C until every process is gone"] = terminal.ctrl_c()

    url_at = next((i for i, (_, line) in enumerate(terminal.lines) if URL_LINE in line), len(terminal.lines))
    foreign = [line for _, line in terminal.lines[: url_at + 1] if not OWN.fullmatch(line)]
    print("terminal:")
    for at, line in terminal.lines:
        print(f"  {at:7.1f}s | {line}")
    print("figures (seconds from `make run`):")
    for name, value in figures.items():
        print(f"  {name}: {'-' if value is None else f'{value:.1f}'}")
    print(f"  lines before the URL that are not Digit Lab's own: {len(foreign)}")
    for line in foreign:
        print(f"    {line}")
    print(f"load average {load()}")


if __name__ == "__main__":
    main()
