from types import SimpleNamespace

import keras
import numpy as np
import pytest

from training.fitting import fit, smoothed_crossentropy
from training.network import build_cnn


def test_smoothed_crossentropy_on_labels_equals_keras_smoothing_on_one_hot_targets():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=32).astype(np.float32)
    labels = rng.integers(0, 10, size=32)
    ours = smoothed_crossentropy(0.1)(labels, probabilities)
    keras_loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, reduction=None)
    theirs = keras_loss(keras.ops.one_hot(labels, 10), probabilities)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


@pytest.mark.parametrize("validated", [False, True])
def test_with_ema_the_model_ends_on_the_averaged_weights_not_the_last_steps(mnist, validated):
    """A moving average with momentum 0.999 over 32 steps is still almost the
    weights after the first step: the model fit leaves must be that, far
    closer to where it started than the same run without averaging ends."""
    x, y = mnist.x_train[:512], mnist.y_train[:512]
    validation = (mnist.x_train[512:768], mnist.y_train[512:768]) if validated else None
    moved = {}
    for ema in (0.0, 0.999):
        keras.utils.set_random_seed(0)
        model = build_cnn()
        start = [w.copy() for w in model.get_weights()]
        config = SimpleNamespace(epochs=2, batch_size=32, learning_rate=1e-3, seed=0, augment=None, ema_momentum=ema)
        fit(model, x, y, config, validation=validation)
        moved[ema] = np.sqrt(sum(np.sum((w - s) ** 2) for w, s in zip(model.get_weights(), start, strict=True)))
    assert moved[0.999] < 0.5 * moved[0.0]
