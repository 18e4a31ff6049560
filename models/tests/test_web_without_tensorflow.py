"""Web processes serve through the LiteRT interpreter and never load
TensorFlow: checked in real gunicorn and runserver processes that predicted
with activations and swapped to a newly activated version, by reading the
libraries mapped into the process that answered (/proc/PID/maps)."""

import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from models.registry import model_version_activate
from tests.drawings import data_url, seven_png
from training.tests.processes import Process, free_port, process_env, start_web

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def start_runserver(folder: Path) -> tuple[Process, int]:
    port = free_port()
    args = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    web = Process(args, process_env(folder), folder / "runserver.log")
    web.wait_for_output("Quit the server with")
    return web, port


class Client:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{self.base}/", timeout=30) as page:
            cookie = page.headers["Set-Cookie"].split(";")[0]  # csrftoken=...
        self.headers = {"Content-Type": "application/json", "Cookie": cookie, "X-CSRFToken": cookie.split("=", 1)[1]}
        self.body = json.dumps({"image": data_url(seven_png()), "activations": True}).encode()

    def predict(self) -> dict:
        request = urllib.request.Request(f"{self.base}/api/digits/predict", self.body, self.headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            return json.load(response)


def mapped_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_gunicorn_and_runserver_predict_and_swap_without_loading_tensorflow(artifacts, tmp_path, register_version):
    v1 = model_version_activate(version=register_version(), by="test")
    v2 = register_version(parent=v1)
    folder = tmp_path / "shared"
    servers = [start_web(folder, "gunicorn"), start_runserver(folder)]
    try:
        clients = [Client(port) for _, port in servers]
        for client in clients:
            answer = client.predict()
            assert answer["model"]["version"] == 1 and answer["digit"] == 7
            assert [layer["name"] for layer in answer["activations"]][0] == "conv1"
        model_version_activate(version=v2, by="test")
        answered_by = []
        for client in clients:
            deadline = time.monotonic() + 30
            while (answer := client.predict())["model"]["version"] != 2:
                assert time.monotonic() < deadline, "still serving v1 after 30 s"
                time.sleep(0.1)
            assert answer["activations"] and answer["served_by"]["pid"]
            answered_by.append(answer["served_by"]["pid"])
        assert len(set(answered_by)) == 2
        for pid in answered_by:
            maps = mapped_libraries(pid)
            assert "ai_edge_litert" in maps  # the interpreter is what answered
            assert "/tensorflow/" not in maps and "libtensorflow" not in maps
    finally:
        for web, _ in servers:
            web.stop()
