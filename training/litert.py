"""The LiteRT artifact of a version: exported from Keras and checked against
it before the version is registered (in the worker, where TensorFlow runs).

Web processes serve only this artifact (models/inference.py), so it must
answer as Keras does: on every MNIST test image the same digit, and every
probability within 1e-4.  An export that does not is refused, with the
numbers that failed, and the version is not registered.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass

import numpy as np

from models.inference import INPUT_NAME, PROBABILITIES, SIGNATURE, Predictor, visible_layers
from models.model_input import INPUT_SHAPE, model_input

log = logging.getLogger(__name__)

MAX_PROBABILITY_DIFFERENCE = 1e-4
CHECK_BATCH = 500  # Keras and LiteRT compare this many images at a time (bounded memory)


class ExportRefused(RuntimeError):
    """The LiteRT export does not answer as the Keras model does."""


@dataclass(frozen=True)
class LiteRTArtifact:
    content: bytes
    architecture: list[dict]  # the summary the registry stores and the page draws
    images_checked: int
    argmax_agreement: float  # share of images with the same digit
    max_probability_difference: float

    def as_dict(self) -> dict:
        return {
            "images_checked": self.images_checked,
            "argmax_agreement": self.argmax_agreement,
            "max_probability_difference": self.max_probability_difference,
            "bytes": len(self.content),
        }


def litert_convert(model, *, architecture: list[dict]) -> bytes:
    """A flatbuffer with one signature: the probabilities and the output of
    every layer the page shows, for a batch of any size."""
    import keras
    import tensorflow as tf

    names = visible_layers(architecture)
    if names[-1] != PROBABILITIES:
        raise ExportRefused(f"the last visible layer is {names[-1]!r}, serving expects {PROBABILITIES!r}")
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in names])

    def serve(image):
        return dict(zip(names, probe(image, training=False), strict=True))

    # Keras 3's own route to LiteRT (what keras.export.LiteRTExporter does):
    # an ExportArchive (it tracks the variables) as a SavedModel, converted
    # with builtin ops only, which the plain interpreter runs.
    with tempfile.TemporaryDirectory() as saved_model:
        archive = keras.export.ExportArchive()
        archive.track(probe)
        spec = tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name=INPUT_NAME)
        archive.add_endpoint(SIGNATURE, serve, input_signature=[spec])
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=[SIGNATURE])
        content = converter.convert()
    # Serving looks the signature up by name: check it is there and alone.
    from ai_edge_litert.interpreter import Interpreter

    if list(Interpreter(model_content=content).get_signature_list()) != [SIGNATURE]:
        raise ExportRefused(f"the converter did not produce the {SIGNATURE!r} signature")
    return content


def litert_check(model, content: bytes, *, architecture: list[dict], images: np.ndarray) -> LiteRTArtifact:
    """Compare the export (through the serving code) with Keras on ``images``
    (uint8 (N, 28, 28)); raise ExportRefused unless every digit agrees and
    every probability is within MAX_PROBABILITY_DIFFERENCE."""
    predictor = Predictor(content, layer_names=visible_layers(architecture))
    agree, worst = 0, 0.0
    for start in range(0, len(images), CHECK_BATCH):
        part = images[start : start + CHECK_BATCH]
        expected = np.asarray(model.predict(model_input(part), batch_size=CHECK_BATCH, verbose=0))
        got = predictor.predict_batch(part)
        agree += int((expected.argmax(axis=1) == got.argmax(axis=1)).sum())
        worst = max(worst, float(np.abs(expected - got).max()))
    n = len(images)
    result = LiteRTArtifact(content, architecture, n, agree / n if n else 0.0, worst)
    if not n:
        raise ExportRefused("no images to check the LiteRT export on")
    if agree != n:
        raise ExportRefused(
            f"LiteRT export refused: its digit differs from Keras on {n - agree} of {n} MNIST test images"
        )
    if worst > MAX_PROBABILITY_DIFFERENCE:
        raise ExportRefused(
            f"LiteRT export refused: probabilities differ from Keras by up to {worst:.2e} "
            f"(at most {MAX_PROBABILITY_DIFFERENCE:.0e} allowed) on {n} MNIST test images"
        )
    log.info("LiteRT export agrees with Keras on %d images (max probability difference %.1e)", n, worst)
    return result


def litert_artifact(model, *, architecture: list[dict], images: np.ndarray) -> LiteRTArtifact:
    """Export ``model`` and check it against Keras on ``images``."""
    content = litert_convert(model, architecture=architecture)
    return litert_check(model, content, architecture=architecture, images=images)


def litert_for_registration(model, *, images: np.ndarray) -> LiteRTArtifact:
    """What registering ``model`` needs besides the model: its architecture
    summary and its LiteRT export, checked on ``images`` (the MNIST test set).
    Raises ExportRefused, so nothing is registered, when the export differs."""
    from .network import architecture_summary

    return litert_artifact(model, architecture=architecture_summary(model), images=images)
