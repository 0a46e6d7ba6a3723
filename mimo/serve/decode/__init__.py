"""Decode any input (upload, file, bytes, array, PIL image) into bounded pixels.

Every guard on untrusted input lives here:

- a size cap on the bytes, and only regular files are read (a FIFO or a device never is);
- cheap checks on the raw bytes before any decoder runs: the pixel count in PNG and GIF headers,
  the real size of the pictures inside an ICO, the number of scans in a JPEG;
- every other decode of untrusted bytes runs in a small pool of worker processes, each with hard
  limits on memory (address space, config.MAX_DECODE_MEMORY_MB over its own baseline) and CPU
  time (config.MAX_DECODE_CPU_S per picture), and a wall-clock timeout in the caller. A worker
  that runs out of time is killed and replaced; the caller gets a clear InputError. Workers are
  started by executing a fresh Python (never by forking the caller, which may have TensorFlow
  loaded and threads running), read requests on a pipe and exit when the pipe closes, so none
  outlives its parent;
- inside the decoder: the header pixel cap, Pillow's own decompression-bomb guard, only common
  raster formats, the first frame or page only (never counted), EXIF orientation applied, big
  JPEGs decoded at reduced size, at most config.MAX_BIG_DECODES big pictures decoded at once;
- any exception a decoder raises becomes an InputError; decoder warnings are counted, never
  printed (see collect_notes()).

Small PNGs such as canvas drawings (checked: signature, header size, byte count) and numpy
arrays are decoded in the calling process: no round trip for the common case.

`decode()` returns the pixels as floats in [0, 1] (RGB plus an optional alpha channel), at most
WORK_MAX_SIDE pixels on the longer side; mimo.serve.preprocess finds the digit in them.

The package's modules: limits (the constants), messages (InputError and the user's messages),
checks (reading bytes, checks before any decoder runs), images (Pillow decoding, pixels out of
it), slots (big decodes at once), protocol (the worker pipes), pool (the workers, the caller's
side), worker (the worker process). This module is the public API.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mimo.serve.decode import pool
from mimo.serve.decode.checks import check_raw, is_small_png, read_upload_bytes, source_bytes
from mimo.serve.decode.images import (
    add_note,
    array_to_float,
    decode_image_in_process,
    decode_to_array,
    thread_notes,
)
from mimo.serve.decode.limits import MNIST_SIDE
from mimo.serve.decode.messages import InputError


@dataclass(frozen=True)
class Pixels:
    """Decoded pixels, ready for the ink search."""

    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    alpha: np.ndarray | None  # (H, W) float32 in [0, 1], or None for opaque pictures
    mnist_sized: bool  # the input was 28x28: framing may keep it as it is


def decode(source) -> Pixels:
    """Any supported input -> Pixels. Raises InputError with a user-facing message.

    source: numpy array (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, a PIL image, a path (str
    or os.PathLike), bytes, or a binary file-like object with .read() (e.g. a Streamlit
    UploadedFile).
    """
    pool.POOL.warm_soon()  # the first canvas stroke gets the workers ready for the first upload
    if isinstance(source, np.ndarray):
        rgb, alpha = array_to_float(source)
        return Pixels(rgb, alpha, mnist_sized=source.shape[:2] == (MNIST_SIDE, MNIST_SIDE))
    if isinstance(source, Image.Image):
        array, mnist_sized = decode_image_in_process(source)
    else:
        array, mnist_sized = _decode_bytes(source_bytes(source))
    rgb, alpha = array_to_float(array, check=False)
    return Pixels(rgb, alpha, mnist_sized=mnist_sized)


def load_image(source) -> Image.Image:
    """Decode an image from a path, bytes, a file-like object or a PIL image, with all guards.

    Returns a loaded image (first frame, EXIF orientation applied, at most WORK_MAX_SIDE pixels
    on its longer side; "L", "RGB", "RGBA" or, for deep pictures, "F" in [0, 1]). Raises
    InputError for anything unusable.
    """
    if isinstance(source, Image.Image):
        array, _ = decode_image_in_process(source)
    else:
        array, _ = _decode_bytes(source_bytes(source))
    return Image.fromarray(array)


@contextlib.contextmanager
def collect_notes():
    """Collect, in this thread, what decoding had to say about the inputs decoded inside the
    block (e.g. "412 decoder warnings (first: ...)"): a list of short lines, at most one per
    input. Outside such a block the notes are dropped: a handled file never floods a log."""
    notes: list[str] = []
    previous = getattr(thread_notes, "sink", None)
    thread_notes.sink = notes
    try:
        yield notes
    finally:
        thread_notes.sink = previous


def warm_up() -> None:
    """Start the decoding workers in the background now (e.g. while a model loads)."""
    pool.POOL.warm_soon()


def _decode_bytes(data: bytes) -> tuple[np.ndarray, bool]:
    check_raw(data)
    if is_small_png(data):  # nothing in it to warn about; warnings state is process-wide
        array, mnist_sized, notes = decode_to_array(data, count_warnings=False)
    else:
        array, mnist_sized, notes = pool.POOL.decode(data)
    add_note(notes)
    return array, mnist_sized


__all__ = [
    "InputError",
    "Pixels",
    "collect_notes",
    "decode",
    "load_image",
    "read_upload_bytes",
    "warm_up",
]
