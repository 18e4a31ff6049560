"""What the served CNN makes of a drawing, with what it saw on the way.

Activations travel compactly: each layer's output quantised to uint8 between
its own min and max, base64-encoded in (height, width, channel) order.  The
page dequantises them as ``min + byte / 255 * (max - min)``; a 26x26x32 layer
is 29 KB of base64 instead of ~200 KB of JSON floats.  The explanation
(models.explanation) travels the same way: one signed map per digit, as
uint8 around 128 with its own scale.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from django.conf import settings

from models.calibration import UNSURE_BELOW, calibrate
from models.explanation import PATCH, Explanation, explain
from models.inference import Prediction
from models.models import ModelVersion
from models.serving import ServedModel, model_server, version_served_get

from .metrics import record_prediction
from .preprocessing import drawing_to_mnist


@dataclass(frozen=True)
class DrawingPrediction:
    pixels: np.ndarray  # (28, 28) uint8: the input the model saw
    prediction: Prediction
    served: ServedModel
    explanation: Explanation | None = None

    @cached_property  # read three times for one answer
    def calibrated(self) -> np.ndarray:
        """The probabilities tempered with the version's temperature: a
        confidence of 0.8 is right about 80% of the time."""
        return calibrate(self.prediction.probabilities, self.served.temperature)

    @property
    def unsure(self) -> bool:
        return bool(self.calibrated.max() < UNSURE_BELOW)


class UnknownLayer(ValueError):
    """Activations asked for a layer the answering version does not show."""

    code = "unknown_layer"


def drawing_predict(
    *,
    image: bytes,
    activations: bool | list[str] = False,
    explanation: bool = False,
    version: ModelVersion | None = None,
) -> DrawingPrediction:
    """Preprocess a PNG or JPEG drawing and ask the served model about it,
    optionally with the output of every visible layer (``True``) or of the
    named ones (the page asks only for those on screen), and why it chose its
    digit.

    Raises preprocessing's DrawingError for a drawing that cannot be used,
    UnknownLayer for a layer name the version does not have and
    models.serving.NoModelError when no version is served."""
    pixels = drawing_to_mnist(image, max_pixels=settings.DIGITS_MAX_PIXELS)
    # One version answers everything below: the served one, or the one staff picked.
    served = version_served_get(version=version) if version else model_server().get()
    prediction = served.predictor.predict(pixels, activations=bool(activations))
    if isinstance(activations, list) and prediction.activations is not None:
        unknown = sorted(set(activations) - prediction.activations.keys())
        if unknown:
            known = ", ".join(prediction.activations)
            raise UnknownLayer(f"v{served.version} has no visible layer {', '.join(unknown)} (it has {known}).")
        prediction.activations = {n: v for n, v in prediction.activations.items() if n in activations}
    if version is None:  # a staff comparison is not served traffic
        record_prediction(version=served.version, digit=prediction.digit)
    why = explain(pixels, served.predictor.predict_batch) if explanation else None
    return DrawingPrediction(pixels, prediction, served, why)


def layer_quantise(values: np.ndarray) -> dict:
    """One layer's output as uint8 bytes between its min and max, base64."""
    low, high = float(values.min()), float(values.max())
    span = high - low
    if span > 0:
        scaled = values - np.float32(low)  # one temporary, scaled in place
        scaled *= np.float32(255.0 / span)
        scaled += np.float32(0.5)
        data = scaled.astype(np.uint8)
    else:
        data = np.zeros(values.shape, dtype=np.uint8)
    return {
        "shape": list(values.shape),
        "min": low,
        "max": high,
        "data": base64.b64encode(data.tobytes()).decode("ascii"),
    }


def activations_encode(result: DrawingPrediction) -> list[dict]:
    """Every visible layer in model order: name, type and its quantised output."""
    types = {layer["name"]: layer["type"] for layer in result.served.architecture}
    acts = result.prediction.activations or {}
    return [{"name": name, "type": types.get(name, ""), **layer_quantise(values)} for name, values in acts.items()]


def explanation_encode(explanation: Explanation) -> dict:
    """Ten signed maps, one per digit, each as 784 uint8 (row by row) around
    128 with its own scale: value = (byte - 128) / 127 * scale."""
    maps = []
    for digit, values in enumerate(explanation.maps):
        scale = float(np.abs(values).max())
        data = np.full(values.shape, 128, dtype=np.uint8)
        if scale > 0:
            data = np.rint(128 + values * (127.0 / scale)).astype(np.uint8)
        maps.append({"digit": digit, "scale": scale, "data": base64.b64encode(data.tobytes()).decode("ascii")})
    return {"method": "occlusion", "patch": PATCH, "maps": maps}
