"""The baseline with every convolution's filters multiplied, registered as a
version in the registry the environment points at (issue 22: does capacity
limit what a fine-tune keeps?).

    VAR_DIR=/tmp/wide .venv/bin/python bench/wider_network.py --width 1.5 -- --epochs 3

Everything after ``--`` goes to ``manage.py train_baseline``.  The served
network's layer names and shape stay; only the filter counts change, so the
registry, the LiteRT export and ``bench/fine_tune_seeds.py`` (which fine-tunes
the active version) take it as they are.  Not adopted (bench/README.md,
2026-12-04 third session): the network stays as it is.
"""

from __future__ import annotations

import argparse
import os

import _django  # bench/_django.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=float, default=1.5, help="filters multiplied by this")
    parser.add_argument("train_baseline", nargs="*", help="arguments for manage.py train_baseline")
    args = parser.parse_args()
    _django.setup(TF_CPP_MIN_LOG_LEVEL="3", DEBUG="true")
    from django.core.management import call_command

    from training import network

    network.CONVS = tuple((name, round(filters * args.width)) for name, filters in network.CONVS)
    print(f"filters {[f for _, f in network.CONVS]}; load average {os.getloadavg()[0]:.2f}", flush=True)
    call_command("migrate", verbosity=0)
    call_command("train_baseline", *args.train_baseline)

    from models.selectors import active_model_version_get

    version = active_model_version_get()
    params = sum(layer["params"] for layer in version.architecture)
    print(f"{version}: {params:,} parameters; LiteRT {version.litert_artifact.path}")


if __name__ == "__main__":
    main()
