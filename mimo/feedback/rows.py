"""The rows the feedback store writes: an example checked, and its pictures and answers as bytes.

A row keeps one example: the 28x28 grey and RGB pictures the models saw (uint8), the original
bytes and their sniffed type, the true digit, the ink, the number, both models' answers and the
run ids that gave them (JSON), the source, the time (UTC), a digest of the original and the
row's size in bytes (the store's cap sums these). A NewExample that cannot be such a row is
refused with an InvalidExample sentence.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from mimo.encoding import COLOR_NAMES, NUM_DIGITS
from mimo.feedback.errors import InvalidExample
from mimo.tasks import IMAGE_SIZE

if TYPE_CHECKING:
    from mimo.feedback.store import NewExample

GREY_SHAPE = (IMAGE_SIZE, IMAGE_SIZE)  # the sum model's picture
RGB_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)  # the colour model's picture
MAX_ORIGINAL_BYTES = 512 * 1024  # callers replace bigger originals by a 256 px PNG
SOURCES = ("drawing", "upload", "import")  # where an example came from
INKS = (*COLOR_NAMES, None)  # the ink a digit was drawn in; None: neither red nor green
DIGEST_BYTES = 16  # blake2b digest of the original: 32 hex characters
UNKNOWN_TYPE = "application/octet-stream"  # the original's type when no signature matches
# The first bytes of the picture formats an upload can have, and their MIME types.
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)


def checked_digit(value, what: str) -> int:
    """An int 0-9 (numpy's too); bools, floats and text are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not 0 <= value < NUM_DIGITS
    ):
        raise InvalidExample(f"{what} must be a whole number from 0 to 9, not {value!r}.")
    return int(value)


def unit_picture(picture, shape: tuple[int, ...], what: str) -> bytes:
    """A picture of floats in [0, 1] of the given shape, as uint8 bytes (round(x * 255))."""
    array = np.asarray(picture)
    if array.shape != shape:
        raise InvalidExample(f"The {what} must have shape {shape}, not {array.shape}.")
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        raise InvalidExample(f"The {what} must hold numbers from 0 to 1, not {array.dtype}.")
    if array.min() < 0 or array.max() > 1:
        raise InvalidExample(f"The {what} must hold numbers from 0 to 1.")
    return np.rint(array * 255).astype(np.uint8).tobytes()


def as_json(value, what: str) -> str:
    if not isinstance(value, Mapping):
        raise InvalidExample(f"The {what} must be a dictionary, not {type(value).__name__}.")
    try:
        return json.dumps(dict(value), sort_keys=True, default=plain)
    except (TypeError, ValueError) as error:
        raise InvalidExample(f"The {what} must hold numbers and text only ({error}).") from None


def plain(value):
    """numpy numbers and arrays as JSON's own (confidences often arrive as float32)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def sniffed_type(data: bytes) -> str:
    """The MIME type the first bytes say, else UNKNOWN_TYPE."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in IMAGE_SIGNATURES if data.startswith(magic)), UNKNOWN_TYPE)


def digest_of(original: bytes) -> str:
    return hashlib.blake2b(original, digest_size=DIGEST_BYTES).hexdigest()


def checked_row(example: NewExample) -> dict:
    """The row to insert for an example; InvalidExample with a sentence when it is not valid."""
    label = checked_digit(example.label, "The label")
    number = checked_digit(example.number, "The number")
    if example.source not in SOURCES:
        raise InvalidExample(
            f"The source must be drawing, upload or import, not {example.source!r}."
        )
    if example.ink not in INKS:
        raise InvalidExample(f"The ink must be red, green or none, not {example.ink!r}.")
    grey = unit_picture(example.grey, GREY_SHAPE, "grey picture")
    rgb = unit_picture(example.rgb, RGB_SHAPE, "colour picture")
    original = example.original
    if not isinstance(original, (bytes, bytearray, memoryview)) or len(original) == 0:
        raise InvalidExample("The original picture must be the bytes of an image.")
    original = bytes(original)
    if len(original) > MAX_ORIGINAL_BYTES:
        raise InvalidExample(
            f"The original picture takes {len(original):,} bytes; "
            f"at most {MAX_ORIGINAL_BYTES:,} are kept."
        )
    answers = as_json(example.answers, "answers")
    run_ids = as_json(example.run_ids, "run ids")
    return {
        "created_at": datetime.now(timezone.utc),
        "label": label,
        "number": number,
        "ink": example.ink,
        "source": example.source,
        "grey": grey,
        "rgb": rgb,
        "original": original,
        "original_type": sniffed_type(original),
        "digest": digest_of(original),
        "answers": answers,
        "run_ids": run_ids,
        "size": len(grey) + len(rgb) + len(original) + len(answers) + len(run_ids),
    }


def imported_rows(labels, grey_uint8, source: str) -> list[dict]:
    """The rows for an import of MNIST-layout arrays (see FeedbackStore.add_many)."""
    from PIL import Image  # only imports need Pillow

    labels, grey = np.asarray(labels), np.asarray(grey_uint8)
    if source not in SOURCES:
        raise InvalidExample(f"The source must be drawing, upload or import, not {source!r}.")
    if labels.ndim != 1 or grey.shape != (len(labels), *GREY_SHAPE):
        raise InvalidExample(
            f"An import needs labels (N,) and pictures (N, 28, 28); got {labels.shape} "
            f"and {grey.shape}."
        )
    if len(labels) and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9):
        raise InvalidExample("The labels of an import must be whole numbers from 0 to 9.")
    if len(grey) and (grey.dtype.kind not in "iu" or grey.min() < 0 or grey.max() > 255):
        raise InvalidExample("The pictures of an import must be whole numbers from 0 to 255.")
    created_at = datetime.now(timezone.utc)
    rows = []
    for label, picture in zip(labels.tolist(), grey.astype(np.uint8), strict=True):
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        original = buffer.getvalue()
        rgb = np.repeat(picture[..., None], 3, axis=-1).tobytes()
        rows.append(
            {
                "created_at": created_at,
                "label": label,
                "number": 0,
                "ink": None,
                "source": source,
                "grey": picture.tobytes(),
                "rgb": rgb,
                "original": original,
                "original_type": "image/png",
                "digest": digest_of(original),
                "answers": "{}",
                "run_ids": "{}",
                "size": picture.nbytes + len(rgb) + len(original) + 4,
            }
        )
    return rows


def pictures(blobs: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    """Stored uint8 pictures as one (N, *shape) array."""
    return np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), *shape).copy()
