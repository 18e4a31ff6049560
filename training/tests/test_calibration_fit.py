import numpy as np

from models.calibration import calibrate
from training.evaluation import expected_calibration_error, fit_temperature


def overconfident(n: int, temperature: float, seed: int = 0):
    """Probabilities from logits that a softmax at ``temperature`` would
    calibrate: labels drawn from the calibrated distribution."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, 10))
    true = np.exp(logits / temperature)
    true /= true.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(10, p=row) for row in true])
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True), y


def test_the_fitted_temperature_recovers_the_one_that_calibrates():
    p, y = overconfident(4000, 2.0)
    t = fit_temperature(p, y)
    assert 1.8 < t < 2.2
    assert expected_calibration_error(calibrate(p, t), y) < expected_calibration_error(p, y) / 2


def test_ece_is_zero_for_a_model_whose_confidence_is_its_accuracy():
    p = np.full((10, 10), 0.0)
    p[:, 0] = 1.0
    y = np.zeros(10, int)
    assert expected_calibration_error(p, y) == 0.0
    y[:3] = 1  # 70% right at 100% confidence
    assert abs(expected_calibration_error(p, y) - 0.3) < 1e-9
