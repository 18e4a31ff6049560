import sys

import numpy as np

sys.path.insert(0, ".")
from bench.canvas_digits import style_drawings
from digits.preprocessing import drawing_to_mnist

names = ["nine_open", "one_flag", "zero_slashed", "seven_crossbar"]


def arrays(per, seed, gen):
    d = style_drawings(names, per, seed=seed, generator=gen)
    return (
        np.stack([drawing_to_mnist(p) for _, _, p in d]),
        np.array([dg for _, dg, _ in d], np.uint8),
        np.array([names.index(s) for s, _, _ in d]),
    )


tx, ty, ts = arrays(75, 1, "training")
held = (np.arange(len(ty)) // len(names)) % 5 == 4
fx, fy, fs = arrays(100, 2, "fresh")
np.savez_compressed(
    ".exp/styles.npz",
    names=np.array(names),
    train_x=tx[~held],
    train_y=ty[~held],
    train_style=ts[~held],
    held_x=tx[held],
    held_y=ty[held],
    fresh_x=fx,
    fresh_y=fy,
    fresh_style=fs,
)
d = np.load("var/mnist.npz")
np.savez_compressed(".exp/mnist.npz", **{k: d[k] for k in d.files})
print(len(ty[~held]), held.sum(), len(fy))
