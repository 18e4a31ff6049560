"""The platform's set-up: the embedded defaults and docker-compose."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
        # kombu's exchange tables live under var/ too, not in ./control of the checkout.
        assert (tmp_path / "broker" / "control" / "celery.exchange").exists()
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _compose(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker-compose", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is installed by .ci/run"
)


@needs_compose
def test_docker_compose_config_is_valid_and_requires_a_secret_key():
    result = _compose("config", "-q", SECRET_KEY="compose-config-check")
    assert result.returncode == 0, result.stderr
    services = _compose("config", "--services", SECRET_KEY="compose-config-check")
    assert set(services.stdout.split()) == {"db", "redis", "migrate", "web", "worker", "beat", "proxy"}
    refused = _compose("config", "-q")
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr


@needs_compose
def test_compose_passes_on_every_setting_of_the_configuration_table():
    """Each variable of docs/configuration.md's table reaches web, worker and
    beat when set; production defaults (DEBUG off) hold when not."""
    table = (ROOT / "docs" / "configuration.md").read_text()
    names = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    assert {"DEBUG", "HTTPS", "TRUSTED_PROXIES", "RATELIMIT_PREDICT_ADDRESS", "GUNICORN_THREADS"} <= names
    values = {name: f"value-of-{name.lower()}" for name in names}
    config = yaml.safe_load(_compose("config", **values).stdout)["services"]
    for service in ("migrate", "web", "worker", "beat"):
        environment = config[service]["environment"]
        missing = sorted(n for n in names if environment.get(n) != values[n])
        assert not missing, f"{service} does not get {missing}"
    defaults = yaml.safe_load(_compose("config", SECRET_KEY="k").stdout)["services"]["web"]["environment"]
    assert defaults["DEBUG"] == "false"
    assert "HTTPS" not in defaults or defaults["HTTPS"] is None  # unset stays unset: the settings' default


@needs_compose
def test_web_scales_behind_the_proxy_without_port_conflicts():
    """Only the proxy publishes a port; web replicas wait for the one-shot
    migrate, and so do worker and beat."""
    config = yaml.safe_load(_compose("config", SECRET_KEY="k").stdout)["services"]
    published = {name: svc.get("ports", []) for name, svc in config.items() if svc.get("ports")}
    assert list(published) == ["proxy"]
    assert "nginx" in config["proxy"]["image"]
    for service in ("web", "worker", "beat"):
        assert config[service]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert config["migrate"]["restart"] == "no"
    assert config["web"]["environment"]["TRUSTED_PROXIES"] == "*"  # only the proxy reaches web
    # What `--scale web=3` needs: no fixed host port, no fixed container name.
    assert "container_name" not in config["web"] and "expose" in config["web"]


def test_git_and_docker_ignore_the_env_file():
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored and "var" in ignored
