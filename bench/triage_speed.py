"""How fast the triage runs, and what it costs the request that stores a drawing.

    .venv/bin/python bench/triage_speed.py [--drawings 2000] [--store 400]

1. Throughput: ``--drawings`` MNIST test digits from 60 contributors whose
   700 earlier drawings people decided (so thresholds, support and trust are
   all in play) are triaged as one worker does, batch after batch
   (digits.triage.triage_batch): drawings a second, wall and CPU.
2. Storing: ``sample_create`` (decode, preprocess, predict, store the file
   and the row) timed ``--store`` times with the triage request (one cache
   add; a broker message when the worker has cleared the mark, here every
   50 drawings) and as many without, in alternating blocks of 10: p50 of each.

Runs in a scratch database (``<name>_triage_speed``, created and dropped),
against the environment's Redis (the cache and the broker: the queued
triage messages are purged at the end)."""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np


def png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").resize((280, 280)).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drawings", type=int, default=2000)
    parser.add_argument("--store", type=int, default=400)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="triage-speed-")
    os.environ.update(ARTIFACT_ROOT=f"{scratch}/artifacts", MEDIA_ROOT=f"{scratch}/media")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _django

    _django.setup(DEBUG="true", TF_CPP_MIN_LOG_LEVEL="3")
    import logging

    logging.disable(logging.INFO)
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"]["NAME"] = f"{name}_triage_speed"
    old = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        run(args)
    finally:
        from webapp.celery import app

        app.control.purge()
        connection.creation.destroy_test_db(old, verbosity=0)


def run(args) -> None:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    import digits.services as services
    from bench.poisoning import Stream, parent_register, people_decide, store, triage_all
    from digits.triage import triage_batch
    from training.datasets import load_mnist

    mnist = load_mnist()
    parent_register(mnist=mnist, epochs=1, train_limit=5000)
    reviewer = get_user_model().objects.create(username="bench", is_staff=True)
    ids = [f"honest-{i}" for i in range(60)]

    def stream(start: int, count: int) -> Stream:
        x, y = mnist.x_test[start : start + count], mnist.y_test[start : start + count].astype(int)
        clients = [ids[i % 60] for i in range(count)]
        return Stream(x, y, y, clients, ["honest"] * count)

    early = stream(0, 700)
    early_ids = store(early)
    triage_all(500)
    people_decide(early_ids, dict(zip(early_ids, early.truth.tolist(), strict=True)), reviewer)

    # 1. Throughput, the drawings stored first (storing is not what is timed).
    original = services.triage_soon
    services.triage_soon = lambda: None
    store(stream(700, args.drawings))
    services.triage_soon = original
    wall, cpu, done = time.perf_counter(), time.process_time(), 0
    while n := triage_batch():
        done += n
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"triaged": done, "per_second": round(done / wall, 1), "per_cpu_second": round(done / cpu, 1)}))

    # 2. Storing, with and without the triage request, alternating blocks.
    images = mnist.x_test[3000 : 3000 + 2 * args.store]
    pngs = [png(image) for image in images]
    timings = {"with": [], "without": []}
    noop = lambda: None  # noqa: E731
    for block in range(0, len(pngs), 10):
        mode = "with" if (block // 10) % 2 == 0 else "without"
        services.triage_soon = original if mode == "with" else noop
        for i in range(block, min(block + 10, len(pngs))):
            if i % 50 == 0:
                cache.delete(services.TRIAGE_SOON_KEY)  # as the worker does when a task starts
            start = time.perf_counter()
            services.sample_create(
                image=pngs[i], label=int(mnist.y_test[3000 + i]), label_source="prompted", client_id="speed"
            )
            timings[mode].append((time.perf_counter() - start) * 1000)
    services.triage_soon = original
    p50 = {mode: round(statistics.median(values), 3) for mode, values in timings.items()}
    print(json.dumps({"store_p50_ms": p50, "difference_ms": round(p50["with"] - p50["without"], 3), "n": len(pngs)}))


if __name__ == "__main__":
    main()
