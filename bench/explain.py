"""Is the "why this digit" map faithful, and what does it cost?

    .venv/bin/python bench/explain.py [--digits 200] [--n 300] [--artifact model.keras]

Sets up a temporary registry as bench/predict.py does (``--artifact``, else a
small CNN trained for one epoch on 3000 MNIST images) and explains through
the served predictor, the path the API takes.

Faithfulness (issue 12): for each of ``--digits`` MNIST test digits (a
seeded sample; the model never trained on them), blank the 10 % of its ink
pixels (non-zero) that the map of the predicted digit ranks highest, and
separately a random 10 % of the ink (the mean drop over 10 draws).  A digit
counts when the map's choice lowers the predicted digit's probability more.
Bar: at least 80 % of at least 200 digits.  Probabilities near 1 are compared
through log1p(-(sum of the others)) so that a float32 softmax stuck at 1.0
is not read as "no change".  For scale, the same count against ranking the
ink by brightness alone, a baseline that needs no model.

Cost: p50 and p99 of computing the maps, beside one plain predict in the same
run, and POST /api/digits/predict through Django with and without it.  The
bar: 15 ms p50.  The square sizes measured before choosing are printed too.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import _django  # bench/_django.py
import numpy as np
from predict import canvas_png, environment, report, setup_model, timed  # bench/predict.py

FAITHFUL_BAR = 0.80
COST_BAR_MS = 15.0
VARIANTS = [(6, 6), (4, 4), (5, 5), (7, 7), (2, 2)]  # (square side, stride) in input pixels
RANDOM_DRAWS = 10


def predicted_probability(predict_batch, batch: np.ndarray, digit: int) -> np.ndarray:
    from models.explanation import log_probabilities

    return np.exp(log_probabilities(predict_batch(batch))[:, digit])


def faithfulness(predict_batch, x: np.ndarray, y: np.ndarray, *, patch: int, stride: int, seed: int = 0) -> dict:
    """Blank the map's top 10 % of the ink vs a random 10 %, digit by digit."""
    from models.explanation import explain

    rng = np.random.default_rng(seed)
    beats_random = beats_brightness = right = 0
    costs, occlusions, drops = [], [], []
    for image, label in zip(x, y, strict=True):
        start = time.perf_counter()
        why = explain(image, predict_batch, patch=patch, stride=stride)
        costs.append(time.perf_counter() - start)
        occlusions.append(why.occlusions)
        digit = why.digit
        right += digit == label
        flat = image.reshape(-1)
        ink = np.flatnonzero(flat)
        n = max(1, round(0.1 * len(ink)))
        by_map = ink[np.argsort(-why.maps[digit].reshape(-1)[ink], kind="stable")[:n]]
        by_brightness = ink[np.argsort(-flat[ink].astype(np.int32), kind="stable")[:n]]
        choices = [by_map, by_brightness] + [rng.choice(ink, n, replace=False) for _ in range(RANDOM_DRAWS)]
        batch = np.repeat(flat[None], len(choices) + 1, axis=0)
        for row, chosen in enumerate(choices, start=1):
            batch[row, chosen] = 0
        p = predicted_probability(predict_batch, batch.reshape(-1, 28, 28), digit)
        drop = p[0] - p[1:]
        beats_random += drop[0] > drop[2:].mean()
        beats_brightness += drop[0] > drop[1]
        drops.append((drop[0], drop[2:].mean()))
    total = len(x)
    ms = np.array(costs) * 1000
    mean_drops = np.mean(drops, axis=0)
    return {
        "patch": patch,
        "stride": stride,
        "digits": total,
        "accuracy": right / total,
        "beats_random": beats_random / total,
        "beats_brightness": beats_brightness / total,
        "mean_drop_map": float(mean_drops[0]),
        "mean_drop_random": float(mean_drops[1]),
        "occlusions_p50": float(np.median(occlusions)),
        "cost_p50_ms": float(np.percentile(ms, 50)),
        "cost_p99_ms": float(np.percentile(ms, 99)),
    }


def print_variant(r: dict, chosen: bool) -> None:
    mark = "  <- served" if chosen else ""
    print(
        f"  {r['patch']}x{r['patch']} squares, stride {r['stride']}: map beats random on "
        f"{r['beats_random']:.1%}, beats brightness on {r['beats_brightness']:.1%}; mean drop "
        f"{r['mean_drop_map']:.3f} vs {r['mean_drop_random']:.3f}; {r['occlusions_p50']:.0f} covered copies "
        f"(p50), {r['cost_p50_ms']:.2f} ms p50{mark}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=200, help="MNIST test digits for faithfulness")
    parser.add_argument("--n", type=int, default=300, help="timed calls per cost measurement")
    parser.add_argument("--artifact", help="a .keras model to serve instead of training a small one")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="digitlab-bench-"))
    env = environment(var_dir)
    os.environ.clear()
    os.environ.update(env)
    try:
        _django.setup()
        run(args)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def run(args) -> None:
    from django.test import Client

    from models.explanation import PATCH, STRIDE, explain
    from models.serving import model_server
    from training.datasets import load_mnist

    setup_model(args.artifact)
    served = model_server().get()
    predictor = served.predictor
    mnist = load_mnist()
    pick = np.random.default_rng(12).choice(len(mnist.x_test), args.digits, replace=False)
    x, y = mnist.x_test[pick], mnist.y_test[pick]
    print(f"uptime: {os.getloadavg()[0]:.2f} load (1 min) on {os.cpu_count()} cores", flush=True)

    print(f"\nFaithfulness on {args.digits} MNIST test digits, model v{served.version}:")
    results = {}
    for patch, stride in VARIANTS:
        results[patch, stride] = faithfulness(predictor.predict_batch, x, y, patch=patch, stride=stride)
        print_variant(results[patch, stride], (patch, stride) == (PATCH, STRIDE))
    served_result = results[PATCH, STRIDE]
    print(f"  (model accuracy on these digits: {served_result['accuracy']:.1%})")

    print("\nCost, served predictor, one MNIST digit at a time (same run):")
    digits = itertools.cycle(x)
    predict_p50, predict_p99 = timed(lambda: predictor.predict(next(digits)), args.n)
    report("predict, probabilities only (baseline)", predict_p50, predict_p99)
    explain_p50, explain_p99 = timed(lambda: explain(next(digits), predictor.predict_batch), args.n)
    report("explanation: ten occlusion maps", explain_p50, explain_p99)
    print(f"  explanation / predict: {explain_p50 / predict_p50:.1f}x")

    client = Client()
    image = "data:image/png;base64," + base64.b64encode(canvas_png()).decode("ascii")
    bodies = {
        flags: json.dumps({"image": image, "activations": flags[0], "explanation": flags[1]})
        for flags in [(True, False), (True, True)]
    }

    def post(flags):
        response = client.post("/api/digits/predict", data=bodies[flags], content_type="application/json")
        assert response.status_code == 200, response.content

    report("Django POST predict with activations", *timed(lambda: post((True, False)), args.n))
    report("Django POST predict with activations and explanation", *timed(lambda: post((True, True)), args.n))

    faithful = served_result["beats_random"]
    print(
        f"\nFaithfulness {faithful:.1%} on {args.digits} digits "
        f"({'meets' if faithful >= FAITHFUL_BAR and args.digits >= 200 else 'MISSES'} the 80 % of 200 bar); "
        f"cost p50 {explain_p50:.2f} ms ({'meets' if explain_p50 <= COST_BAR_MS else 'MISSES'} the 15 ms bar)."
    )
    print(f"uptime: {os.getloadavg()[0]:.2f} load (1 min)")


if __name__ == "__main__":
    main()
