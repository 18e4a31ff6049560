"""Training times: one MNIST epoch of the baseline CNN, and one fine-tuning
run (the retraining's data mix and settings) from the local baseline, with
the peak resident memory of this process (what a Celery worker holds while
it trains); each figure with the load average beside it (2 shared cores).

    .venv/bin/python bench/training_time.py

Needs an active version in the registry the environment points at
(DATABASE_URL, else var/: `make run` or `python manage.py train_baseline`);
touches nothing there.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
os.environ.setdefault("DEBUG", "true")


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    import django

    django.setup()
    import keras

    from bench.canvas_digits import STYLES, style_drawings
    from digits.preprocessing import drawing_to_mnist
    from digits.selectors import DrawingArrays
    from models.selectors import active_model_version_get
    from training.batches import ImageBatches
    from training.datasets import load_mnist, validation_split
    from training.fine_tune import FineTuneConfig
    from training.network import build_cnn
    from training.pipeline import fine_tune_candidate
    from training.selectors import DrawingsPick, FineTuneDrawings
    from training.train import TrainConfig

    data = load_mnist()
    active = active_model_version_get()
    if active is None:
        sys.exit("No active model: run `make run` or `python manage.py train_baseline` first.")
    split = validation_split(data)
    config = TrainConfig()
    print(f"before: {load()}")
    for name, augment in (("augmented as the baseline trains", config.augment), ("not augmented", None)):
        model = build_cnn(batchnorm=config.batchnorm)  # the network the baseline trains
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        ds = ImageBatches(split.x_train, split.y_train, batch_size=config.batch_size, seed=1, augment=augment)
        started = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        epoch_s = time.perf_counter() - started
        print(f"one epoch of the baseline CNN on {len(split.y_train)} images, {name}: {epoch_s:.1f} s ({load()})")

    styled = style_drawings(list(STYLES), 60, seed=7)
    started = time.perf_counter()
    x = np.stack([drawing_to_mnist(png) for _, _, png in styled])
    y = np.array([digit for _, digit, _ in styled], np.uint8)
    prep_s = time.perf_counter() - started
    ft = FineTuneConfig()
    started = time.perf_counter()
    ids = np.arange(len(y))
    drawings = FineTuneDrawings(
        train=DrawingArrays(x[:240], y[:240], ids[:240]),
        heldout=DrawingArrays(x[240:], y[240:], ids[240:]),
        pick=DrawingsPick(list(range(240)), list(range(240, 300)), new=240, available=300),
    )
    candidate = fine_tune_candidate(parent=active, config=ft, drawings=drawings, on_epoch=lambda *a: None)
    ft_s = time.perf_counter() - started
    summary = candidate.data_summary
    print(
        f"fine-tuning path ({ft.epochs} epochs over {summary['training_images']} images: {ft.rehearsal} MNIST "
        f"rehearsal + 240 drawings x{summary['collected_repeat']}; both models judged on 5000 validation, "
        f"10000 test and 60 held-out images; gate; LiteRT export checked on the 10000): {ft_s:.1f} s ({load()}); "
        f"preprocessing 300 drawings {prep_s:.2f} s"
    )
    print(f"  {candidate.decision.reason}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of a training process (model loaded, MNIST in memory): {peak:.0f} MiB")
    del keras


if __name__ == "__main__":
    main()
