import keras
import numpy as np
import pytest

from models.model_input import model_input
from training.batches import ImageBatches
from training.fitting import fit
from training.network import (
    BN_EPSILON,
    BN_MOMENTUM,
    FusedBatchNorm,
    batchnorm_statistics_recompute,
    build_cnn,
    fold_batchnorm,
)
from training.train import TrainConfig, train_baseline


def test_the_fused_layer_computes_what_keras_batch_normalization_computes():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(16, 6, 6, 4)).astype(np.float32)
    fused, reference = FusedBatchNorm(), keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)
    fused.build(x.shape), reference.build(x.shape)
    weights = [rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)]
    fused.set_weights(weights), reference.set_weights(weights)
    np.testing.assert_allclose(fused(x, training=False), reference(x, training=False), atol=1e-5)
    np.testing.assert_allclose(fused(x, training=True), reference(x, training=True), atol=1e-4)
    # Both moved their statistics toward this batch's, by the same step.
    for ours, theirs in zip(fused.get_weights()[2:], reference.get_weights()[2:], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3)


def test_folding_keeps_the_served_network_and_its_layer_names():
    folded = fold_batchnorm(build_cnn(batchnorm=True))
    served = build_cnn()
    assert [(layer.name, type(layer)) for layer in folded.layers] == [
        (layer.name, type(layer)) for layer in served.layers
    ]
    assert folded.count_params() == served.count_params()


@pytest.mark.slow
def test_the_folded_network_gives_the_trained_batchnorm_networks_probabilities(mnist):
    model = build_cnn(batchnorm=True)
    config = TrainConfig(epochs=1, batch_size=64, learning_rate=5e-3, warmup_epochs=0.2, batchnorm=True)
    fit(model, mnist.x_train[:4000], mnist.y_train[:4000], config, warmup_epochs=config.warmup_epochs)
    # Trained statistics are far from the initial ones, so the fold has something to get wrong.
    assert np.abs(model.get_layer("conv3_bn").get_weights()[2]).max() > 0.05
    x = model_input(mnist.x_test[:2000])
    with_bn = model.predict(x, verbose=0)
    folded = fold_batchnorm(model).predict(x, verbose=0)
    assert np.abs(with_bn - folded).max() < 1e-5
    assert (with_bn.argmax(axis=1) == folded.argmax(axis=1)).all()


@pytest.mark.slow
def test_recomputed_statistics_are_those_of_the_images_given(mnist):
    model = build_cnn(batchnorm=True)
    images = mnist.x_train[:1024]
    batches = ImageBatches(images, mnist.y_train[:1024], batch_size=256, seed=1, augment=None)
    batchnorm_statistics_recompute(model, batches)
    # conv1 has no bias, so its batch normalisation sees exactly these maps.
    maps = keras.Model(model.input, model.get_layer("conv1").output).predict(model_input(images), verbose=0)
    maps = maps.astype(np.float64)  # float32 sums over 700k values drift by 0.5%
    mean, variance = model.get_layer("conv1_bn").get_weights()[2:]
    np.testing.assert_allclose(mean, maps.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(variance, maps.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-6)


@pytest.mark.slow
def test_a_short_batchnorm_run_still_reads_digits_once_its_statistics_are_recomputed(mnist):
    # 47 steps: the moving averages alone gave a model that read 17% of MNIST.
    config = TrainConfig(epochs=1, train_limit=3000, test_limit=1000, learning_rate=3e-3, batch_size=64, batchnorm=True)
    _, metrics, _ = train_baseline(mnist, config, verbose=0)
    assert metrics["validation_accuracy"] > 0.5
