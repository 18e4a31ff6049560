"""What the served CNN makes of a drawing, with what it saw on the way.

Activations travel compactly: each layer's output quantised to uint8 between
its own min and max, base64-encoded in (height, width, channel) order.  The
page dequantises them as ``min + byte / 255 * (max - min)``; a 26x26x32 layer
is 29 KB of base64 instead of ~200 KB of JSON floats.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from models.inference import Prediction
from models.serving import ServedModel, model_server

from .preprocessing import drawing_to_mnist


@dataclass(frozen=True)
class DrawingPrediction:
    pixels: np.ndarray  # (28, 28) uint8: the input the model saw
    prediction: Prediction
    served: ServedModel


def drawing_predict(*, image: bytes, activations: bool = False) -> DrawingPrediction:
    """Preprocess a PNG or JPEG drawing and ask the served model about it.

    Raises preprocessing's DrawingError for a drawing that cannot be used and
    models.serving.NoModelError when no version is served."""
    pixels = drawing_to_mnist(image, max_pixels=settings.DIGITS_MAX_PIXELS)
    served = model_server().get()
    return DrawingPrediction(pixels, served.predictor.predict(pixels, activations=activations), served)


def layer_quantise(values: np.ndarray) -> dict:
    """One layer's output as uint8 bytes between its min and max, base64."""
    low, high = float(values.min()), float(values.max())
    span = high - low
    if span > 0:
        scaled = (values - low) * (255.0 / span) + 0.5
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
