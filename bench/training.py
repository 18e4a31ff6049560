"""Training figures: one MNIST epoch of the baseline CNN, and one fine-tuning
run (the retraining's data mix and settings) from the local baseline, with
the peak resident memory of this process (what a Celery worker holds while
it trains).

    .venv/bin/python bench/training.py

Needs the baseline in the local registry (var/, from `make run` or
`python manage.py train_baseline`); touches nothing there.
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
for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):
    os.environ.pop(name, None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
os.environ.setdefault("DEBUG", "true")


def main() -> None:
    import django

    django.setup()
    import keras

    from bench.canvas_digits import drawings
    from digits.preprocessing import drawing_to_mnist
    from models.selectors import active_model_version_get
    from training.datasets import load_mnist
    from training.evaluation import evaluate
    from training.fine_tune import FineTuneConfig, build_training_set, fine_tune
    from training.fitting import make_dataset
    from training.network import build_cnn
    from training.train import TrainConfig

    data = load_mnist()
    active = active_model_version_get()
    if active is None:
        sys.exit("No active model in var/: run `make run` or `python manage.py train_baseline` first.")

    config = TrainConfig()
    model = build_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ds = make_dataset(data.x_train, data.y_train, batch_size=config.batch_size, seed=1, augment=config.augment)
    model.fit(ds.take(5), epochs=1, verbose=0)  # trace and warm the pipeline
    started = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    epoch_s = time.perf_counter() - started
    print(f"baseline CNN, one MNIST epoch (60000 images, batch {config.batch_size}, augmented): {epoch_s:.1f} s")

    started = time.perf_counter()
    styled = drawings(300, seed=7)
    x = np.stack([drawing_to_mnist(png) for _, png in styled])
    y = np.array([digit for digit, _ in styled], np.uint8)
    prep_s = time.perf_counter() - started
    ft = FineTuneConfig()
    parent = keras.models.load_model(active.artifact.path, compile=False)
    started = time.perf_counter()
    train_set = build_training_set(mnist_x=data.x_train, mnist_y=data.y_train, drawings_x=x, drawings_y=y, config=ft)
    fine_tune(parent, train_set, ft)
    metrics = evaluate(parent, mnist_x=data.x_test, mnist_y=data.y_test, heldout_x=x[:60], heldout_y=y[:60])
    ft_s = time.perf_counter() - started
    print(
        f"fine-tuning run ({ft.epochs} epochs over {len(train_set.y)} images: {ft.rehearsal} MNIST rehearsal + "
        f"300 drawings repeated; then evaluation on the MNIST test set): {ft_s:.1f} s "
        f"(MNIST test {metrics.get('mnist_accuracy', float('nan')):.4f}); preprocessing 300 drawings {prep_s:.2f} s"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of a training process (model loaded, MNIST in memory): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
