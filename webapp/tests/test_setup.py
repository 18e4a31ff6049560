"""The platform's set-up: the embedded defaults and docker-compose."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _embedded_env(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")}
    env.update(VAR_DIR=str(var_dir), DEBUG="true", MNIST_PATH=str(ROOT / "var" / "mnist.npz"))
    return env


@pytest.mark.slow
def test_the_embedded_defaults_run_with_no_server(tmp_path):
    """SQLite and the filesystem broker under var/: migrate, then a real
    worker takes a task from the filesystem broker."""
    env = _embedded_env(tmp_path)
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    assert (tmp_path / "digitlab.sqlite3").exists() and (tmp_path / "secret_key").exists()
    probe = "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL)"
    out = subprocess.run(
        [py, "manage.py", "shell", "-c", probe],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "sqlite3" in out and "filesystem://" in out

    worker = subprocess.Popen(
        [py, "-m", "celery", "-A", "webapp", "worker", "--pool=solo", "--loglevel=INFO"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        send = "from webapp.celery import app; app.send_task('webapp.ping', kwargs={'token': 'pong'})"
        subprocess.run([py, "manage.py", "shell", "-c", send], cwd=ROOT, env=env, check=True, timeout=60)
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "worker-ping").exists():
            time.sleep(0.2)
        assert (tmp_path / "worker-ping").read_text() == "pong"
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is installed by .ci/run")
def test_docker_compose_config_is_valid_and_requires_a_secret_key():
    env = {**os.environ, "SECRET_KEY": "compose-config-check"}
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    services = subprocess.run(
        ["docker-compose", "config", "--services"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert set(services.stdout.split()) >= {"db", "redis", "web", "worker", "beat"}
    without_key = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    refused = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, env=without_key, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
