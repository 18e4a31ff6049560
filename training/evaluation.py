"""The evaluation stage: accuracy, per-digit accuracy and confusion matrices
of a model on MNIST test images and on held-out drawings."""

from __future__ import annotations

import numpy as np

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


def predict_digits(model, x: np.ndarray) -> np.ndarray:
    """The digit ``model`` reads in each uint8 (N, 28, 28) image."""
    if not len(x):
        return np.zeros((0,), np.int64)
    return model.predict(model_input(x), batch_size=1024, verbose=0).argmax(axis=1)


def evaluate_mnist(model, x_test: np.ndarray, y_test: np.ndarray) -> dict:
    return classification_metrics(y_test, predict_digits(model, x_test), "mnist")


def evaluate(model, *, mnist_x: np.ndarray, mnist_y: np.ndarray, heldout_x: np.ndarray, heldout_y: np.ndarray) -> dict:
    """MNIST test and held-out drawings: accuracy, per digit, confusion, 7-vs-9."""
    return {
        **evaluate_mnist(model, mnist_x, mnist_y),
        **classification_metrics(heldout_y, predict_digits(model, heldout_x), "heldout"),
    }
