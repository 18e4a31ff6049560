import keras
import numpy as np

from training.fitting import smoothed_crossentropy


def test_smoothed_crossentropy_on_labels_equals_keras_smoothing_on_one_hot_targets():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=32).astype(np.float32)
    labels = rng.integers(0, 10, size=32)
    ours = smoothed_crossentropy(0.1)(labels, probabilities)
    keras_loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, reduction=None)
    theirs = keras_loss(keras.ops.one_hot(labels, 10), probabilities)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
