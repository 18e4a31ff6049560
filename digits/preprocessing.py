"""From a drawing to the 28x28 array the CNN sees, the way MNIST was made.

One function, ``drawing_to_mnist``, is used by prediction and by stored
samples (their ``pixels`` are its output, which is what retraining learns
from), so serving and training cannot drift apart:

1. decode a PNG or JPEG (nothing else), refusing images over a pixel limit
   before their pixels are decoded (decompression bombs); a canvas PNG
   through libspng, and only the part of it that may hold ink goes further;
2. grayscale, transparent areas composited on white;
3. ink white on black, as in MNIST (a dark drawing on a light background is
   inverted; one that is already light on dark is kept);
4. crop to the ink's bounding box;
5. scale to fit a 20x20 box, keeping the aspect ratio, anti-aliased;
6. place in a 28x28 frame so the centre of mass sits at the centre.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import zlib

import numpy as np
import pyspng
from PIL import Image, ImageChops, ImageOps

MNIST_SIZE = 28
BOX_SIZE = 20  # MNIST digits fit a 20x20 box inside the 28x28 frame
INK_THRESHOLD = 64  # 0-255: fainter than this is paper (JPEG noise, anti-aliasing halos)
# A drawing whose ink fits in a box smaller than this share of the image's
# shorter side is a dot or a slip, not a digit.
MIN_INK_SHARE = 0.1
DEFAULT_MAX_PIXELS = 1024 * 1024
# Scaling pads the ink by a margin proportional to its longer side, on both
# axes, so a thin strip (1 x 1,000,000 pixels is within the pixel limit, and
# a few hundred bytes as a PNG) would need terabytes; the longer side is
# capped as well.
MAX_SIDE = 4096
FORMATS = ("PNG", "JPEG")
DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg);base64,", re.IGNORECASE)


class DrawingError(ValueError):
    """A drawing that cannot be used; the message is for the person who sent it."""

    code = "bad_image"


class UnreadableImage(DrawingError):
    code = "bad_image"


class ImageTooLarge(DrawingError):
    code = "too_many_pixels"


class BlankDrawing(DrawingError):
    code = "blank"


def data_url_decode(url: str) -> bytes:
    """The bytes of a ``data:image/png;base64,...`` (or JPEG) URL."""
    match = DATA_URL.match(url)
    if not match:
        raise UnreadableImage("The image must be a data URL: data:image/png;base64,...")
    try:
        return base64.b64decode(url[match.end() :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableImage("The image's base64 cannot be decoded.") from exc


def _size_check(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(f"The image has {width}x{height} pixels; at most {max_pixels} pixels are accepted.")
    if max(width, height) > MAX_SIDE:
        raise ImageTooLarge(f"The image is {width}x{height} pixels; at most {MAX_SIDE} pixels on a side are accepted.")
    if width < 1 or height < 1:
        raise UnreadableImage("The image is empty.")


def _opened(data: bytes, max_pixels: int) -> Image.Image:
    """The image's header, checked against the pixel limits before any pixel is decoded."""
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:  # Pillow's own, far higher limit
        raise ImageTooLarge(f"The image has more than {max_pixels} pixels.") from exc
    except Exception as exc:  # Pillow raises several kinds (UnidentifiedImageError, SyntaxError, ...)
        raise UnreadableImage("The image is not a PNG or JPEG.") from exc
    _size_check(*image.size, max_pixels)
    return image


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# 8-bit PNG colour types whose pixels libspng gives exactly as Pillow would,
# as the Pillow mode: grey, RGB, RGBA.
_SPNG_MODES = {0: "L", 2: "RGB", 6: "RGBA"}


def _canvas_png(data: bytes) -> tuple[str, int, int] | None:
    """(mode, width, height) of an 8-bit grey, RGB or RGBA PNG without a
    transparency chunk, read from its chunks before the pixels (a canvas
    export is one); None for anything else, which Pillow opens."""
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    mode = _SPNG_MODES.get(colour)
    if mode is None or depth != 8:
        return None
    position = 8  # IHDR, then every chunk before the pixels, checked as Pillow checks them
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind, end = data[position + 4 : position + 8], position + 8 + length
        if kind == b"IDAT":
            return mode, width, height
        if kind == b"tRNS" or end + 4 > len(data):  # Pillow composites tRNS; a cut chunk is Pillow's to refuse
            return None
        if zlib.crc32(data[position + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
            return None  # Pillow refuses it with its own message
        position = end + 4
    return None


def _spng_pixels(data: bytes, mode: str, width: int, height: int) -> np.ndarray | None:
    """A canvas PNG's pixels through libspng (pyspng): the same bytes as
    Pillow's decoder, three times faster, which matters because inflating
    280x280 RGBA is most of what preprocessing costs.  None when libspng
    refuses it (Pillow then says what is wrong)."""
    try:
        pixels = pyspng.load(data)
    except Exception:
        return None
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    channels = len(mode)  # "L", "RGB", "RGBA"
    shape = (height, width, channels) if channels > 1 else (height, width)
    return pixels if pixels.dtype == np.uint8 and pixels.shape == shape else None


def _paper_box(pixels: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) around every pixel that may hold ink, when
    the paper is plain (opaque white or fully transparent, as a canvas is)
    and the ink keeps off the edge: outside the box darkness is exactly 0,
    so darkness needs computing only inside it.  None: compute it all."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        # One word a pixel; paper is 0 (transparent black, a fresh canvas) or
        # 0xFFFFFFFF (opaque white).  Only boolean temporaries: a word-sized
        # one (313 KB for a canvas) is a fresh mapping from the allocator on
        # every call, and faulting its pages in cost more than the comparison.
        packed = pixels.view(np.uint32)[..., 0]
        may_ink = packed != 0
        may_ink &= packed != np.uint32(0xFFFFFFFF)
    elif pixels.ndim == 2:
        may_ink = pixels != 255
    else:
        return None
    rows = np.flatnonzero(may_ink.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    top, bottom = rows[0], rows[-1] + 1
    cols = np.flatnonzero(may_ink[top:bottom].any(axis=0))
    left, right = cols[0], cols[-1] + 1
    height, width = may_ink.shape
    if top == 0 or left == 0 or bottom == height or right == width:
        return None  # ink on the border: the paper test below needs the whole border
    return int(top), int(bottom), int(left), int(right)


def _darkness(image: Image.Image) -> np.ndarray:
    """Grayscale darkness, 0 for paper, with transparent areas composited on white."""
    if image.mode in ("P", "PA") and (image.mode == "PA" or "transparency" in image.info):
        image = image.convert("RGBA")
    darkness = ImageOps.invert(image.convert("L"))
    if image.mode in ("RGBA", "LA"):
        alpha = image.getchannel("A")
        if alpha.getextrema()[0] < 255:  # fully opaque: multiplying by 255/255 changes nothing
            # Composited on white paper, darkness is (255 - gray) * alpha / 255.
            darkness = ImageChops.multiply(darkness, alpha)
    return np.asarray(darkness)


def _pixels_darkness(pixels: np.ndarray, mode: str) -> np.ndarray:
    """``_darkness`` for decoded 8-bit L, RGB or RGBA pixels, to the same
    byte: Pillow's own conversion to gray, the rest in NumPy (Pillow's
    ``invert`` builds its lookup table in Python on every call, and its
    alpha check and multiply cost more than the arithmetic)."""
    gray = pixels if mode == "L" else np.asarray(Image.fromarray(pixels, mode).convert("L"))
    darkness = 255 - gray
    if mode == "RGBA":
        alpha = pixels[..., 3]
        if alpha.min() < 255:  # Pillow's multiply: (a * b) // 255
            darkness = (darkness.astype(np.uint16) * alpha // 255).astype(np.uint8)
    return darkness


def image_to_ink(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode a PNG or JPEG into a uint8 array of ink, white on black, and
    the size of the whole image (the array may be a crop of it that holds
    all the ink)."""
    image, pixels = None, None
    canvas = _canvas_png(data)
    if canvas is not None:
        mode, width, height = canvas
        _size_check(width, height, max_pixels)
        pixels = _spng_pixels(data, mode, width, height)
    if pixels is None:
        image = _opened(data, max_pixels)
        mode, (width, height) = image.mode, image.size
    size = (height, width)
    try:
        box = _paper_box(pixels) if pixels is not None else None
        if box == (0, 0, 0, 0):
            return np.zeros((1, 1), np.uint8), size  # nothing but paper
        if box is not None:
            top, bottom, left, right = box
            return _pixels_darkness(pixels[top:bottom, left:right], mode), size
        ink = _pixels_darkness(pixels, mode) if pixels is not None else _darkness(image)
    except Exception as exc:  # truncated or corrupt data surfaces only when pixels are decoded
        raise UnreadableImage("The image data is truncated or corrupt.") from exc
    # Paper is whatever the border mostly is: light paper (the usual canvas)
    # means dark ink, which MNIST wants white on black; dark paper means the
    # ink is already light.
    border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    return (ink if np.median(border) < 128 else 255 - ink), size


def ink_to_mnist(ink: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Crop, scale to 20x20 and centre by mass: uint8 (28, 28), ink white on
    black.  ``size``: the whole image's, when ``ink`` is a crop of it."""
    mask = ink > INK_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise BlankDrawing("Draw a digit first: the canvas is blank.")
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if max(bottom - top, right - left) < MIN_INK_SHARE * min(size or ink.shape):
        raise BlankDrawing("Draw a digit first: there is hardly anything on the canvas.")
    pixels = ink[top:bottom, left:right]
    h, w = pixels.shape
    scale = BOX_SIZE / max(h, w)
    # Centre of mass of the ink in continuous coordinates (pixel i spans i..i+1).
    # Row and column sums as matrix-vector products (BLAS; twice as fast as
    # NumPy's sums here), exact: whole numbers far below float32's 2**24.
    crop = pixels.astype(np.float32)
    rows, cols = crop @ np.ones(w, np.float32), np.ones(h, np.float32) @ crop
    mass = rows.sum()
    cy = (rows @ np.arange(h)) / mass + 0.5
    cx = (cols @ np.arange(w)) / mass + 0.5
    return _place(pixels, scale=scale, centre=(cy, cx))


def _place(crop: np.ndarray, *, scale: float, centre: tuple[float, float]) -> np.ndarray:
    """Resample ``crop`` (uint8) by ``scale`` into a 28x28 frame with ``centre`` (crop
    coordinates) landing on the frame's centre, to a fraction of a pixel.

    Only a patch just larger than the scaled drawing is resampled (cheap);
    its source box is shifted by the fractional part of the offset, so a small
    drawing and a large one, or one drawn off in a corner, come out alike.  A
    drawing whose centre of mass is far off its middle is kept whole in the
    frame rather than cut."""
    h, w = crop.shape
    patch_h, patch_w = min(MNIST_SIZE, round(h * scale) + 2), min(MNIST_SIZE, round(w * scale) + 2)
    margin = int(np.ceil(2 / scale)) + 1  # source pixels of paper around the crop
    padded = np.zeros((h + 2 * margin, w + 2 * margin), np.uint8)
    padded[margin : margin + h, margin : margin + w] = crop
    box, offset = [], []
    for c, size, patch in ((centre[1], w, patch_w), (centre[0], h, patch_h)):
        frame_start = c - (MNIST_SIZE / 2) / scale  # where the 28x28 frame starts, in crop coordinates
        first = int(np.floor(-frame_start * scale)) - 1  # the frame pixel where the patch starts
        first = min(max(first, 0), MNIST_SIZE - patch)
        start = frame_start + first / scale
        start = min(max(start, -margin), size + margin - patch / scale)
        box += [start + margin, start + margin + patch / scale]
        offset.append(first)
    source = Image.fromarray(padded)
    # reducing_gap shrinks by whole factors first: fast on large canvases, still anti-aliased.
    small = source.resize(
        (patch_w, patch_h), Image.Resampling.LANCZOS, box=(box[0], box[2], box[1], box[3]), reducing_gap=2.0
    )
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.uint8)
    x0, y0 = offset
    out[y0 : y0 + patch_h, x0 : x0 + patch_w] = np.asarray(small)
    return out


def pixels_decode(data: bytes | memoryview) -> np.ndarray:
    """A stored sample's ``pixels`` (784 bytes, ``drawing_to_mnist``'s output
    in row order) back to the uint8 (28, 28) array."""
    x = np.frombuffer(bytes(data), dtype=np.uint8)
    if x.size != MNIST_SIZE * MNIST_SIZE:
        raise ValueError(f"stored pixels must be {MNIST_SIZE * MNIST_SIZE} bytes, got {x.size}")
    return x.reshape(MNIST_SIZE, MNIST_SIZE)


def pixels_decode_many(rows: list[bytes | memoryview]) -> np.ndarray:
    """Many stored ``pixels`` at once, as uint8 (N, 28, 28): ``pixels_decode``
    for a chunk of a streamed table, without a Python step per pixel array."""
    size = MNIST_SIZE * MNIST_SIZE
    joined = b"".join(rows)
    if len(joined) != size * len(rows):
        for data in rows:  # find and name the bad one
            pixels_decode(data)
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(rows), MNIST_SIZE, MNIST_SIZE)


def drawing_to_mnist(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The 28x28 uint8 array the CNN sees for a PNG or JPEG drawing.

    Raises a DrawingError (UnreadableImage, ImageTooLarge, BlankDrawing) with
    a message fit to show the person who drew it."""
    return ink_to_mnist(*image_to_ink(data, max_pixels=max_pixels))
