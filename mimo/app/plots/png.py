"""Pictures inline in a page or a figure: a PNG as a data: URL."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def png_data_url(pixels: np.ndarray, scale: int = 1, optimize: bool = False) -> str:
    """A data: URL of uint8 pixels, (H, W) grey or (H, W, 3) RGB, as a PNG.

    scale: enlarge by this factor with nearest-neighbour sampling, so pixels stay square.
    optimize: spend more time for a smaller file (worth it for big pictures).
    """
    image = Image.fromarray(np.asarray(pixels, np.uint8))
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=optimize)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
