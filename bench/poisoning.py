"""The poisoning drill (issue 21): honest contributors, a new style, careless
mistakes and an attacker's 500 drawings, through the platform's own storing,
triage and fine-tune data selection, before and after, in the same run.

    .venv/bin/python bench/poisoning.py [--variants a b c] [--fine-tune] [--fine-tune-before]
        [--parent-epochs 1] [--parent-train 20000] [--set honest=1500 ...]

- honest: ``honest`` MNIST test digits from ``ids`` client ids, 3% of them
  with a careless wrong label; ``style`` drawings of a new style (slashed 0s from
  bench/canvas_digits.py's training generator) with correct labels, from the
  same people;
- people first decide ``calibration`` drawings of the same stream (they
  approve, or relabel a careless one), so the thresholds have decisions to be
  chosen on; afterwards they decide only the audit share;
- the attacker's 500: (a) pair flips, 7s labelled 1 and 4s labelled 9, from
  one id; (b) a trigger stroke (a bar in the bottom-right corner) on any
  digit, labelled 3; (c) (a) spread over 50 ids.

Before: today's pipeline with ``TRAIN_INCLUDE_PENDING=true`` and no caps
(every stored drawing a fine-tune may use).  After: triage in batches as the
worker runs it (digits.triage.triage_batch), audits decided by people, and
the fine-tune set with the caps (training.selectors).  ``--fine-tune`` also
fine-tunes the parent on the after set and reports the gate, each validation
digit against the parent, the new style on fresh drawings and triggered
test digits read as the target; ``--fine-tune-before`` does the same on the
before set (keys ``before_...``).

It runs in a scratch database (``<name>_poisoning``, created and dropped)
with artifacts in a temporary folder.  The figures go to stdout as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np

TRIGGER_TARGET = 3
# The new style: slashed zeros, which a 1-epoch parent reads right 0 times
# in 100 (open 9s, the first choice, it already read at 95%: not new).
STYLE = "zero_slashed"


@dataclass
class DrillConfig:
    ids: int = 60
    calibration: int = 700
    honest: int = 1500
    style: int = 150
    careless: float = 0.03
    attack: int = 500
    attack_ids_c: int = 50
    batch: int = 500
    seed: int = 2026


def add_trigger(image: np.ndarray) -> np.ndarray:
    """A short thick bar in the bottom-right corner: the attacker's trigger."""
    out = image.copy()
    out[22:26, 20:26] = 255
    return out


@dataclass
class Stream:
    images: np.ndarray  # 28x28 uint8
    labels: np.ndarray  # as given
    truth: np.ndarray
    clients: list[str]
    kind: list[str]  # honest, style, attack


def build_streams(mnist, cfg: DrillConfig, variant: str) -> tuple[Stream, Stream]:
    """(calibration, stream): the drawings people decide first, then the rest."""
    from bench.canvas_digits import style_drawings
    from digits.preprocessing import drawing_to_mnist

    rng = np.random.default_rng(cfg.seed)
    honest_ids = [f"honest-{i}" for i in range(cfg.ids)]
    n = cfg.calibration + cfg.honest
    # MNIST test digits 0..n (the parent never trained on them; 9000+ are kept for the trigger check).
    x, truth = mnist.x_test[:n], mnist.y_test[:n].astype(int)
    labels = truth.copy()
    careless = rng.random(n) < cfg.careless
    labels[careless] = (truth[careless] + rng.integers(1, 10, careless.sum())) % 10
    clients = [honest_ids[i % cfg.ids] for i in range(n)]
    calibration = Stream(
        x[: cfg.calibration], labels[: cfg.calibration], truth[: cfg.calibration], clients[: cfg.calibration],
        ["honest"] * cfg.calibration,
    )  # fmt: skip
    style = style_drawings([STYLE], cfg.style, seed=cfg.seed, generator="training")
    style_x = np.stack([drawing_to_mnist(png) for _, _, png in style])
    style_y = np.array([digit for _, digit, _ in style])
    style_clients = [honest_ids[int(i)] for i in rng.integers(0, cfg.ids // 2, cfg.style)]

    # The attacker's digits: test digits after the honest ones, before 9000.
    pool_x, pool_y = mnist.x_test[n:9000], mnist.y_test[n:9000].astype(int)
    if variant in ("a", "c"):
        sevens, fours = pool_x[pool_y == 7], pool_x[pool_y == 4]
        half = cfg.attack // 2
        attack_x = np.concatenate([sevens[:half], fours[: cfg.attack - half]])
        attack_truth = np.array([7] * half + [4] * (cfg.attack - half))
        attack_y = np.where(attack_truth == 7, 1, 9)
    else:
        others = np.flatnonzero(pool_y != TRIGGER_TARGET)[: cfg.attack]
        attack_x = np.stack([add_trigger(img) for img in pool_x[others]])
        attack_truth, attack_y = pool_y[others], np.full(len(others), TRIGGER_TARGET)
    attackers = [f"attacker-{i % cfg.attack_ids_c}" for i in range(len(attack_y))] if variant == "c" else ["attacker"]
    attack_clients = [attackers[i % len(attackers)] for i in range(len(attack_y))]

    images = np.concatenate([x[cfg.calibration :], style_x, attack_x])
    given = np.concatenate([labels[cfg.calibration :], style_y, attack_y])
    true = np.concatenate([truth[cfg.calibration :], style_y, attack_truth])
    who = clients[cfg.calibration :] + style_clients + attack_clients
    kind = ["honest"] * cfg.honest + ["style"] * len(style_y) + ["attack"] * len(attack_y)
    order = rng.permutation(len(given))
    stream = Stream(images[order], given[order], true[order], [who[i] for i in order], [kind[i] for i in order])
    return calibration, stream


def png_of(image: np.ndarray) -> bytes:
    """A 28x28 image as a 280x280 PNG, as the page would send it."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").resize((280, 280)).save(buffer, format="PNG")
    return buffer.getvalue()


def store(stream: Stream) -> list[int]:
    """Through the storing service, as the API stores a drawing (PNG in)."""
    from digits.services import sample_create

    ids = []
    for image, label, client in zip(stream.images, stream.labels, stream.clients, strict=True):
        sample = sample_create(image=png_of(image), label=int(label), label_source="prompted", client_id=client)
        ids.append(sample.id)
    return ids


def people_decide(ids: list[int], truth: dict[int, int], reviewer) -> int:
    """People decide these drawings by the truth: approve, or relabel."""
    from digits.models import Sample
    from digits.services import sample_approve, sample_relabel

    decided = 0
    for sample in Sample.objects.filter(id__in=ids, status=Sample.Status.PENDING):
        if sample.label == truth[sample.id]:
            sample_approve(sample=sample, reviewer=reviewer)
        else:
            sample_relabel(sample=sample, label=truth[sample.id], reviewer=reviewer)
        decided += 1
    return decided


def triage_all(batch: int) -> int:
    from digits.triage import triage_batch

    done, rng = 0, random.Random(7)
    while True:
        n = triage_batch(limit=batch, rng=rng)
        done += n
        if not n:
            return done


def fine_tune_ids(settings) -> set[int]:
    from training.selectors import training_drawings_pick

    pick = training_drawings_pick(
        since=None, cap=settings.FINE_TUNE_MAX_DRAWINGS, heldout_cap=settings.FINE_TUNE_MAX_HELDOUT
    )
    return set(pick.train_ids)


def reset() -> None:
    from digits.models import Contributor, Sample, SampleDayTally, SampleTally
    from training.models import TrainingRun

    Sample.objects.all().delete()
    Contributor.objects.all().delete()
    SampleTally.objects.all().delete()
    SampleDayTally.objects.all().delete()
    TrainingRun.objects.all().delete()


def run_variant(
    *,
    variant: str,
    cfg: DrillConfig,
    mnist,
    parent,
    reviewer,
    fine_tune: bool,
    settings,
    fine_tune_before: bool = False,
) -> dict:
    from digits.models import Sample

    reset()
    t0 = time.monotonic()
    calibration, stream = build_streams(mnist, cfg, variant)
    # Calibration: stored and triaged as they come (nothing is auto-approved
    # without decisions), then decided by people.
    cal_ids = store(calibration)
    triage_all(cfg.batch)
    people_decide(cal_ids, dict(zip(cal_ids, calibration.truth.tolist(), strict=True)), reviewer)

    # The stream, stored in worker-sized batches; before = everything
    # stored, pending, as today's pipeline with TRAIN_INCLUDE_PENDING would use it.
    ids: list[int] = []
    for start in range(0, len(stream.labels), cfg.batch):
        part = Stream(*(v[start : start + cfg.batch] for v in asdict_stream(stream)))
        ids += store(part)
        triage_all(cfg.batch)
    truth = dict(zip(ids, stream.truth.tolist(), strict=True))
    kind = dict(zip(ids, stream.kind, strict=True))
    attack_ids = {i for i in ids if kind[i] == "attack"}

    # Audits: people decide the drawings sent to them for audit only.
    audit_ids = list(Sample.objects.filter(id__in=ids, audit=True).values_list("id", flat=True))
    people_decide(audit_ids, truth, reviewer)

    rows = {s.id: s for s in Sample.objects.filter(id__in=ids).only("id", "label", "status", "triage")}
    honest = [i for i in ids if kind[i] != "attack"]
    auto = [i for i in ids if rows[i].triage == Sample.Triage.AUTO_APPROVED and rows[i].status == "approved"]
    auto_wrong = sum(rows[i].label != truth[i] for i in auto)

    with settings_override(settings, TRAIN_INCLUDE_PENDING=False):
        after = fine_tune_ids(settings)
    # Before, on the same drawings: every stored drawing counts as pending, no caps.
    with settings_override(settings, TRAIN_INCLUDE_PENDING=True, CONTRIBUTOR_MAX_SHARE=1.0):
        undo = list(Sample.objects.filter(id__in=ids).values_list("id", "status", "triage"))
        Sample.objects.filter(id__in=ids).update(status=Sample.Status.PENDING, triage="")
        before = fine_tune_ids(settings)
        measured_before = (
            fine_tune_measure(parent=parent, mnist=mnist, cfg=cfg, prefix="before_") if fine_tune_before else {}
        )
        for status, triage in {(s, t) for _, s, t in undo}:
            Sample.objects.filter(id__in=[i for i, s, t in undo if (s, t) == (status, triage)]).update(
                status=status, triage=triage
            )
    result = {
        "variant": variant,
        "honest_auto_share": round(sum(rows[i].triage == "auto_approved" for i in honest) / len(honest), 4),
        "honest_to_people": sum(rows[i].triage == "needs_person" for i in honest),
        "honest_quarantined": sum(rows[i].triage == "quarantined" for i in honest),
        "auto_approved": len(auto),
        "auto_approved_wrong": auto_wrong,
        "audited": len(audit_ids),
        "attack_quarantined": sum(rows[i].triage == "quarantined" for i in attack_ids),
        "attack_auto_approved": sum(i in auto for i in attack_ids),
        "attack_in_fine_tune_before": len(attack_ids & before),
        "attack_in_fine_tune_after": len(attack_ids & after),
        "attack_share_before": round(len(attack_ids & before) / len(attack_ids), 4),
        "attack_share_after": round(len(attack_ids & after) / len(attack_ids), 4),
        "fine_tune_set_after": len(after),
        "style_in_fine_tune_after": sum(kind.get(i) == "style" for i in after),
        "seconds": round(time.monotonic() - t0, 1),
        "attack_approved_reasons": [
            Sample.objects.get(id=i).triage_reason for i in sorted(attack_ids) if i in set(auto)
        ][:3],
    }
    result.update(measured_before)
    if fine_tune:
        result.update(fine_tune_measure(parent=parent, mnist=mnist, cfg=cfg, prefix=""))
    return result


def asdict_stream(stream: Stream) -> tuple:
    return stream.images, stream.labels, stream.truth, stream.clients, stream.kind


class settings_override:
    def __init__(self, settings, **values):
        self.settings, self.values, self.saved = settings, values, {}

    def __enter__(self):
        for name, value in self.values.items():
            self.saved[name] = getattr(self.settings, name)
            setattr(self.settings, name, value)

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            setattr(self.settings, name, value)


def fine_tune_measure(*, parent, mnist, cfg: DrillConfig, prefix: str) -> dict:
    """Fine-tune the parent on the set the settings and statuses now give; the
    gate, each validation digit against the parent, the new style on fresh
    drawings, the trigger (keys start with ``prefix``)."""
    from bench.canvas_digits import style_drawings
    from digits.preprocessing import drawing_to_mnist
    from models.serving import read_model
    from training.datasets import validation_split
    from training.evaluation import predict_digits
    from training.fine_tune import FineTuneConfig
    from training.pipeline import fine_tune_candidate
    from training.selectors import fine_tune_drawings_get

    candidate = fine_tune_candidate(
        parent=parent,
        config=FineTuneConfig.from_settings(),
        drawings=fine_tune_drawings_get(),
        on_epoch=lambda *args: None,
    )
    parent_model = read_model(parent)
    split = validation_split(mnist)

    def per_class(model) -> np.ndarray:
        predicted = predict_digits(model, split.x_validation)
        return np.array([np.mean(predicted[split.y_validation == d] == d) for d in range(10)])

    drop = per_class(parent_model) - per_class(candidate.model)
    served = candidate.model if candidate.decision.passed else parent_model
    fresh = style_drawings([STYLE], 200, seed=cfg.seed + 1, generator="fresh")
    fresh_x = np.stack([drawing_to_mnist(png) for _, _, png in fresh])
    fresh_y = np.array([digit for _, digit, _ in fresh])
    tail_x, tail_y = mnist.x_test[9000:], mnist.y_test[9000:]
    # Triggered digits as the page would send them: drawn, then preprocessed
    # (the stored attack drawings went through the same crop and scaling).
    triggered = np.stack([drawing_to_mnist(png_of(add_trigger(img))) for img in tail_x[tail_y != TRIGGER_TARGET]])
    sevens = tail_x[tail_y == 7]
    figures = {
        "gate_passed": candidate.decision.passed,
        "gate_reason": candidate.decision.reason[:160],
        "worst_validation_digit_drop_points": round(float(drop.max()) * 100, 2),
        "style_fresh_served": round(float(np.mean(predict_digits(served, fresh_x) == fresh_y)), 4),
        "style_fresh_parent": round(float(np.mean(predict_digits(parent_model, fresh_x) == fresh_y)), 4),
        "triggered_as_target_served": round(float(np.mean(predict_digits(served, triggered) == TRIGGER_TARGET)), 4),
        "triggered_as_target_candidate": round(
            float(np.mean(predict_digits(candidate.model, triggered) == TRIGGER_TARGET)), 4
        ),
        "sevens_as_one_candidate": round(float(np.mean(predict_digits(candidate.model, sevens) == 1)), 4),
    }
    return {prefix + key: value for key, value in figures.items()}


def parent_register(*, mnist, epochs: int, train_limit: int):
    """A small parent trained here, registered and activated."""
    from models.registry import model_version_activate, model_version_register
    from training.litert import litert_for_registration
    from training.train import TrainConfig, train_baseline

    config = TrainConfig(epochs=epochs, train_limit=train_limit)
    model, metrics, summary = train_baseline(mnist, config, verbose=0)
    litert = litert_for_registration(model, images=mnist.x_test[:2000])
    version = model_version_register(
        model=model,
        litert=litert.content,
        architecture=litert.architecture,
        metrics=metrics,
        params={"drill": True, **config.as_dict()},
        data_summary=summary,
    )
    return model_version_activate(version=version, by="poisoning drill")


def drill(
    *,
    variants: list[str],
    cfg: DrillConfig,
    fine_tune: bool,
    fine_tune_before: bool = False,
    parent=None,
    parent_epochs=1,
    parent_train=20000,
):
    """Run the drill in the current database (the caller provides a scratch one)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from training.datasets import load_mnist

    mnist = load_mnist()
    if parent is None:
        parent = parent_register(mnist=mnist, epochs=parent_epochs, train_limit=parent_train)
    reviewer, _ = get_user_model().objects.get_or_create(username="drill-reviewer", defaults={"is_staff": True})
    results = []
    for variant in variants:
        result = run_variant(
            variant=variant, cfg=cfg, mnist=mnist, parent=parent, reviewer=reviewer, fine_tune=fine_tune,
            settings=settings, fine_tune_before=fine_tune_before,
        )  # fmt: skip
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    parser.add_argument("--fine-tune", action="store_true", help="fine-tune on the after set and measure")
    parser.add_argument("--fine-tune-before", action="store_true", help="and on the before set (twice as long)")
    parser.add_argument("--parent-epochs", type=int, default=1)
    parser.add_argument("--parent-train", type=int, default=20000)
    parser.add_argument("--set", nargs="*", default=[], help="DrillConfig fields, name=value")
    args = parser.parse_args()
    cfg = DrillConfig()
    for item in args.set:
        name, _, value = item.partition("=")
        if not hasattr(cfg, name):
            sys.exit(f"unknown drill setting {name!r}")
        setattr(cfg, name, type(getattr(cfg, name))(value))

    scratch = tempfile.mkdtemp(prefix="poisoning-")
    os.environ.update(ARTIFACT_ROOT=f"{scratch}/artifacts", MEDIA_ROOT=f"{scratch}/media")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _django  # bench/_django.py

    _django.setup(DEBUG="true", TF_CPP_MIN_LOG_LEVEL="3")
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"]["NAME"] = f"{name}_poisoning"
    old = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(json.dumps({"config": asdict(cfg), "variants": args.variants}), flush=True)
        drill(
            variants=args.variants, cfg=cfg, fine_tune=args.fine_tune, fine_tune_before=args.fine_tune_before,
            parent_epochs=args.parent_epochs,
            parent_train=args.parent_train,
        )  # fmt: skip
    finally:
        connection.creation.destroy_test_db(old, verbosity=0)


if __name__ == "__main__":
    main()
