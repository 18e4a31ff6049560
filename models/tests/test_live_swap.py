"""Two real web processes switch to a newly activated version, with no
restart and no failed or mixed-up request.  How fast (the bar: 1-2 s) is
measured by bench/http_load.py; here a generous limit only says "it happens"."""

import json
import threading
import time
import urllib.request

import pytest

from models.registry import model_version_activate
from training.tests.processes import start_web

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SWITCH_LIMIT = 20.0  # seconds: behaviour, not speed


def served(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models/served", timeout=10) as response:
        assert response.status == 200
        return json.load(response)["version"]


def _served_or_none(port: int) -> int | None:
    try:
        return served(port)
    except OSError:  # still loading the model: the request timed out
        return None


def test_two_web_processes_switch_to_a_new_version_without_restart_then_a_rollback(
    artifacts, tmp_path, register_version
):
    v1 = model_version_activate(version=register_version(), by="test")
    v2 = register_version(parent=v1)
    webs = []
    try:
        for name in ("web-a", "web-b"):
            webs.append(start_web(tmp_path / "shared", name))
        ports = [port for _, port in webs]
        for port in ports:  # booted: each process loaded and warmed v1 (slowly on a busy machine)
            deadline = time.monotonic() + 120
            while _served_or_none(port) != 1:
                assert time.monotonic() < deadline
                time.sleep(0.2)

        # Clients keep asking both processes while the version changes.
        seen = {port: [] for port in ports}
        errors = []
        stop = threading.Event()

        def hammer(port):
            while not stop.is_set():
                try:
                    seen[port].append((time.monotonic(), served(port)))
                except Exception as exc:  # any failed request fails the test
                    errors.append(repr(exc))
                time.sleep(0.02)

        threads = [threading.Thread(target=hammer, args=(port,)) for port in ports]
        for t in threads:
            t.start()
        time.sleep(0.5)
        for target in (v2, v1):  # promote, then roll back
            switched_at = time.monotonic()
            model_version_activate(version=target, by="test")
            for port in ports:
                deadline = switched_at + SWITCH_LIMIT
                while not [t for t, v in seen[port] if v == target.version and t > switched_at]:
                    assert time.monotonic() < deadline, f"port {port} still served v{seen[port][-1][1]}"
                    time.sleep(0.02)
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()

        assert not errors
        # An idle process switches too (its background poll, not a request, notices).
        model_version_activate(version=v2, by="test")
        deadline = time.monotonic() + SWITCH_LIMIT
        while [served(port) for port in ports] != [2, 2]:
            assert time.monotonic() < deadline, "an idle process kept the old version"
            time.sleep(0.5)
        for port in ports:
            versions = [v for _, v in seen[port]]
            # 1...1 2...2 1...1: each process switched once each way, never back and forth.
            changes = [b for a, b in zip(versions, versions[1:], strict=False) if a != b]
            assert changes == [2, 1], versions
    finally:
        for web, _ in webs:
            web.stop()
