"""How long a prediction takes: in process, through Django, and over HTTP.

    .venv/bin/python bench/predict.py [--n 500] [--http-n 300] [--artifact model.keras]

Sets up what it needs itself: a temporary VAR_DIR with the embedded defaults
(SQLite, local-memory cache, filesystem broker), a model registered and made
active there (``--artifact``, else a small CNN of the served architecture
trained for one epoch on 3000 MNIST images: accuracy does not change the
timings), then gunicorn with webapp/gunicorn.conf.py (one sync worker) on a
free loopback port.  The drawing is a 280x280 RGBA canvas PNG of a "7", as the
page sends it.  Prints p50 and p99 in milliseconds.

Each figure stands beside the path it replaces, measured in the same run:
the LiteRT interpreter (what web processes serve) beside the traced
tf.function they served before and Keras ``model.predict``; the Django
stack with either predictor.  What web processes do is timed in a process
like one, without TensorFlow (a child of this one, on the same registry);
the old paths in this process, which has it.  The Django request is also
timed with the drawing's work replaced by a stored answer: the share of the
stack itself.  Prints the issue-14 bars at the end.
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

import _django  # bench/_django.py
import numpy as np
from _django import ROOT  # bench/_django.py: the repository, now on sys.path


def percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def timed(fn, n: int, warm: int = 20) -> tuple[float, float, float]:
    """Wall-clock p50 and p99, and the p50 of the CPU time this process spent
    (on a shared, loaded machine the wall clock mostly measures waiting for
    a core; the CPU time is what the work costs)."""
    for _ in range(warm):
        fn()
    times, cpu = [], []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return (*percentiles(times), float(np.percentile(cpu, 50) * 1000))


def timed_alternately(first, second, n: int, warm: int = 20) -> tuple[tuple, tuple]:
    """``timed`` for two calls taking turns, so both run in the same state
    of the caches and the machine."""
    for _ in range(warm):
        first(), second()
    samples = {first: ([], []), second: ([], [])}
    for _ in range(n):
        for fn in (first, second):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            samples[fn][0].append(time.perf_counter() - start)
            samples[fn][1].append(time.process_time() - start_cpu)
    return tuple((*percentiles(w), float(np.percentile(c, 50) * 1000)) for w, c in samples.values())


def report(name: str, p50: float, p99: float, cpu: float | None = None) -> None:
    cpu_text = f"   CPU p50 {cpu:7.2f} ms" if cpu is not None else ""
    print(f"  {name:<58} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms{cpu_text}", flush=True)


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
    from training.litert import litert_for_registration

    call_command("migrate", verbosity=0)
    if artifact:
        model = keras.models.load_model(artifact, compile=False)
        metrics = {}
    else:
        from training.train import TrainConfig, train_baseline

        print("Training a small CNN (1 epoch on 3000 images) for the benchmark ...", flush=True)
        config = TrainConfig(
            epochs=1, train_limit=3000, test_limit=1000, learning_rate=3e-3, batch_size=64, batchnorm=False
        )
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
    """A "7" drawn in Chromium on the page's canvas, as the page sends it
    (bench/record_canvas.py)."""
    from record_canvas import PATH

    return PATH.read_bytes()


def wsgi_poster(path: str, body: bytes):
    """POST ``body`` to ``path`` through Django's WSGI handler in this
    process, as gunicorn calls it (django.test.Client adds its own signal
    and cookie work on top), with a CSRF cookie and header as the page sends."""
    import io

    from webapp.wsgi import application

    token = "a" * 32
    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_COOKIE": f"csrftoken={token}",
        "HTTP_X_CSRFTOKEN": token,
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }

    def post():
        status = []
        answer = application({**base, "wsgi.input": io.BytesIO(body)}, lambda s, h, e=None: status.append(s))
        b"".join(answer)
        assert status[0].startswith("200"), status

    return post


class TFFunctionPredictor:
    """The path web processes served before LiteRT (traced tf.functions over
    the Keras model), kept here as the same-run baseline."""

    def __init__(self, model, layer_names: list[str]):
        import keras
        import tensorflow as tf

        self.layer_names = layer_names
        probe = keras.Model(model.inputs, [model.get_layer(name).output for name in layer_names])
        spec = [tf.TensorSpec((None, 28, 28, 1), tf.float32)]
        self._probabilities = tf.function(lambda x: model(x, training=False), input_signature=spec)
        self._everything = tf.function(lambda x: probe(x, training=False), input_signature=spec)

    def predict(self, x28: np.ndarray, *, activations: bool = False):
        from models.inference import Prediction
        from models.model_input import model_input

        batch = model_input(x28)
        if not activations:
            return Prediction(self._probabilities(batch).numpy()[0])
        acts = dict(zip(self.layer_names, [t.numpy()[0] for t in self._everything(batch)], strict=True))
        return Prediction(acts[self.layer_names[-1]], acts)


def web_process(n: int) -> dict:
    """What a web process does, timed in a process like one: Django and
    LiteRT, TensorFlow never imported (run as ``--web-process`` by main()).

    A process that has loaded TensorFlow measures the same code slower: in
    most such runs glibc handed the decoded canvas (313 KB) to a fresh
    mapping on every call and faulted its 77 pages in again (0.2-0.3 ms),
    which web processes, without TensorFlow, do not do."""

    from digits import api
    from digits.prediction import activations_encode, drawing_predict
    from digits.preprocessing import drawing_to_mnist
    from models.serving import model_server
    from tests.drawings import data_url, seven_png

    png = canvas_png()
    litert = model_server().get().predictor
    x28 = drawing_to_mnist(png)
    figures = {}

    print(f"\nIn a web process (no TensorFlow; the page's 280x280 canvas PNG from Chromium, {len(png)} bytes)")
    figures["preprocessing"] = timed(lambda: drawing_to_mnist(png), n)
    report("preprocessing (decode, crop, scale, centre)", *figures["preprocessing"])
    pillow_png = seven_png()
    report(
        f"  same, a Pillow-made PNG (transparent, {len(pillow_png)} bytes)",
        *timed(lambda: drawing_to_mnist(pillow_png), n),
    )
    figures["lite_probs"] = timed(lambda: litert.predict(x28), n)
    report("LiteRT interpreter, probabilities only", *figures["lite_probs"])
    figures["lite_acts"] = timed(lambda: litert.predict(x28, activations=True), n)
    report("LiteRT interpreter, all activations", *figures["lite_acts"])
    figures["probabilities"] = litert.predict(x28).probabilities.tolist()
    figures["e2e_probs"] = timed(lambda: drawing_predict(image=png), n)
    report("end to end: preprocessing + LiteRT, probabilities", *figures["e2e_probs"])
    figures["e2e_new"] = timed(lambda: activations_encode(drawing_predict(image=png, activations=True)), n)
    report("end to end: preprocessing + LiteRT + quantised activations", *figures["e2e_new"])

    body = json.dumps({"image": data_url(png), "activations": True}).encode()
    plain = json.dumps({"image": data_url(png)}).encode()
    figures["django_plain"] = timed(wsgi_poster("/api/digits/predict", plain), n)
    report("Django (WSGI handler), POST /api/digits/predict", *figures["django_plain"])
    # The stack's own share: the same request with the drawing's work (decode,
    # preprocessing, LiteRT, quantising) replaced by a stored answer to it,
    # timed alternately with the whole request (back to back, the stack alone
    # measures faster than it costs between requests that do the work).
    stored = drawing_predict(image=png, activations=True)
    stored_activations = activations_encode(stored)
    whole = wsgi_poster("/api/digits/predict", body)

    def stack_alone():
        api.drawing_predict = lambda **kwargs: stored
        api.activations_encode = lambda result: stored_activations
        try:
            whole()
        finally:
            api.drawing_predict, api.activations_encode = drawing_predict, activations_encode

    figures["django_acts"], figures["floor_acts"] = timed_alternately(whole, stack_alone, n)
    report("Django (WSGI handler), POST /api/digits/predict with activations", *figures["django_acts"])
    report("  the stack alone: same request, the drawing's work replaced", *figures["floor_acts"])
    assert "tensorflow" not in sys.modules, "a web process must not import TensorFlow"
    figures["rss_mib"] = rss_mib(os.getpid())
    print(f"  this process: TensorFlow not imported, resident memory {figures['rss_mib']:.0f} MiB")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in figures.items()}


def in_process(n: int, web: dict) -> dict:
    """The paths a web process no longer takes (TensorFlow), in this process,
    beside the web process's figures."""
    import dataclasses

    import numpy as np

    from digits.preprocessing import drawing_to_mnist
    from models.model_input import model_input
    from models.selectors import model_version_by_id_get
    from models.serving import model_server, read_model
    from tests.drawings import data_url

    png = canvas_png()
    served = model_server().get()
    model = read_model(model_version_by_id_get(version_id=served.version_id))
    old = TFFunctionPredictor(model, served.predictor.layer_names)
    x28 = drawing_to_mnist(png)
    batch = model_input(x28)
    figures = {}

    print(f"\nIn a process with TensorFlow (model v{served.version}): the paths web processes took before")
    figures["keras"] = timed(lambda: model.predict(batch, verbose=0), 50)
    report("keras model.predict (the original app's path)", *figures["keras"])
    figures["tf_probs"] = timed(lambda: old.predict(x28), n)
    report("old served path: tf.function, probabilities only", *figures["tf_probs"])
    figures["tf_acts"] = timed(lambda: old.predict(x28, activations=True), n)
    report("old served path: tf.function, all activations", *figures["tf_acts"])
    difference = np.abs(np.array(web["probabilities"]) - model.predict(batch, verbose=0)[0]).max()
    print(f"  same answer: LiteRT (web process) vs Keras max |difference| {difference:.1e}")
    figures["e2e_old"] = timed(lambda: model.predict(model_input(drawing_to_mnist(png)), verbose=0), 50)
    report("end to end, original: preprocessing + model.predict", *figures["e2e_old"])
    print(
        f"  end to end vs model.predict, same model, same run: {figures['e2e_old'][0] / web['e2e_probs'][0]:.0f}x"
        f" faster (probabilities), {figures['e2e_old'][0] / web['e2e_new'][0]:.0f}x (with activations);"
        f" interpreter vs tf.function: {figures['tf_acts'][0] / web['lite_acts'][0]:.1f}x (activations)"
    )
    body = json.dumps({"image": data_url(png), "activations": True}).encode()
    # The old path through the same stack: this process's served model with
    # the tf.function predictor in place of the interpreter.
    server = model_server()
    server._current = dataclasses.replace(served, predictor=old)
    figures["django_acts_old"] = timed(wsgi_poster("/api/digits/predict", body), n)
    report("Django (WSGI handler) with activations, old path (tf.function)", *figures["django_acts_old"])
    server._current = served
    return figures


def over_http(env: dict, n: int) -> None:
    from tests.drawings import data_url
    from tests.ports import free_port

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
        report("POST /api/digits/predict", *timed(lambda: post(False), n)[:2])
        report("POST /api/digits/predict with activations", *timed(lambda: post(True), n)[:2])
        for pid in worker_pids(server.pid):
            maps = Path(f"/proc/{pid}/maps").read_text()
            print(
                f"  web worker {pid}: resident memory {rss_mib(pid):.0f} MiB after serving; "
                f"TensorFlow loaded: {'yes' if '/tensorflow/' in maps else 'no'}"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="timed calls per in-process measurement")
    parser.add_argument("--http-n", type=int, default=300, help="timed requests per HTTP measurement")
    parser.add_argument("--artifact", help="a .keras model to serve instead of training a small one")
    parser.add_argument("--web-process", action="store_true", help=argparse.SUPPRESS)  # main() runs it
    args = parser.parse_args()
    if args.web_process:
        _django.setup()
        print("FIGURES " + json.dumps(web_process(args.n)), flush=True)
        return

    var_dir = Path(tempfile.mkdtemp(prefix="digitlab-bench-"))
    env = environment(var_dir)
    os.environ.clear()
    os.environ.update(env)
    try:
        _django.setup()
        import tensorflow as tf

        # One thread, as web processes ran TensorFlow (TF_NUM_THREADS=1) before LiteRT.
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        setup_model(args.artifact)
        web = run_web_process(args.n)
        f = {**in_process(args.n, web), **web}
        over_http(env, args.http_n)
        print(f"\nBars (issue 14, on the wall clock), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
        bars = [
            ("predict compute with all activations, p50 <= 0.25 ms", "lite_acts", "tf_acts", 0.25),
            ("preprocessing p50 <= 0.3 ms", "preprocessing", None, 0.3),
            ("Django POST predict with activations p50 <= 1.2 ms", "django_acts", "django_acts_old", 1.2),
        ]
        for name, key, old_key, bar in bars:
            value = f[key][0]
            old = f"  (old path {f[old_key][0]:.3f} ms)" if old_key else ""
            print(f"  {name:<58} {value:7.3f} ms  CPU {f[key][2]:.3f} ms  {'met' if value <= bar else 'NOT met'}{old}")
        for key, what in (("e2e_probs", "probabilities"), ("e2e_new", "with activations")):
            ratio, cpu_ratio = f["e2e_old"][0] / f[key][0], f["e2e_old"][2] / f[key][2]
            verdict = "met" if ratio >= 100 else "NOT met"
            name = f"end to end >= 100x faster than model.predict ({what})"
            print(f"  {name:<58} {ratio:7.0f} x   CPU {cpu_ratio:.0f} x  {verdict}")
        stack = f["floor_acts"][0]
        print(
            f"  of the Django request with activations ({f['django_acts'][0]:.3f} ms), the stack alone is "
            f"{stack:.3f} ms p50, the drawing's work {f['django_acts'][0] - stack:.3f} ms "
            f"({f['e2e_new'][0]:.3f} ms timed on its own)"
        )
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def run_web_process(n: int) -> dict:
    """web_process() in a fresh process on the same registry, its lines
    printed as they come; returns its figures."""
    command = [sys.executable, __file__, "--web-process", "--n", str(n)]
    child = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, text=True)
    figures = None
    for line in child.stdout:
        if line.startswith("FIGURES "):
            figures = json.loads(line[len("FIGURES ") :])
        else:
            print(line, end="", flush=True)
    if child.wait() != 0 or figures is None:
        raise SystemExit("the web-process measurement failed")
    return figures


if __name__ == "__main__":
    main()
