"""The CNN, in one place, and the batch normalisation it trains with.

The family of the original app's best model: two conv + max-pool blocks, a
dense head with dropout 0.5.  Layers are named so the visualisation can
address them; about 200k parameters keeps CPU inference well under a
millisecond.

The baseline trains it with batch normalisation (``build_cnn(batchnorm=True)``):
each convolution has no bias and is followed by a batch normalisation; it
tolerates a higher learning rate and generalises better in the same few
epochs.  At inference a batch normalisation is an affine map per channel, so
it folds into the convolution before it:

    W' = W * g / sqrt(var + eps),  b' = beta - mean * g / sqrt(var + eps)

``fold_batchnorm`` copies the folded weights into the plain network, so
serving, the LiteRT export, the feature maps and fine-tuning never see a
batch normalisation.

On TensorFlow the layer calls the fused kernel: Keras 3's own
BatchNormalization computes moments op by op, which made an epoch on this
machine's CPU about 70% slower than the plain network; the fused kernel
costs about 20%.  Other backends get Keras's layer, which keeps the same
four weights.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
DROPOUT = 0.5
DENSE_UNITS = 128
CONVS = (("conv1", 32), ("conv2", 32), ("conv3", 64), ("conv4", 64))
POOL_AFTER = {"conv2": "pool1", "conv4": "pool2"}
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


def build_cnn(
    input_shape: tuple[int, int, int] = INPUT_SHAPE, num_classes: int = NUM_CLASSES, *, batchnorm: bool = False
) -> keras.Model:
    """The served network; with ``batchnorm``, conv (no bias) -> batch
    normalisation -> ReLU instead of conv with ReLU, the layers that fold
    keeping the served network's names."""
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for name, filters in CONVS:
        if batchnorm:
            x = layers.Conv2D(filters, 3, use_bias=False, name=name)(x)
            x = _batchnorm(f"{name}_bn")(x)
            x = layers.ReLU(name=f"{name}_relu")(x)
        else:
            x = layers.Conv2D(filters, 3, activation="relu", name=name)(x)
        if name in POOL_AFTER:
            x = layers.MaxPooling2D(2, name=POOL_AFTER[name])(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(DENSE_UNITS, activation="relu", name="dense")(x)
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name="digitlab_cnn_bn" if batchnorm else "digitlab_cnn")


def architecture_summary(model: keras.Model) -> list[dict]:
    """Layers in order with their output shapes and parameter counts."""
    return [
        {
            "name": layer.name,
            "type": type(layer).__name__,
            "output_shape": list(layer.output.shape[1:]),
            "params": int(layer.count_params()),
        }
        for layer in model.layers
    ]


class FusedBatchNorm(layers.Layer):
    """Batch normalisation over the channels of NHWC maps with TensorFlow's
    fused kernel; the same weights, momentum and epsilon as Keras's layer."""

    def build(self, input_shape):
        channels = (input_shape[-1],)
        self.gamma = self.add_weight(shape=channels, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=channels, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=channels, initializer="zeros", trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(
            shape=channels, initializer="ones", trainable=False, name="moving_variance"
        )

    def call(self, x, training=None):
        import tensorflow as tf

        if not training:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, self.gamma, self.beta, self.moving_mean, self.moving_variance, epsilon=BN_EPSILON, is_training=False
            )
            return y
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, self.gamma, self.beta, epsilon=BN_EPSILON)
        self.moving_mean.assign(BN_MOMENTUM * self.moving_mean + (1 - BN_MOMENTUM) * mean)
        self.moving_variance.assign(BN_MOMENTUM * self.moving_variance + (1 - BN_MOMENTUM) * variance)
        return y


def _batchnorm(name: str) -> layers.Layer:
    if keras.backend.backend() == "tensorflow":
        return FusedBatchNorm(name=name)
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def batchnorm_statistics_recompute(model: keras.Model, batches) -> None:
    """Set each batch normalisation's statistics to the exact mean and
    variance of its input over ``batches`` (images from the training
    distribution), layer after layer, each pass seeing the layers before it
    already recomputed.

    The moving averages lag the weights by about 1 / (1 - BN_MOMENTUM) = 100
    steps: far off after a short run (a tiny test model read 17% of MNIST
    with them), and still behind at the end of a long one."""
    from keras import ops

    images = np.concatenate([np.asarray(batches[i][0]) for i in range(len(batches))])  # augmented once
    for name, _ in CONVS:
        layer = model.get_layer(f"{name}_bn")
        # Moments reduced by the backend: NumPy's sums over leading axes of
        # these maps were slower than the convolutions themselves.
        maps = layer.input
        moments_of = keras.Model(model.input, [ops.mean(maps, axis=(0, 1, 2)), ops.mean(maps**2, axis=(0, 1, 2))])
        chunks = [moments_of.predict_on_batch(images[i : i + 1000]) for i in range(0, len(images), 1000)]
        weights = [min(1000, len(images) - i) for i in range(0, len(images), 1000)]
        mean = np.average([np.asarray(m, np.float64) for m, _ in chunks], axis=0, weights=weights)
        square = np.average([np.asarray(s, np.float64) for _, s in chunks], axis=0, weights=weights)
        gamma, beta, _, _ = layer.get_weights()
        layer.set_weights([gamma, beta, mean.astype(np.float32), (square - mean**2).astype(np.float32)])


def fold_batchnorm(model: keras.Model) -> keras.Model:
    """The plain served network computing what ``model`` (built with
    ``batchnorm``) computes at inference, batch normalisations folded into
    the convolutions' kernels and biases."""
    plain = build_cnn(model.input_shape[1:], model.output_shape[-1])
    for name, _ in CONVS:
        (kernel,) = model.get_layer(name).get_weights()
        gamma, beta, mean, variance = (np.asarray(w, np.float64) for w in model.get_layer(f"{name}_bn").get_weights())
        scale = gamma / np.sqrt(variance + BN_EPSILON)
        plain.get_layer(name).set_weights(
            [(kernel * scale).astype(np.float32), (beta - mean * scale).astype(np.float32)]
        )
    for name in ("dense", "output"):
        plain.get_layer(name).set_weights(model.get_layer(name).get_weights())
    return plain
