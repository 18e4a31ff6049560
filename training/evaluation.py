"""The evaluation stage: a model's answers on the images that judge it, and
what a version records of them: accuracy, per-digit accuracy, confusion
matrices and calibration on MNIST validation (decides) and test (reported),
and on held-out drawings (decide)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.calibration import calibrate
from models.model_input import model_input


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Rows are the true digit, columns the predicted one."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return m


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, prefix: str) -> dict:
    """``{prefix}_accuracy``, ``{prefix}_per_class`` (digit -> accuracy or None),
    ``{prefix}_confusion`` and ``{prefix}_count``."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    cm = confusion_matrix(y_true, y_pred)
    totals = cm.sum(axis=1)
    per_class = {str(d): (float(cm[d, d] / totals[d]) if totals[d] else None) for d in range(10)}
    accuracy = float((y_true == y_pred).mean()) if len(y_true) else None
    return {
        f"{prefix}_accuracy": accuracy,
        f"{prefix}_per_class": per_class,
        f"{prefix}_confusion": cm.tolist(),
        f"{prefix}_count": int(len(y_true)),
        f"{prefix}_7_as_9": int(cm[7, 9]),
        f"{prefix}_9_as_7": int(cm[9, 7]),
    }


def evaluate_mnist(model, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    return classification_metrics(y_test, predict_digits(model, x_test), "mnist")


def evaluate(model, *, mnist_x: np.ndarray, mnist_y: np.ndarray, heldout_x: np.ndarray, heldout_y: np.ndarray) -> dict:
    """MNIST test and held-out drawings: accuracy, per digit, confusion, 7-vs-9."""
    return {
        **evaluate_mnist(model, mnist_x, mnist_y),
        **classification_metrics(heldout_y, predict_digits(model, heldout_x), "heldout"),
    }


def predict_probabilities(model, x: np.ndarray) -> np.ndarray:
    """Softmax outputs (N, 10) for uint8 images (N, 28, 28)."""
    if not len(x):
        return np.zeros((0, 10), np.float32)
    return np.asarray(model.predict(model_input(x), batch_size=1024, verbose=0))


def predict_digits(model, x: np.ndarray) -> np.ndarray:
    return predict_probabilities(model, x).argmax(axis=1) if len(x) else np.zeros((0,), np.int64)


def expected_calibration_error(probabilities: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE (Guo et al., 2017): the gap between confidence and accuracy,
    averaged over equal-width confidence bins weighted by their share."""
    confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    correct = predicted == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def fit_temperature(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of
    ``y_true`` (a fine grid over 0.25..8: one parameter, no optimiser needed)."""
    y = np.asarray(y_true, np.int64)
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 241))
    nll = [-np.log(calibrate(probabilities, t)[np.arange(len(y)), y] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def calibration_metrics(*, validation: np.ndarray, y_validation, test: np.ndarray, y_test) -> dict:
    """Temperature fitted on validation probabilities; ECE on the test set
    before and after (reported only: the test set decides nothing)."""
    temperature = fit_temperature(validation, y_validation)
    return {
        "temperature": temperature,
        "mnist_ece_raw": expected_calibration_error(test, y_test),
        "mnist_ece": expected_calibration_error(calibrate(test, temperature), y_test),
        "validation_ece": expected_calibration_error(calibrate(validation, temperature), y_validation),
    }


def version_metrics(*, validation: np.ndarray, y_validation, test: np.ndarray, y_test) -> dict:
    """What a version records about MNIST: validation (decides) and test
    (reported), accuracy per digit, confusions, the fitted temperature and
    the calibration error."""
    return {
        **classification_metrics(y_validation, validation.argmax(axis=1), "validation"),
        **classification_metrics(y_test, test.argmax(axis=1), "mnist"),
        **calibration_metrics(validation=validation, y_validation=y_validation, test=test, y_test=y_test),
    }


@dataclass
class Judgement:
    """One model's answers on the images that decide (validation, held-out
    drawings) and on the MNIST test set that is only reported."""

    validation: np.ndarray  # (N, 10) probabilities
    test: np.ndarray
    heldout: np.ndarray  # predicted digits


def judge(model, *, validation_x: np.ndarray, test_x: np.ndarray, heldout_x: np.ndarray) -> Judgement:
    return Judgement(
        validation=predict_probabilities(model, validation_x),
        test=predict_probabilities(model, test_x),
        heldout=predict_digits(model, heldout_x),
    )


def judgement_metrics(judgement: Judgement, *, y_validation, y_test, y_heldout) -> dict:
    """The metrics a version records (``version_metrics``), plus the held-out drawings."""
    return {
        **version_metrics(
            validation=judgement.validation, y_validation=y_validation, test=judgement.test, y_test=y_test
        ),
        **classification_metrics(y_heldout, judgement.heldout, "heldout"),
    }
