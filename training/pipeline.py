"""A fine-tuning run's stages in order: data, fine-tune, evaluate, gate,
export.

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
from .litert import LiteRTArtifact
from .selectors import FineTuneDrawings


@dataclass
class Candidate:
    model: object  # keras.Model
    metrics: dict
    params: dict
    data_summary: dict
    decision: GateDecision
    litert: LiteRTArtifact  # checked against the model: what web processes will serve


def fine_tune_candidate(
    *,
    parent: ModelVersion,
    config: FineTuneConfig,
    drawings: FineTuneDrawings,
    on_epoch: EpochCallback,
    lineage_best_validation: float | None = None,
) -> Candidate:
    """Fine-tune ``parent`` on MNIST rehearsal (MNIST train less the
    validation split) plus the drawings; judge the candidate and its parent
    on the same images (validation and held-out drawings decide; the test set
    is reported); ask the gate; weigh the trade (training.trade); export the candidate to LiteRT, checked on
    the test images it was judged on (ExportRefused: nothing to register)."""
    from models.serving import read_model

    from .datasets import load_mnist, validation_split
    from .evaluation import judge, judgement_metrics
    from .fine_tune import build_training_set, fine_tune, per_digit
    from .gate import gate_judgements
    from .litert import litert_for_registration
    from .provenance import version_params
    from .trade import trade_evidence

    mnist = load_mnist()
    split = validation_split(mnist)
    limit = config.test_limit or None
    images = dict(validation_x=split.x_validation, test_x=mnist.x_test[:limit], heldout_x=drawings.heldout.x)
    labels = dict(y_validation=split.y_validation, y_test=mnist.y_test[:limit], y_heldout=drawings.heldout.y)

    data = build_training_set(
        mnist_x=split.x_train,
        mnist_y=split.y_train,
        drawings_x=drawings.train.x,
        drawings_y=drawings.train.y,
        config=config,
    )
    summary = {
        **data.summary,
        "new_drawings": drawings.pick.new,
        "drawings_available": drawings.pick.available,
        "heldout_per_digit": per_digit(drawings.heldout.y),
        "validation_count": int(len(split.y_validation)),
        "mnist_test_count": int(len(labels["y_test"])),
    }
    model = fine_tune(read_model(parent), data, config, on_epoch=on_epoch)

    candidate, parent_judgement = judge(model, **images), judge(read_model(parent), **images)
    metrics = judgement_metrics(candidate, **labels)
    parent_metrics = judgement_metrics(parent_judgement, **labels)

    decision = gate_judgements(
        candidate,
        parent_judgement,
        **labels,
        focus_digits=config.focus_digits,
        lineage_best_validation=lineage_best_validation,
        lineage_tolerance=settings.GATE_LINEAGE_TOLERANCE,
        per_class_floor=settings.GATE_PER_CLASS_FLOOR,
    )
    metrics["gate"] = decision.as_dict()
    # What the candidate gave for what it got, for staff to weigh (/models/).
    metrics["trade"] = trade_evidence(
        model=model,
        validation_x=images["validation_x"],
        y_validation=labels["y_validation"],
        candidate_validation=candidate.validation.argmax(axis=1),
        parent_validation=parent_judgement.validation.argmax(axis=1),
        heldout_x=images["heldout_x"],
        y_heldout=labels["y_heldout"],
        heldout_ids=drawings.heldout.ids,
        candidate_heldout=candidate.heldout,
        parent_heldout=parent_judgement.heldout,
    )
    metrics["parent_metrics"] = {k: v for k, v in parent_metrics.items() if not k.endswith("_confusion")}

    litert = litert_for_registration(model, images=images["test_x"])
    params = version_params(config, kind="fine_tune", parent=parent.version, method=config.method)
    return Candidate(model, metrics, params, summary, decision, litert)
