"""Small pictures of drawings for staff pages."""

import base64
import io

from PIL import Image

from .preprocessing import pixels_decode


def pixels_data_url(pixels: bytes) -> str:
    """The 28x28 input the model saw, as an inline PNG (a few hundred bytes:
    cheap enough for every row of a list, no extra request)."""
    image = Image.fromarray(pixels_decode(pixels), mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
