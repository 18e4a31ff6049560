"""Real processes for tests: a Celery worker, beat, and web servers, started
against the test database, the broker of the test run, and an artifact
folder they share with the test (a subprocess does not see pytest's settings
overrides, so everything goes through its environment)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

# Small and fast: seconds of training per run.
FAST_TRAINING = {
    "FINE_TUNE_EPOCHS": "1",
    "FINE_TUNE_BATCH_SIZE": "64",
    "FINE_TUNE_LEARNING_RATE": "0.001",
    "FINE_TUNE_REHEARSAL": "2000",
    "FINE_TUNE_TEST_LIMIT": "1000",
}


def database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    auth = f"{user}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{user}@"
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def process_env(folder: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        CONN_MAX_AGE="0",
        DEBUG="true",
        VAR_DIR=str(folder / "var"),
        ARTIFACT_ROOT=str(folder / "artifacts"),
        MEDIA_ROOT=str(folder / "media"),
        MNIST_PATH=str(settings.MNIST_PATH or settings.MNIST_CACHE),
        **FAST_TRAINING,
    )
    env.update(extra)
    return env


class Process:
    """A subprocess in its own process group, so a kill reaches its children."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log = log
        self._fh = open(log, "w")  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"{text!r} not seen after {timeout}s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole group: the worker's parent and its pool children."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.kill()
        self._fh.close()


def start_worker(folder: Path, name: str = "worker", **env: str) -> Process:
    folder.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "--pool=prefork", "--concurrency=1"]
    args += ["--loglevel=INFO", f"--hostname={name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    worker = Process(args, process_env(folder, **env), folder / f"{name}.log")
    worker.wait_for_output("ready.")
    return worker


def start_beat(folder: Path, **env: str) -> Process:
    folder.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "celery", "-A", "webapp", "beat", "--loglevel=INFO", "--max-interval=1"]
    args += [f"--pidfile={folder / 'beat.pid'}", f"--schedule={folder / 'beat-schedule'}"]
    return Process(args, process_env(folder, **env), folder / "beat.log")


def start_web(folder: Path, name: str, **env: str) -> tuple[Process, int]:
    """One gunicorn process (one sync worker) on a free loopback port."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {"GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", **env}
    args = [sys.executable, "-m", "gunicorn", "-c", "webapp/gunicorn.conf.py", "webapp.wsgi:application"]
    web = Process(args, process_env(folder, **env), folder / f"{name}.log")
    web.wait_for_output("Booting worker")
    return web, port
