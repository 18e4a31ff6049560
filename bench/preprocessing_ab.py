"""Preprocessing now against an earlier commit's, interleaved in one process.

    .venv/bin/python bench/preprocessing_ab.py [--ref 8780d3e] [--rounds 15]

On a shared VM the same code measures 30% apart from one run to the next,
so comparing figures from two runs says little.  This loads
``digits/preprocessing.py`` as it is in this tree and as it was at ``--ref``
(``git show``) into one process and times ``drawing_to_mnist`` in
alternating blocks of 100 calls, on the page's Chromium canvas
(bench/record_canvas.py) and on a Pillow-made transparent PNG; it prints
the median of the blocks' medians and checks that both give the same array.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _django import ROOT  # bench/_django.py: the repository, now on sys.path


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    from record_canvas import PATH

    from tests.drawings import seven_png

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="8780d3e", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    source = subprocess.run(
        ["git", "show", f"{args.ref}:digits/preprocessing.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        earlier = Path(folder) / "preprocessing_earlier.py"
        earlier.write_text(source)
        versions = {
            args.ref: load("preprocessing_earlier", earlier),
            "this tree": load("pp_now", ROOT / "digits" / "preprocessing.py"),
        }
        inputs = {"Chromium canvas": PATH.read_bytes(), "Pillow PNG": seven_png()}
        for label, png in inputs.items():
            arrays = [v.drawing_to_mnist(png) for v in versions.values()]
            same = all(np.array_equal(arrays[0], a) for a in arrays[1:])
            blocks = {name: [] for name in versions}
            for _ in range(args.rounds):
                for name, version in versions.items():
                    for _ in range(20):
                        version.drawing_to_mnist(png)
                    times = []
                    for _ in range(100):
                        start = time.perf_counter()
                        version.drawing_to_mnist(png)
                        times.append(time.perf_counter() - start)
                    blocks[name].append(np.median(times))
            figures = "   ".join(f"{name}: {np.median(b) * 1000:.3f} ms" for name, b in blocks.items())
            print(f"{label:16} p50 {figures}   same array: {same}")


if __name__ == "__main__":
    main()
