"""Production settings: `check --deploy` is clean, and a missing or weak
secret key is refused."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    drop = ("DEBUG", "SECRET_KEY", "HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        HTTPS="true",
        SECRET_KEY=secrets.token_urlsafe(60),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_flags_a_weak_secret_key():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="false", HTTPS="true", SECRET_KEY="short")
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_a_number_setting_reads_python_notation_and_refuses_what_is_not_a_number():
    show = "from django.conf import settings; print(settings.FINE_TUNE_LEARNING_RATE, settings.MODEL_POLL_SECONDS)"
    result = _manage("shell", "--no-imports", "-c", show, DEBUG="true", FINE_TUNE_LEARNING_RATE="1e-3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.001", "0.5"]
    result = _manage("check", DEBUG="true", FINE_TUNE_LEARNING_RATE="fast")
    assert result.returncode != 0
    assert "FINE_TUNE_LEARNING_RATE='fast' is not a number" in result.stderr
