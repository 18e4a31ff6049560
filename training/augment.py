"""Training-time augmentations of the original app, plus small affine jitter.

Salt-and-pepper noise was the original's best; gaussian noise is an option;
small random shifts, rotations and scaling stand in for drawings that are
never as centred as MNIST.  All run as TensorFlow ops inside tf.data, seeded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AugmentConfig:
    salt_pepper: float = 0.02  # share of pixels flipped to 0 or 1
    gaussian_std: float = 0.0  # 0 disables gaussian noise
    shift: float = 0.1  # fraction of the image size
    rotation: float = 0.04  # fraction of a full turn (about 15 degrees)
    zoom: float = 0.1

    def as_dict(self) -> dict:
        return asdict(self)


def make_augmenter(config: AugmentConfig, seed: int):
    """A function (batch of float images in [0,1], NHWC) -> augmented batch."""
    # Imported here, not at the top: the config is read by processes that
    # fork (the Celery worker's parent, beat), which must never load TensorFlow.
    # The layers are Keras 3's (as the network's); tf only for the noise ops.
    import keras
    import tensorflow as tf

    affine = keras.Sequential(
        [
            keras.layers.RandomRotation(config.rotation, fill_mode="constant", seed=seed),
            keras.layers.RandomZoom(config.zoom, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomTranslation(config.shift, config.shift, fill_mode="constant", seed=seed + 2),
        ]
    )
    rng = tf.random.Generator.from_seed(seed)

    def augment(images: tf.Tensor) -> tf.Tensor:
        x = affine(images, training=True)
        if config.salt_pepper > 0:
            u = rng.uniform(tf.shape(x))
            x = tf.where(u < config.salt_pepper / 2, 0.0, x)
            x = tf.where(u > 1 - config.salt_pepper / 2, 1.0, x)
        if config.gaussian_std > 0:
            x = x + rng.normal(tf.shape(x), stddev=config.gaussian_std)
        return tf.clip_by_value(x, 0.0, 1.0)

    return augment
