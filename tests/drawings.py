"""Drawings made with Pillow, as a browser canvas would send them: for the
tests and the benchmarks (bench/predict.py) alike."""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw


def seven_png(
    *,
    size: int = 280,
    box: tuple[int, int, int, int] = (60, 40, 220, 240),
    width: int = 20,
    transparent: bool = True,
    fmt: str = "PNG",
) -> bytes:
    """A "7" drawn in black inside ``box`` (left, top, right, bottom), on a
    transparent canvas (as a fresh <canvas> is) or on white."""
    image = Image.new("RGBA" if transparent else "RGB", (size, size), (0, 0, 0, 0) if transparent else "white")
    left, top, right, bottom = box
    ImageDraw.Draw(image).line(
        [(left, top), (right, top), ((left + right) / 2, bottom)], fill="black", width=width, joint="curve"
    )
    return png_bytes(image, fmt=fmt)


def png_bytes(image: Image.Image, *, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
