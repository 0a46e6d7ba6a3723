"""Test helper: real MNIST digits rendered the way people give them to the app.

`canvas_picture()` draws a 28x28 MNIST digit in a picker colour on a black 280x280 canvas, as the
Predict page's canvas sends it; `two_digits_over_each_other()` overlays pairs of digits;
`encode()` and `data_url()` turn pictures into file bytes and
into the data: URL the canvas component stores in session state.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

CANVAS_SIZE = 280
# The Predict page's brush colours (realistic colour-picker shades, not pure #FF0000).
INK_RGB = {"red": (0xFF, 0x4B, 0x4B), "green": (0x21, 0xC3, 0x54)}


def canvas_picture(grey: np.ndarray, color: str, size: int = CANVAS_SIZE) -> np.ndarray:
    """(size, size, 3) uint8: the grey 28x28 digit enlarged, in the ink colour, on black."""
    enlarged = Image.fromarray(np.asarray(grey, np.uint8)).resize(
        (size, size), Image.Resampling.BILINEAR
    )
    strength = np.asarray(enlarged, np.float32)[..., None] / 255.0
    ink = np.asarray(INK_RGB[color], np.float32)
    return np.clip(strength * ink + 0.5, 0, 255).astype(np.uint8)


def two_digits_over_each_other(images: np.ndarray, labels: np.ndarray, count: int = 100):
    """Up to `count` (28, 28) uint8 pictures of two different digits drawn over each other (the
    brighter pixel of each), from pairs spread over the set: a digit drawn over an old one."""
    for i in range(0, min(count * 10, len(labels)), 10):
        j = (i * 17 + 137) % len(labels)
        if labels[i] != labels[j]:
            yield np.maximum(images[i], images[j])


def paper_picture(grey: np.ndarray, size: int = 200) -> np.ndarray:
    """(size, size, 3) uint8: the digit in dark ink on white paper, like a photo or a scan."""
    enlarged = Image.fromarray(255 - np.asarray(grey, np.uint8)).resize(
        (size, size), Image.Resampling.BILINEAR
    )
    return np.repeat(np.asarray(enlarged, np.uint8)[..., None], 3, axis=2)


def encode(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    """The picture as the bytes of an image file (PNG, JPEG, WEBP, BMP, GIF)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def canvas_state(png: bytes | None) -> dict:
    """The canvas component's session-state value after a stroke (what its frontend sends)."""
    return {
        "drawing": {"raw": {"objects": []}, "data": None if png is None else data_url(png)},
        "backgroundFit": None,
    }
