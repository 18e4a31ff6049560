import numpy as np
import pytest

from models.calibration import calibrate


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.4, 3.0])
def test_tempering_probabilities_equals_softmax_of_tempered_logits(temperature):
    logits = np.random.default_rng(1).normal(0, 4, (50, 10))
    assert np.allclose(calibrate(softmax(logits), temperature), softmax(logits / temperature), atol=1e-9)


def test_a_temperature_above_one_softens_and_keeps_the_order():
    p = softmax(np.array([[5.0, 1.0, 0.0, -2.0, 0, 0, 0, 0, 0, 0]]))
    q = calibrate(p, 2.0)
    assert q.max() < p.max() and q.argmax() == p.argmax()
    assert np.argsort(q[0]).tolist() == np.argsort(p[0]).tolist()


def test_a_probability_of_zero_stays_finite():
    p = np.zeros((1, 10))
    p[0, 3] = 1.0
    q = calibrate(p, 1.5)
    assert np.isfinite(q).all() and q.argmax() == 3
