"""A fine-tuning run's stages in order: data, fine-tune, evaluate, gate.

No rows are written here: ``training.services`` claims the run, records its
progress and registers what comes out.  TensorFlow loads inside the
functions, in the worker's pool child that trains.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from models.models import ModelVersion

from .fine_tune import FineTuneConfig
from .fitting import EpochCallback
from .gate import GateDecision
from .selectors import FineTuneDrawings


@dataclass
class Candidate:
    model: object  # keras.Model
    metrics: dict
    params: dict
    data_summary: dict
    decision: GateDecision


def fine_tune_candidate(
    *, parent: ModelVersion, config: FineTuneConfig, drawings: FineTuneDrawings, on_epoch: EpochCallback
) -> Candidate:
    """Fine-tune ``parent`` on MNIST rehearsal plus the drawings, measure the
    candidate and its parent on the same images, and ask the gate."""
    from models.serving import read_model

    from .datasets import load_mnist
    from .evaluation import evaluate
    from .fine_tune import build_training_set, fine_tune, per_digit
    from .gate import promotion_gate
    from .provenance import version_params

    mnist = load_mnist()
    data = build_training_set(
        mnist_x=mnist.x_train,
        mnist_y=mnist.y_train,
        drawings_x=drawings.train.x,
        drawings_y=drawings.train.y,
        config=config,
    )
    limit = config.test_limit or None
    judge = dict(
        mnist_x=mnist.x_test[:limit],
        mnist_y=mnist.y_test[:limit],
        heldout_x=drawings.heldout.x,
        heldout_y=drawings.heldout.y,
    )
    parent_metrics = evaluate(read_model(parent), **judge)
    model = fine_tune(read_model(parent), data, config, on_epoch=on_epoch)
    metrics = evaluate(model, **judge)
    decision = promotion_gate(
        candidate=metrics,
        active=parent_metrics,
        focus_digits=config.focus_digits,
        mnist_tolerance=settings.GATE_MNIST_TOLERANCE,
    )
    metrics["gate"] = decision.as_dict()
    metrics["parent_metrics"] = {k: v for k, v in parent_metrics.items() if not k.endswith("_confusion")}
    summary = {
        **data.summary,
        "new_drawings": drawings.pick.new,
        "drawings_available": drawings.pick.available,
        "heldout_per_digit": per_digit(drawings.heldout.y),
        "mnist_test_count": int(len(judge["mnist_y"])),
    }
    params = version_params(config, kind="fine_tune", parent=parent.version)
    return Candidate(model, metrics, params, summary, decision)
