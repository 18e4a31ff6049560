"""Calibrated confidence: temperature scaling applied to probabilities.

Each version stores the temperature ``T`` fitted on its validation split
(``metrics["temperature"]``).  Serving returns softmax probabilities (from
Keras or LiteRT alike), so the temperature is applied to them:
``p ** (1 / T)``, renormalised, which equals ``softmax(logits / T)``.  This
is the one place that does it, for serving and for evaluation.
"""

from __future__ import annotations

import numpy as np

# Below this calibrated confidence the answer is a guess worth asking about.
UNSURE_BELOW = 0.8
_TINY = 1e-12


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (..., 10) tempered by ``temperature`` (1.0 leaves them as they are)."""
    p = np.asarray(probabilities, np.float64)
    if temperature == 1.0:
        return p / p.sum(axis=-1, keepdims=True)
    logp = np.log(np.clip(p, _TINY, 1.0)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=-1, keepdims=True)
