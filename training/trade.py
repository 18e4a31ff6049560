"""The trade a candidate makes: the MNIST validation images it newly
misreads against the held-out drawings it newly reads right, and which of
those drawings sit nearest each lost image in the candidate's embedding (the
layer before the output).  Those are the drawings of the new style that
pulled the boundary over the lost images.

Computed once in the worker, when the candidate is judged
(training.pipeline), and stored in its metrics (``metrics["trade"]``): the
/models/ page only reads it, and a web process never loads TensorFlow."""

from __future__ import annotations

import numpy as np

from models.model_input import model_input

NEIGHBOURS = 3  # held-out drawings shown beside each lost image
MAX_MISREAD = 200  # lost images kept (a candidate that loses more is refused anyway)


def embed(model, x: np.ndarray) -> np.ndarray:
    """The activations of the layer before the output (the dense layer's
    output through dropout, which predicts as the identity), one row an image."""
    import keras

    features = keras.Model(model.inputs, model.layers[-2].output)
    return np.asarray(features.predict(model_input(x), batch_size=1024, verbose=0)).reshape(len(x), -1)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def trade_evidence(
    *,
    model,
    validation_x: np.ndarray,
    y_validation: np.ndarray,
    candidate_validation: np.ndarray,
    parent_validation: np.ndarray,
    heldout_x: np.ndarray,
    y_heldout: np.ndarray,
    heldout_ids: np.ndarray,
    candidate_heldout: np.ndarray,
    parent_heldout: np.ndarray,
) -> dict | None:
    """What the candidate gave (validation images its parent read right and
    it reads wrong, by index) for what it got (held-out drawings, by sample
    id, its parent read wrong and it reads right), with each lost image's
    nearest gained drawings by cosine similarity in ``model``'s embedding.
    None when it lost nothing or gained nothing: there is no trade."""
    y_validation, y_heldout = np.asarray(y_validation), np.asarray(y_heldout)
    lost = np.flatnonzero((parent_validation == y_validation) & (candidate_validation != y_validation))[:MAX_MISREAD]
    gained = np.flatnonzero((parent_heldout != y_heldout) & (candidate_heldout == y_heldout))
    if not len(lost) or not len(gained):
        return None
    similarity = _unit(embed(model, validation_x[lost])) @ _unit(embed(model, heldout_x[gained])).T
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :NEIGHBOURS]
    return {
        "layer": model.layers[-2].name,
        "gained": [int(heldout_ids[j]) for j in gained],
        "misread": [
            {
                "index": int(i),
                "true": int(y_validation[i]),
                "predicted": int(candidate_validation[i]),
                "neighbours": [int(heldout_ids[gained[j]]) for j in row],
                "similarity": [round(float(similarity[k, j]), 4) for j in row],
            }
            for k, (i, row) in enumerate(zip(lost, nearest, strict=True))
        ],
    }
