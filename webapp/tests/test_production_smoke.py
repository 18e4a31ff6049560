"""The production image, run outside a container: its own script
(`bin/image build`, `migrate`, `web`, `healthcheck`) with the environment
docker-compose gives `web` (rendered by `docker-compose config`, DEBUG off),
against this machine's PostgreSQL and Redis.  Every page and every static
file it references answers 200; predicting and storing work with CSRF; then
the same behind a simulated TLS-terminating proxy (HTTPS=true)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import requests
import yaml
from django.conf import settings
from django.core.cache import cache

from digits.models import Sample
from tests.drawings import data_url, seven_png
from tests.ports import free_port
from tests.users import PASSWORD
from training.tests.conftest import wait_until
from training.tests.processes import Process, database_url

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("docker-compose") is None, reason="Debian's docker-compose is installed by .ci/run"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
STATIC = re.compile(r'(?:src|href)="(/static/[^"]+)"')
HASHED = re.compile(r"\.[0-9a-f]{12}\.\w+$")  # ManifestStaticFilesStorage's names
PAGES = ["/", "/review/", "/review/statistics/", "/models/", "/admin/", "/admin/digits/sample/", "/api/docs"]
HOST = "lab.example.org"


def _dockerfile_env() -> dict[str, str]:
    """The image's ENV lines (later ones win), leaving out build arguments."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for key, value in re.findall(r"(\w+)=(\S+)", line):
                if "$" not in value:
                    env[key] = value
    return env


def _compose_web_env(**settings_env: str) -> dict[str, str]:
    """`web`'s environment as docker-compose renders it from these variables."""
    rendered = subprocess.run(
        ["docker-compose", "config"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **settings_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    environment = yaml.safe_load(rendered)["services"]["web"]["environment"]
    return {k: str(v) for k, v in environment.items() if v is not None}


def image_env(folder: Path, **settings_env: str) -> dict[str, str]:
    """The image's and compose's environment, with compose's service names
    and volume paths pointed at this machine's PostgreSQL and Redis and at a
    temporary folder."""
    env = {**_dockerfile_env(), **_compose_web_env(SECRET_KEY="smoke-" + "k" * 50, **settings_env)}
    assert env["DEBUG"] == "false"
    env.update(
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
        HOME=os.environ.get("HOME", "/root"),
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CACHE_URL=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1"),
        VAR_DIR=str(folder / "var"),
        STATIC_ROOT=str(folder / "static"),
        ARTIFACT_ROOT=str(settings.ARTIFACT_ROOT),
        MEDIA_ROOT=str(folder / "media"),
        MNIST_PATH=str(settings.MNIST_PATH or settings.MNIST_CACHE),  # the image converts it at build time
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
    )
    return env


def image(step: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(["bin/image", step], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"bin/image {step}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


class Client:
    """HTTP with cookies kept by hand: behind the simulated TLS proxy gunicorn
    speaks plain HTTP, and a cookie jar would not send Secure cookies there."""

    def __init__(self, base: str, **headers: str):
        self.base = base
        self.headers = headers
        self.cookies: dict[str, str] = {}
        self.secure: dict[str, bool] = {}

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
        headers = {**self.headers, **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = requests.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=60, **kwargs
        )
        for header in response.raw.headers.getlist("Set-Cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
                self.secure[name] = bool(morsel["secure"])
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        headers = {"X-CSRFToken": self.cookies.get("csrftoken", ""), **kwargs.pop("headers", {})}
        return self.request("POST", path, headers=headers, **kwargs)

    def login(self, username: str, password: str, **headers: str) -> requests.Response:
        self.get("/admin/login/")
        return self.post(
            "/admin/login/?next=/admin/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.cookies["csrftoken"]},
            headers=headers,
        )


def start_web(env: dict, folder: Path, name: str) -> tuple[Process, str]:
    """`bin/image web`, ready once `bin/image healthcheck` (the container's check) passes."""
    web = Process(["bin/image", "web"], env, folder / f"{name}.log")

    def healthy() -> bool:
        if web.proc.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{web.output()[-3000:]}")
        return subprocess.run(["bin/image", "healthcheck"], cwd=ROOT, env=env, capture_output=True).returncode == 0

    try:
        wait_until(healthy, timeout=240, interval=1, message=f"healthcheck never passed:\n{web.output()[-3000:]}")
    except BaseException:
        web.stop()
        raise
    return web, f"http://{env['GUNICORN_BIND']}"


def every_page_and_its_static_files(client: Client) -> set[str]:
    static: set[str] = set()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:500]}"
        static.update(STATIC.findall(response.text))
    assert "/static/digits/draw.js" not in static  # names come from the manifest
    for path in sorted(static):
        assert HASHED.search(path), path
        response = client.get(path)
        assert response.status_code == 200 and response.content, path
    return static


def predict_and_store(client: Client, **headers: str) -> None:
    assert client.get("/", headers=headers).status_code == 200  # sets the CSRF cookie
    body = {"image": data_url(seven_png()), "activations": True}
    refused = client.request("POST", "/api/digits/predict", json=body, headers=headers)
    assert refused.status_code in (401, 403)  # no CSRF token: not accepted
    predicted = client.post("/api/digits/predict", json=body, headers=headers)
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["digit"] == 7
    stored = client.post(
        "/api/digits/samples",
        json={"image": body["image"], "label": 7, "label_source": "confirmed"},
        headers=headers,
    )
    assert stored.status_code == 200, stored.text
    assert Sample.objects.filter(id=stored.json()["id"], label=7).exists()


def test_the_image_serves_every_page_with_debug_off(transactional_db, active_version, reviewer, tmp_path):
    env = image_env(tmp_path)
    image("build", env)
    assert (tmp_path / "static" / "staticfiles.json").exists()
    image("migrate", env)  # migrations are applied; the registry is not empty, so no baseline is trained
    web, base = start_web(env, tmp_path, "web")
    try:
        anonymous = Client(base)
        assert anonymous.get("/review/").status_code == 302  # reviewers only
        predict_and_store(anonymous)

        signed_in = Client(base)
        assert signed_in.login(reviewer.username, PASSWORD).status_code == 302
        static = every_page_and_its_static_files(signed_in)
        assert any(path.endswith(".js") for path in static) and any(path.endswith(".css") for path in static)
    finally:
        web.stop()


def test_behind_a_tls_proxy_login_review_and_posts_work(transactional_db, active_version, reviewer, tmp_path):
    env = image_env(
        tmp_path,
        HTTPS="true",
        ALLOWED_HOSTS=HOST,
        CSRF_TRUSTED_ORIGINS=f"https://{HOST}",
        TRUSTED_PROXIES="127.0.0.1",
    )
    assert env["HTTPS"] == "true" and env["CSRF_TRUSTED_ORIGINS"] == f"https://{HOST}"  # compose passed them on
    image("build", env)
    web, base = start_web(env, tmp_path, "web-tls")
    try:
        # What the TLS-terminating proxy adds to every request it forwards.
        proxied = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        plain = Client(base, Host=HOST)
        redirect = plain.get("/")
        assert redirect.status_code == 301 and redirect.headers["Location"] == f"https://{HOST}/"

        browser = Client(base, **proxied)
        page = browser.get("/")
        assert page.status_code == 200
        assert "max-age=" in page.headers["Strict-Transport-Security"]
        assert browser.secure["csrftoken"]

        origin = {"Origin": f"https://{HOST}", "Referer": f"https://{HOST}/"}
        predict_and_store(browser, **origin)
        forged = browser.post(
            "/api/digits/predict",
            json={"image": data_url(seven_png())},
            headers={"Origin": "https://elsewhere.example", "Referer": "https://elsewhere.example/"},
        )
        assert forged.status_code == 403

        signed_in = Client(base, **proxied)
        assert signed_in.login(reviewer.username, PASSWORD, **origin).status_code == 302
        assert signed_in.secure["sessionid"]
        every_page_and_its_static_files(signed_in)
        sample = Sample.objects.get()
        decided = signed_in.post(
            f"/api/review/samples/{sample.id}/decision", json={"action": "approve"}, headers=origin
        )
        assert decided.status_code == 200, decided.text
        sample.refresh_from_db()
        assert sample.status == Sample.Status.APPROVED and sample.reviewed_by == reviewer
    finally:
        web.stop()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="Debian's nginx is installed by .ci/run")
def test_the_proxy_config_forwards_the_client_and_cannot_be_fooled(transactional_db, active_version, tmp_path):
    """deploy/nginx.conf in Debian's nginx in front of the image's gunicorn:
    pages, static files and POSTs pass; the app counts the address nginx saw,
    whatever X-Forwarded-For the client sent."""
    cache.clear()  # the counts of an earlier run, within the hour
    env = image_env(tmp_path, RATELIMIT_PREDICT="1000/h", RATELIMIT_PREDICT_ADDRESS="3/h")
    assert env["TRUSTED_PROXIES"] == "*"  # compose's: only the proxy reaches web
    image("build", env)
    web, _ = start_web(env, tmp_path, "web-proxy")
    port = free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("server web:8000;", f"server {env['GUNICORN_BIND']};").replace("listen 80;", f"listen {port};")
    assert str(port) in site and env["GUNICORN_BIND"] in site
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/nginx-error.log;\n"
        "events {}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};\n"
        f"  include {tmp_path}/site.conf; }}\n"
    )
    nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"])
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/"), timeout=30, interval=0.2)
        client = Client(f"http://127.0.0.1:{port}", **{"Accept-Encoding": "gzip"})
        page = client.get("/")
        assert page.status_code == 200
        assert "Content-Encoding" not in page.headers  # it carries the CSRF token (BREACH)
        for path in STATIC.findall(page.text):
            static = client.get(path)
            assert static.status_code == 200, path
            assert static.headers["Cache-Control"] == "max-age=315360000, public, immutable", path
            if path.endswith((".js", ".css")):
                assert static.headers["Content-Encoding"] == "gzip", path
        body = {"image": data_url(seven_png())}
        answer = client.post("/api/digits/predict", json=body)  # a JSON answer over 1 KB comes gzipped
        assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "gzip"
        assert answer.json()["digit"] == 7  # requests inflates it
        cache.clear()  # the address's count starts again below
        # Each request claims another address; nginx appends the real one, which the app counts.
        codes = [
            client.post("/api/digits/predict", json=body, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(4)
        ]
        assert codes == [200, 200, 200, 429]
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
        web.stop()
        cache.clear()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("openssl") is None, reason="nginx and openssl")
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # a self-signed certificate
def test_the_tls_proxy_config_is_valid_and_redirects_plain_http(tmp_path):
    """deploy/nginx-tls.conf with a self-signed certificate: nginx accepts it,
    answers TLS, and sends plain HTTP to HTTPS."""
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}"]
        + ["-keyout", str(certs / "privkey.pem"), "-out", str(certs / "fullchain.pem")],
        check=True,
        capture_output=True,
    )
    http_port, https_port = free_port(), free_port()
    site = (ROOT / "deploy" / "nginx-tls.conf").read_text()
    site = (
        site.replace("server web:8000;", "server 127.0.0.1:9;")  # nothing listens: upstream answers 502
        .replace("listen 80;", f"listen {http_port};")
        .replace("listen 443 ssl;", f"listen {https_port} ssl;")
        .replace("/etc/nginx/certs", str(certs))
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/nginx-error.log;\n"
        "events {}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};\n"
        f"  include {tmp_path}/site.conf; }}\n"
    )
    conf = ["-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run(["nginx", "-t", *conf], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen(["nginx", *conf, "-g", "daemon off;"])
    try:
        wait_until(lambda: _status(f"https://127.0.0.1:{https_port}/") == 502, timeout=30, interval=0.2)
        redirect = requests.get(
            f"http://127.0.0.1:{http_port}/review/?x=1", headers={"Host": HOST}, allow_redirects=False, timeout=5
        )
        assert redirect.status_code == 301 and redirect.headers["Location"] == f"https://{HOST}/review/?x=1"
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)


def _status(url: str) -> int | None:
    try:
        return requests.get(url, timeout=2, verify=False).status_code
    except requests.RequestException:
        return None
