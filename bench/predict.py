"""How long a prediction takes: in process, through Django, and over HTTP.

    .venv/bin/python bench/predict.py [--n 500] [--http-n 300] [--artifact model.keras]

Sets up what it needs itself: a temporary VAR_DIR with the embedded defaults
(SQLite, local-memory cache, filesystem broker), a model registered and made
active there (``--artifact``, else a small CNN of the served architecture
trained for one epoch on 3000 MNIST images: accuracy does not change the
timings), then gunicorn with webapp/gunicorn.conf.py (one sync worker) on a
free loopback port.  The drawing is a 280x280 RGBA canvas PNG of a "7", as the
page sends it.  Prints p50 and p99 in milliseconds.

The bar (issue 3): the server-side work of predict with all activations,
p50 at most 5 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BAR_MS = 5.0


def percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def timed(fn, n: int, warm: int = 20) -> tuple[float, float]:
    for _ in range(warm):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return percentiles(times)


def report(name: str, p50: float, p99: float) -> None:
    print(f"  {name:<58} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms", flush=True)


def environment(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL")}
    env.update(DEBUG="true", VAR_DIR=str(var_dir), LOG_LEVEL="WARNING", TF_CPP_MIN_LOG_LEVEL="3")
    env["RATELIMIT_ENABLE"] = "false"  # measure the server, not the per-client limits
    if (ROOT / "var" / "mnist.npz").exists():
        env["MNIST_PATH"] = str(ROOT / "var" / "mnist.npz")
    return env


def setup_model(artifact: str | None) -> None:
    import keras
    from django.core.management import call_command

    from models.registry import model_version_activate, model_version_register
    from training.datasets import load_mnist
    from training.export import litert_for_registration

    call_command("migrate", verbosity=0)
    if artifact:
        model = keras.models.load_model(artifact, compile=False)
        metrics = {}
    else:
        from training.train import TrainConfig, train_baseline

        print("Training a small CNN (1 epoch on 3000 images) for the benchmark ...", flush=True)
        config = TrainConfig(epochs=1, train_limit=3000, test_limit=1000, learning_rate=3e-3, batch_size=64)
        model, metrics, _ = train_baseline(load_mnist(), config, verbose=0)
    lite = litert_for_registration(model, images=load_mnist().x_test)
    version = model_version_register(
        model=model,
        litert=lite.content,
        architecture=lite.architecture,
        metrics=metrics,
        params={"bench": True},
        data_summary={},
    )
    model_version_activate(version=version, by="bench/predict.py")


def canvas_png() -> bytes:
    from digits.sample_drawings import seven_png

    return seven_png()


def in_process(n: int) -> float:
    from django.test import Client

    from digits.prediction import activations_encode, drawing_predict
    from digits.preprocessing import drawing_to_mnist
    from digits.sample_drawings import data_url
    from models.model_input import model_input
    from models.serving import model_server

    png = canvas_png()
    served = model_server().get()
    predictor = served.predictor
    x28 = drawing_to_mnist(png)
    batch = model_input(x28)

    print(f"\nIn process (model v{served.version}, one 280x280 canvas PNG of {len(png)} bytes)")
    report("preprocessing (decode, crop, scale, centre)", *timed(lambda: drawing_to_mnist(png), n))
    keras_p50, keras_p99 = timed(lambda: predictor.model.predict(batch, verbose=0), 50)
    report("keras model.predict (the original app's path)", keras_p50, keras_p99)
    probs_p50, probs_p99 = timed(lambda: predictor.predict(x28), n)
    report("served predictor, probabilities only", probs_p50, probs_p99)
    acts_p50, acts_p99 = timed(lambda: predictor.predict(x28, activations=True), n)
    report("served predictor, all activations", acts_p50, acts_p99)
    print(
        f"  served path vs model.predict, same model, same run: {keras_p50 / probs_p50:.0f}x faster "
        f"(probabilities), {keras_p50 / acts_p50:.0f}x faster (all activations)"
    )

    def service():
        result = drawing_predict(image=png, activations=True)
        return activations_encode(result)

    report("predict service + quantised activations", *timed(service, n))

    client = Client()
    body = json.dumps({"image": data_url(png), "activations": True})
    plain = json.dumps({"image": data_url(png)})

    def post(data):
        response = client.post("/api/digits/predict", data=data, content_type="application/json")
        assert response.status_code == 200, response.content

    report("Django stack, POST /api/digits/predict", *timed(lambda: post(plain), n))
    p50, p99 = timed(lambda: post(body), n)
    report("Django stack, POST /api/digits/predict with activations", p50, p99)
    return p50


def over_http(env: dict, n: int) -> None:
    from digits.sample_drawings import data_url
    from webapp.devtools import free_port

    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "1"}
    gunicorn = [str(Path(sys.executable).parent / "gunicorn"), "-c", "webapp/gunicorn.conf.py", "webapp.wsgi"]
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        conn = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/")
                page = conn.getresponse()
                page.read()
                if page.status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"gunicorn did not answer: {server.stderr.read1(4000).decode()}")
        cookie = page.headers.get_all("Set-Cookie")[0].split(";")[0]  # csrftoken=...
        headers = {
            "Content-Type": "application/json",
            "Cookie": cookie,
            "X-CSRFToken": cookie.split("=", 1)[1],
            "Origin": f"http://127.0.0.1:{port}",
        }
        png = canvas_png()

        def post(activations: bool):
            conn.request(
                "POST",
                "/api/digits/predict",
                body=json.dumps({"image": data_url(png), "activations": activations}),
                headers=headers,
            )
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status

        print(f"\nOver HTTP (gunicorn, 1 sync worker: a new connection per request, loopback port {port})")
        report("POST /api/digits/predict", *timed(lambda: post(False), n))
        report("POST /api/digits/predict with activations", *timed(lambda: post(True), n))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="timed calls per in-process measurement")
    parser.add_argument("--http-n", type=int, default=300, help="timed requests per HTTP measurement")
    parser.add_argument("--artifact", help="a .keras model to serve instead of training a small one")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="digitlab-bench-"))
    env = environment(var_dir)
    os.environ.clear()
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ["TF_NUM_THREADS"] = os.environ.get("TF_NUM_THREADS", "1")
    try:
        import django

        django.setup()
        setup_model(args.artifact)
        p50 = in_process(args.n)
        over_http(env, args.http_n)
        verdict = "meets" if p50 <= BAR_MS else "MISSES"
        print(f"\nServer-side predict with all activations: p50 {p50:.2f} ms, {verdict} the {BAR_MS:.0f} ms bar.")
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
