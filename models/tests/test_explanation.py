"""The "why this digit" maps: occlusion through the served predictor's batch
path, checked against a model whose answer is known and against the CNN."""

import numpy as np
import pytest

from models.explanation import explain, log_probabilities, patch_masks
from models.serving import ModelServer


def linear_model(weights: np.ndarray):
    """A real (if tiny) classifier: softmax of one weight image per digit."""

    def predict_batch(x: np.ndarray) -> np.ndarray:
        logits = (x.reshape(len(x), -1) / 255) @ weights.reshape(10, -1).T
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return predict_batch


def test_ink_that_a_digit_rewards_shows_toward_it_and_ink_it_punishes_against_it():
    weights = np.zeros((10, 28, 28))
    weights[7, 4:8, 4:8] = 1.0  # ink in the top-left square is evidence for 7
    weights[7, 20:24, 20:24] = -1.0  # ink in the bottom-right square is evidence against 7
    x = np.zeros((28, 28), np.uint8)
    x[4:8, 4:8] = 255
    x[20:24, 20:24] = 255
    x[12:16, 12:16] = 255  # ink no digit cares about
    why = explain(x, linear_model(weights), patch=4, stride=4)
    assert why.occlusions == 3  # only the squares that hold ink are covered
    seven = why.maps[7]
    assert (seven[4:8, 4:8] > 0).all() and (seven[20:24, 20:24] < 0).all()
    assert np.allclose(seven[12:16, 12:16], 0, atol=1e-9)
    assert np.count_nonzero(why.maps) <= 10 * 3 * 16  # nothing outside the ink
    # Covering the top-left square moves 7's logit by -16 and the others' by 0.
    drop = (
        log_probabilities(why.probabilities[None])[0, 7]
        - log_probabilities(linear_model(weights)(np.where(np.arange(28)[:, None] < 8, 0, x)[None]))[0, 7]
    )
    assert seven[4:8, 4:8].sum() == pytest.approx(drop, rel=1e-6)


def test_a_blank_input_has_nothing_to_explain():
    why = explain(np.zeros((28, 28), np.uint8), linear_model(np.ones((10, 28, 28))))
    assert why.occlusions == 0 and not why.maps.any()


def test_squares_tile_the_whole_input():
    masks = patch_masks(patch=3, stride=3)
    assert masks.any(axis=0).all() and masks.shape == (100, 28, 28)


def test_log_probabilities_tell_two_confident_answers_apart_where_float32_cannot():
    sure = np.array([[1.0] + [1e-9] * 9, [1.0] + [1e-12] * 9], dtype=np.float32)
    assert sure[0, 0] == sure[1, 0] == 1.0
    logp = log_probabilities(sure)
    assert logp[0, 0] < logp[1, 0] < 0


@pytest.mark.django_db
def test_blanking_the_ink_the_map_ranks_highest_hurts_the_answer_more_than_random_ink(active_version, mnist):
    predictor = ModelServer(poll_seconds=0.0).get().predictor
    rng = np.random.default_rng(3)
    wins = 0
    for image in mnist.x_test[:40]:
        why = explain(image, predictor.predict_batch)
        assert np.allclose(why.probabilities, predictor.predict(image).probabilities, atol=1e-5)
        flat = image.reshape(-1)
        ink = np.flatnonzero(flat)
        n = round(0.1 * len(ink))
        top = ink[np.argsort(-why.maps[why.digit].reshape(-1)[ink])[:n]]
        batch = np.repeat(flat[None], 3, axis=0)
        batch[1, top] = 0
        batch[2, rng.choice(ink, n, replace=False)] = 0
        p = np.exp(log_probabilities(predictor.predict_batch(batch.reshape(3, 28, 28)))[:, why.digit])
        wins += (p[0] - p[1]) > (p[0] - p[2])
    assert wins >= 32  # 80 %; bench/explain.py measures it on 200 digits
