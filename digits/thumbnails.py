"""Small pictures of drawings for staff pages."""

import base64
import io

import numpy as np
from PIL import Image


def pixels_data_url(pixels: bytes) -> str:
    """The 28x28 input the model saw, as an inline PNG (a few hundred bytes:
    cheap enough for every row of a list, no extra request)."""
    image = Image.fromarray(np.frombuffer(bytes(pixels), dtype=np.uint8).reshape(28, 28), mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
