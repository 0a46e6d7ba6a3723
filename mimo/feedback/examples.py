"""What one saved example holds, built from what the Predict page has: the input as sent, the
28x28 pictures the models saw, and their answers.

The original is kept as the canvas sent it or as uploaded, up to MAX_ORIGINAL_BYTES; a bigger
upload is kept as a PNG of the prepared digit, ORIGINAL_SIDE pixels on a side.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mimo.feedback.store import MAX_ORIGINAL_BYTES, NewExample

ORIGINAL_SIDE = 256  # pixels: the side of that replacement


def stored_original(image_bytes: bytes, rgb: np.ndarray) -> bytes:
    """The original as sent when it is small enough, else the prepared digit (28x28x3 floats in
    [0, 1]) as a PNG, enlarged with square pixels."""
    if len(image_bytes) <= MAX_ORIGINAL_BYTES:
        return image_bytes
    pixels = (np.clip(np.asarray(rgb, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    image = Image.fromarray(pixels).resize((ORIGINAL_SIDE, ORIGINAL_SIDE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def new_example(
    label, image_bytes: bytes, prepared, prediction, *, source: str, ink: str | None, run_ids
) -> NewExample:
    """The example to save: `label` is the true digit the user gave (checked by the store),
    `prepared` a mimo.serve.preprocess.PreparedDigit, `prediction` both models' answers."""
    return NewExample(
        label=label,
        grey=prepared.grey,
        rgb=prepared.rgb,
        original=stored_original(image_bytes, prepared.rgb),
        source=source,
        ink=ink,
        number=int(prediction.number),
        answers={name: result.to_json() for name, result in prediction.models.items()},
        run_ids=dict(run_ids),
    )
