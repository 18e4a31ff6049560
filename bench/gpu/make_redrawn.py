import sys
from multiprocessing import Pool

import numpy as np

sys.path.insert(0, "src")
from bench.redrawn_mnist import redrawn


def chunk(args):
    i, x = args
    return redrawn(x, seed=1000 + i)


if __name__ == "__main__":
    d = np.load("mnist.npz")
    x, y = d["x_test"], d["y_test"]
    parts = [(i, x[i * 500 : (i + 1) * 500]) for i in range(20)]
    with Pool(16) as p:
        out = p.map(chunk, parts)
    np.savez_compressed("redrawn.npz", x=np.concatenate(out), y=y)
    print("redrawn", len(y))
