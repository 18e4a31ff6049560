"""The method comparisons behind the README's choices (augmentations of the
baseline; ways to fine-tune without forgetting), run with Keras 3 on JAX on
a rented GPU: figures for choosing, not of record (those come from the
TensorFlow benchmarks on the target machine).

It uses the project's own ``training/augment.py``, ``training/batches.py``,
``training/network.py`` and ``models/model_input.py`` (copied under
``src/``), a compressed copy of var/mnist.npz, the style drawings of
``make_data.py`` and redrawn MNIST from ``make_redrawn.py``; ``run.sh``
runs every arm in parallel processes.  Rows of both tables in the README
are the ``val``/``test``/``redrawn``/``fresh_all`` it prints.

    python compare_methods.py baseline NAME          # one baseline arm
    python compare_methods.py finetune NAME PARENT   # one fine-tuning arm from PARENT's model
"""

import json
import os
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "src"))
import keras  # noqa: E402
import numpy as np  # noqa: E402

from training.augment import NONE, AugmentConfig  # noqa: E402
from training.batches import ImageBatches, model_input  # noqa: E402
from training.network import build_cnn  # noqa: E402

OUT = Path(os.environ.get("EXP_OUT", "/tmp/exp_out"))
MODELS = Path("/tmp/exp_models")
OUT.mkdir(parents=True, exist_ok=True)
MODELS.mkdir(parents=True, exist_ok=True)

d = np.load(HERE / "mnist.npz")
x_all, y_all, x_test, y_test = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
perm = np.random.default_rng(20261125).permutation(len(y_all))
val_idx, tr_idx = perm[:5000], perm[5000:]
x_val, y_val, x_tr, y_tr = x_all[val_idx], y_all[val_idx], x_all[tr_idx], y_all[tr_idx]
if os.environ.get("EXP_SMOKE"):
    x_val, y_val, x_tr, y_tr, x_test, y_test = (
        x_val[:300],
        y_val[:300],
        x_tr[:600],
        y_tr[:600],
        x_test[:300],
        y_test[:300],
    )
r = np.load(HERE / "redrawn.npz")
x_red, y_red = r["x"], r["y"]
s = np.load(HERE / "styles.npz")
STYLE_NAMES = list(s["names"])

BASE_AUG = dict(salt_pepper=0.02, shift=0.1, rotation=0.04, zoom=0.1)
BASELINES = {
    "old": dict(aug=BASE_AUG),
    "thick": dict(aug={**BASE_AUG, "thickness": 0.7}),
    "elastic": dict(aug={**BASE_AUG, "elastic_alpha": 34.0}),
    "both": dict(aug={**BASE_AUG, "thickness": 0.7, "elastic_alpha": 34.0}),
    "both_s2": dict(aug={**BASE_AUG, "thickness": 0.7, "elastic_alpha": 34.0}, seed=2),
    "both_small": dict(aug={**BASE_AUG, "shift": 0.05, "zoom": 0.05, "thickness": 0.7, "elastic_alpha": 34.0}),
    "both_e20": dict(aug={**BASE_AUG, "thickness": 0.5, "elastic_alpha": 20.0}),
    "both_10ep": dict(aug={**BASE_AUG, "thickness": 0.7, "elastic_alpha": 34.0}, epochs=10),
    "mild": dict(aug={**BASE_AUG, "shift": 0.08, "thickness": 0.4, "elastic_alpha": 16.0}),
    "thick_e16": dict(aug={**BASE_AUG, "thickness": 0.7, "elastic_alpha": 16.0}),
    "mild_s2": dict(aug={**BASE_AUG, "shift": 0.08, "thickness": 0.4, "elastic_alpha": 16.0}, seed=2),
    "mild_s3": dict(aug={**BASE_AUG, "shift": 0.08, "thickness": 0.4, "elastic_alpha": 16.0}, seed=3),
    "old_s2": dict(aug=BASE_AUG, seed=2),
    "old_s3": dict(aug=BASE_AUG, seed=3),
    "mild_12ep": dict(aug={**BASE_AUG, "shift": 0.08, "thickness": 0.4, "elastic_alpha": 16.0}, epochs=12),
    "both_bs64": dict(aug={**BASE_AUG, "thickness": 0.7, "elastic_alpha": 34.0}, batch=64, epochs=6),
}


def probs(model, x):
    return np.asarray(model.predict(model_input(x), batch_size=2048, verbose=0))


def ece(p, y, bins=15):
    conf, pred = p.max(1), p.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return float(total)


def temper(p, t):
    logp = np.log(np.clip(p, 1e-12, 1)) / t
    logp -= logp.max(1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(1, keepdims=True)


def fit_t(p, y):
    grid = np.exp(np.linspace(np.log(0.3), np.log(5), 200))
    nll = [-np.log(temper(p, t)[np.arange(len(y)), y] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def report(model):
    pv, pt, pr = probs(model, x_val), probs(model, x_test), probs(model, x_red)
    t = fit_t(pv, y_val)
    out = {
        "val": float((pv.argmax(1) == y_val).mean()),
        "test": float((pt.argmax(1) == y_test).mean()),
        "redrawn": float((pr.argmax(1) == y_red).mean()),
        "ece_test_raw": ece(pt, y_test),
        "T": t,
        "ece_test_cal": ece(temper(pt, t), y_test),
        "ece_redrawn_cal": ece(temper(pr, t), y_red),
    }
    pf = probs(model, s["fresh_x"]).argmax(1)
    out["fresh"] = {
        n: float((pf[s["fresh_style"] == i] == s["fresh_y"][s["fresh_style"] == i]).mean())
        for i, n in enumerate(STYLE_NAMES)
    }
    out["fresh_all"] = float((pf == s["fresh_y"]).mean())
    cm_test = np.zeros((10, 10), int)
    np.add.at(cm_test, (y_test, pt.argmax(1)), 1)
    out["test_into_7_9"] = int(cm_test[:, 7].sum() - cm_test[7, 7] + cm_test[:, 9].sum() - cm_test[9, 9])
    ph = probs(model, s["held_x"]).argmax(1)
    out["heldout"] = float((ph == s["held_y"]).mean())
    return out


class EpochVal(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append(float((probs(self.model, x_val).argmax(1) == y_val).mean()))


def baseline(name):
    cfg = BASELINES[name]
    seed, epochs, batch = cfg.get("seed", 1234), cfg.get("epochs", 8), cfg.get("batch", 128)
    keras.utils.set_random_seed(seed)
    ds = ImageBatches(x_tr, y_tr, batch_size=batch, seed=seed, augment=AugmentConfig(**cfg["aug"]))
    model = build_cnn()
    sched = keras.optimizers.schedules.CosineDecay(2e-3, epochs * len(ds))
    model.compile(optimizer=keras.optimizers.Adam(sched), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cb = EpochVal()
    t0 = time.time()
    model.fit(ds, epochs=epochs, verbose=0, callbacks=[cb])
    res = {"name": name, "cfg": cfg, "seconds": time.time() - t0, "val_per_epoch": cb.rows, **report(model)}
    model.save(MODELS / f"{name}.keras")
    (OUT / f"{name}.json").write_text(json.dumps(res))
    print(json.dumps(res), flush=True)


# The fine-tune's augmentation of drawings (training/fine_tune.py's DRAWINGS_AUGMENT).
DRAWINGS_AUG = {"thickness": 0.5, "elastic_alpha": 20.0, "rotation": 0.02}

FT = {
    "plain": dict(),
    "plain_s2": dict(seed=2),
    "pipeline_old": dict(repeat=18, focus=[7, 9], aug=BASE_AUG, aug_which="all"),
    "full_1e4": dict(rehearsal=None, repeat=22, lr=1e-4, epochs=1),
    "aug_drawings": dict(aug=DRAWINGS_AUG, aug_which="drawings"),
    "aug_all_mild": dict(aug=DRAWINGS_AUG, aug_which="all"),
    "lwf": dict(lwf=0.5),
    "ewc_1e3": dict(ewc=1e3),
    "ewc_1e5": dict(ewc=1e5),
    "freeze12": dict(freeze=["conv1", "conv2"]),
    "lr1e4": dict(lr=1e-4),
    "ep1": dict(epochs=1),
    "ep6": dict(epochs=6),
    "repeat8": dict(repeat=8),
    "full_retrain": dict(retrain=True),
    "full_aug_3e4": dict(
        rehearsal=None,
        repeat=22,
        lr=3e-4,
        epochs=1,
        aug=DRAWINGS_AUG,
        aug_which="drawings",
    ),
    "full_aug_1e4_2": dict(
        rehearsal=None,
        repeat=22,
        lr=1e-4,
        epochs=2,
        aug=DRAWINGS_AUG,
        aug_which="drawings",
    ),
    "r24_aug": dict(rehearsal=24000, aug=DRAWINGS_AUG, aug_which="drawings"),
    "aug_lr1e4": dict(lr=1e-4, aug=DRAWINGS_AUG, aug_which="drawings"),
    "aug_soft": dict(aug={"thickness": 0.3, "elastic_alpha": 10.0, "rotation": 0.02}, aug_which="drawings"),
    "aug_rep11": dict(repeat=11, aug=DRAWINGS_AUG, aug_which="drawings"),
    "lwf8_aug": dict(lwf=0.8, aug=DRAWINGS_AUG, aug_which="drawings"),
    "aug_ep2": dict(epochs=2, aug=DRAWINGS_AUG, aug_which="drawings"),
    "aug_thick": dict(aug={"thickness": 0.5}, aug_which="drawings"),
    "aug_drawings_s2": dict(aug=DRAWINGS_AUG, aug_which="drawings", seed=2),
    "full_1e4_aug": dict(
        rehearsal=None,
        repeat=22,
        lr=1e-4,
        epochs=1,
        aug=DRAWINGS_AUG,
        aug_which="drawings",
    ),
    "lwf_aug": dict(lwf=0.5, aug=DRAWINGS_AUG, aug_which="drawings"),
}


def fisher_diag(model, n=600):
    import jax
    import jax.numpy as jnp

    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]

    def nll(tv, x, y):
        out, _ = model.stateless_call(tv, ntv, x, training=False)
        return -jnp.log(out[0, y] + 1e-8)

    g = jax.jit(jax.grad(nll))
    xs = model_input(x_tr[:n])
    acc = [jnp.zeros_like(t) for t in tv]
    for i in range(n):
        gi = g(tv, xs[i : i + 1], int(y_tr[i]))
        acc = [a + b * b for a, b in zip(acc, gi, strict=True)]
    return [np.asarray(a / n) for a in acc]


def finetune(name, parent="both"):
    cfg = FT[name]
    seed = cfg.get("seed", 20240607)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    dx, dy = s["train_x"], s["train_y"]
    if cfg.get("retrain"):
        pa = BASELINES[parent]
        x = np.concatenate([x_tr, np.repeat(dx, 10, 0)])
        y = np.concatenate([y_tr, np.repeat(dy, 10, 0)])
        ds = ImageBatches(x, y, batch_size=128, seed=seed, augment=AugmentConfig(**pa["aug"]))
        model = build_cnn()
        sched = keras.optimizers.schedules.CosineDecay(2e-3, 8 * len(ds))
        model.compile(optimizer=keras.optimizers.Adam(sched), loss="sparse_categorical_crossentropy")
        t0 = time.time()
        model.fit(ds, epochs=8, verbose=0)
        res = {"name": name, "cfg": cfg, "seconds": time.time() - t0, "steps": 8 * len(ds), **report(model)}
        (OUT / f"ft_{name}.json").write_text(json.dumps(res))
        print(json.dumps(res), flush=True)
        return
    model = keras.models.load_model(MODELS / f"{parent}.keras", compile=False)
    parent_w = [w.copy() for w in model.get_weights()]
    reh = cfg.get("rehearsal", 12000)
    reh = min(reh, len(y_tr)) if reh else reh
    pick = np.arange(len(y_tr)) if reh is None else rng.choice(len(y_tr), reh, replace=False)
    rx, ry = x_tr[pick], y_tr[pick]
    rep = cfg.get("repeat", 22)
    ddx, ddy = np.repeat(dx, rep, 0), np.repeat(dy, rep, 0)
    focus = cfg.get("focus")
    if focus:
        m = np.isin(ry, focus)
        rx, ry = np.concatenate([rx, rx[m]]), np.concatenate([ry, ry[m]])
        m = np.isin(ddy, focus)
        ddx, ddy = np.concatenate([ddx, ddx[m]]), np.concatenate([ddy, ddy[m]])
    x = np.concatenate([rx, ddx])
    y = np.concatenate([ry, ddy])
    is_drawing = np.r_[np.zeros(len(ry), bool), np.ones(len(ddy), bool)]
    loss = "sparse_categorical_crossentropy"
    if cfg.get("lwf"):
        lam = cfg["lwf"]
        soft = probs(model, rx)
        onehot = np.eye(10, dtype=np.float32)
        y = np.concatenate([(1 - lam) * onehot[ry] + lam * soft, onehot[ddy]])
        loss = "categorical_crossentropy"
    aug = cfg.get("aug")
    which = cfg.get("aug_which", "none")
    mask = None if which == "all" else (is_drawing if which == "drawings" else None)
    augc = AugmentConfig(**{**NONE.as_dict(), **aug}) if aug else None
    ds = ImageBatches(x, y, batch_size=128, seed=seed, augment=augc, augment_mask=mask)
    for layer in model.layers:
        layer.trainable = layer.name not in cfg.get("freeze", [])
    epochs = cfg.get("epochs", 3)
    sched = keras.optimizers.schedules.CosineDecay(cfg.get("lr", 3e-4), epochs * len(ds))
    model.compile(optimizer=keras.optimizers.Adam(sched), loss=loss)
    if cfg.get("ewc"):
        fisher = fisher_diag(model)
        anchors = [np.asarray(v.value).copy() for v in model.trainable_variables]
        lam = cfg["ewc"]
        base = model.compute_loss

        def compute_loss(self, *a, **k):
            total = base(*a, **k)
            pen = 0.0
            for v, f, w0 in zip(self.trainable_variables, fisher, anchors, strict=True):
                pen = pen + keras.ops.sum(f * (v.value - w0) ** 2)
            return total + lam / 2 * pen

        model.compute_loss = types.MethodType(compute_loss, model)
    t0 = time.time()
    model.fit(ds, epochs=epochs, verbose=0)
    secs = time.time() - t0
    res = {"name": name, "cfg": cfg, "seconds": secs, "steps": epochs * len(ds), **report(model)}
    tuned_w = model.get_weights()
    wise = {}
    for alpha in (0.25, 0.5, 0.75):
        model.set_weights([(1 - alpha) * p + alpha * t for p, t in zip(parent_w, tuned_w, strict=True)])
        wise[str(alpha)] = report(model)
    res["wise"] = wise
    (OUT / f"ft_{name}.json").write_text(json.dumps(res))
    print(json.dumps({k: v for k, v in res.items() if k != "wise"}), flush=True)


if __name__ == "__main__":
    what, name = sys.argv[1], sys.argv[2]
    if what == "baseline":
        baseline(name)
    elif what == "parent":
        model = keras.models.load_model(MODELS / f"{name}.keras", compile=False)
        print(json.dumps({"name": "parent " + name, **report(model)}), flush=True)
    else:
        finetune(name, parent=sys.argv[3] if len(sys.argv) > 3 else "both")
