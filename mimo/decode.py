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
WORK_MAX_SIDE pixels on the longer side; mimo.preprocess finds the digit in them.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import math
import os
import select
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mimo import config
from mimo.process_tuning import hand_big_buffers_back_when_freed

MNIST_SIDE = 28  # an input this size is taken to be in MNIST's format already
MIN_SIDE = 8  # smaller images cannot hold a recognisable digit
MAX_ASPECT = 20  # longer/shorter side; beyond that it is a strip, not a digit picture
WORK_MAX_SIDE = 1024  # bigger images are scaled down to this before the ink search
# Decoding a picture this big (after any JPEG draft reduction) takes tens to hundreds of MB for a
# moment; at most config.MAX_BIG_DECODES of them are decoded at once, see _decode_slot().
BIG_DECODE_PIXELS = 4_000_000
DECODE_WAIT_S = 30  # how long a picture waits for a decoding slot or a worker before giving up
DECODE_TIMEOUT_S = 10.0  # wall clock for one decode in a worker (CPU time is limited too)
WORKER_START_S = 60.0  # a worker must be ready this soon (a busy machine imports slowly)

# Decoded in the calling process: PNGs this small whose header says at most this many pixels a
# side (a canvas drawing is a few kB at 280 x 280).
IN_PROCESS_PNG_BYTES = 256 * 1024
IN_PROCESS_PNG_SIDE = 1024
IN_PROCESS_PNG_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"sRGB", b"gAMA", b"pHYs"}
MAX_JPEG_SCANS = 100  # ordinary progressive JPEGs have about 10; each scan costs a full pass
MAX_ICON_SIDE = 1024  # icons are at most 256 x 256; Pillow would decode any PNG inside one

ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "ICO", "AVIF")
# The first bytes of the allowed formats (WebP: "RIFF", then "WEBP" at offset 8).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_SIGNATURES = (
    PNG_SIGNATURE,
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
)
EXIF_ORIENTATION = 0x0112
FORMATS_HINT = "PNG, JPEG, GIF, BMP, TIFF or WebP"


class InputError(ValueError):
    """The input cannot be used; the message is meant for the user, as is."""


@dataclass(frozen=True)
class Pixels:
    """Decoded pixels, ready for the ink search."""

    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    alpha: np.ndarray | None  # (H, W) float32 in [0, 1], or None for opaque pictures
    mnist_sized: bool  # the input was 28x28: framing may keep it as it is


# ---------------------------------------------------------------------------------------------
# Public API


def decode(source) -> Pixels:
    """Any supported input -> Pixels. Raises InputError with a user-facing message.

    source: numpy array (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, a PIL image, a path (str
    or os.PathLike), bytes, or a binary file-like object with .read() (e.g. a Streamlit
    UploadedFile).
    """
    _pool.warm_soon()  # the first canvas stroke gets the workers ready for the first upload
    if isinstance(source, np.ndarray):
        rgb, alpha = _array_to_float(source)
        return Pixels(rgb, alpha, mnist_sized=source.shape[:2] == (MNIST_SIDE, MNIST_SIDE))
    if isinstance(source, Image.Image):
        array, mnist_sized = _decode_image_in_process(source)
    else:
        array, mnist_sized = _decode_bytes(_source_bytes(source))
    rgb, alpha = _array_to_float(array, check=False)
    return Pixels(rgb, alpha, mnist_sized=mnist_sized)


def load_image(source) -> Image.Image:
    """Decode an image from a path, bytes, a file-like object or a PIL image, with all guards.

    Returns a loaded image (first frame, EXIF orientation applied, at most WORK_MAX_SIDE pixels
    on its longer side; "L", "RGB", "RGBA" or, for deep pictures, "F" in [0, 1]). Raises
    InputError for anything unusable.
    """
    if isinstance(source, Image.Image):
        array, _ = _decode_image_in_process(source)
    else:
        array, _ = _decode_bytes(_source_bytes(source))
    return Image.fromarray(array)


def read_upload_bytes(file_like) -> bytes:
    """All bytes of an uploaded file, refusing (before reading them all) files over the cap."""
    limit = config.MAX_UPLOAD_BYTES
    declared = getattr(file_like, "size", None)
    if isinstance(declared, int):
        _check_byte_count(declared)
    if getattr(file_like, "seekable", lambda: False)():
        file_like.seek(0)
    data = file_like.read(limit + 1)
    if not isinstance(data, (bytes, bytearray)):
        raise InputError("The upload could not be read as a file.")
    _check_byte_count(len(data))
    return bytes(data)


@contextlib.contextmanager
def collect_notes():
    """Collect, in this thread, what decoding had to say about the inputs decoded inside the
    block (e.g. "412 decoder warnings (first: ...)"): a list of short lines, at most one per
    input. Outside such a block the notes are dropped: a handled file never floods a log."""
    notes: list[str] = []
    previous = getattr(_notes, "sink", None)
    _notes.sink = notes
    try:
        yield notes
    finally:
        _notes.sink = previous


def warm_up() -> None:
    """Start the decoding workers in the background now (e.g. while a model loads)."""
    _pool.warm_soon()


# ---------------------------------------------------------------------------------------------
# Reading bytes, and cheap checks on them before any decoder runs


def _source_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_byte_count(len(data))
    elif isinstance(source, (str, os.PathLike)):
        data = _read_path(source)
    elif hasattr(source, "read"):
        data = read_upload_bytes(source)
    else:
        raise TypeError(f"cannot prepare a digit from {type(source).__name__}")
    if not data:
        raise InputError("The file is empty.")
    return data


def _read_path(path) -> bytes:
    """A regular file's bytes. Anything else (a FIFO, a device, a socket) is refused from its
    metadata, without being opened: opening a FIFO for reading would wait for a writer."""
    name = os.fspath(path)
    try:
        info = os.stat(name)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(name)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{name} is not a regular file (a pipe or a device); not read.")
        _check_byte_count(info.st_size)
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, open() still
        # returns at once; fstat() then refuses it.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(f"{name} is not a regular file (a pipe or a device); not read.")
            data = f.read(config.MAX_UPLOAD_BYTES + 1)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"File not found: {name}") from None
    except IsADirectoryError:
        raise InputError(f"{name} is a folder, not an image file.") from None
    except PermissionError:
        raise InputError(f"No permission to read {name}.") from None
    except (OSError, ValueError) as exc:  # an I/O error, a name with a NUL byte, a long name
        reason = getattr(exc, "strerror", None) or "read error"
        raise InputError(f"{name} could not be read ({reason}).") from None
    _check_byte_count(len(data))
    return data


def _check_byte_count(n: int) -> None:
    limit = config.MAX_UPLOAD_BYTES
    if n > limit:
        raise InputError(
            f"The file is too large ({_megabytes(n)}); the limit is {_megabytes(limit)}."
        )


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def _check_raw(data: bytes) -> None:
    try:
        _check_raw_bytes(data)
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(_damaged_message()) from None


def _check_raw_bytes(data: bytes) -> None:
    """Refuse, from a few bytes and without a decoder, what is cheap to see is too big or too
    slow: PNG and GIF headers over the pixel cap, ICOs hiding big pictures, JPEGs with
    thousands of scans (each scan is a pass over every block of the picture)."""
    size = _png_size(data)
    if size is None and data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        size = struct.unpack("<HH", data[6:10])
    if size is not None:
        _check_dimensions(*size)
    elif data[:3] == b"\xff\xd8\xff":
        scans = data.count(b"\xff\xda")  # 0xFF in coded data is always followed by 0x00
        if scans > MAX_JPEG_SCANS:
            raise InputError(_too_slow_message(f"a JPEG of {scans:,} scans"))
    elif data[:4] == b"\x00\x00\x01\x00":
        _check_icon(data)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None


def _check_icon(data: bytes) -> None:
    """The real size of every picture inside an ICO. Its directory can only say up to 256 x 256,
    while Pillow decodes the largest embedded PNG whatever its size as the file is opened."""
    (count,) = struct.unpack("<H", data[4:6])
    for i in range(count):
        entry = data[6 + 16 * i : 22 + 16 * i]
        if len(entry) < 16:
            raise InputError(_damaged_message())
        length, offset = struct.unpack("<II", entry[8:16])
        image = data[offset : offset + 26]
        size = _png_size(image)
        if size is None and len(image) >= 12:  # a BMP without its file header
            width, height = struct.unpack("<ii", image[4:12])
            size = (abs(width), abs(height) // 2)  # the height counts the AND mask too
        if size is not None and max(size) > MAX_ICON_SIDE:
            raise InputError(
                f"The icon is too large: it holds a picture of {size[0]} x {size[1]} pixels; "
                f"icons of up to {MAX_ICON_SIDE} x {MAX_ICON_SIDE} pixels are read."
            )


def _is_small_png(data: bytes) -> bool:
    """A PNG like those a drawing canvas makes: few bytes, a small header size, and only the
    chunks that carry pixels (no metadata a decoder would parse: EXIF, text, ICC profiles)."""
    size = _png_size(data)
    if size is None or len(data) > IN_PROCESS_PNG_BYTES or max(size) > IN_PROCESS_PNG_SIDE:
        return False
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind not in IN_PROCESS_PNG_CHUNKS:
            return False
        if kind == b"IEND":
            return True
        position += 12 + length
    return False  # no IEND: damaged, let a worker say so


# ---------------------------------------------------------------------------------------------
# Decoding: in this process (small PNGs, PIL images) or in a worker (everything else)


def _decode_bytes(data: bytes) -> tuple[np.ndarray, bool]:
    _check_raw(data)
    if _is_small_png(data):  # nothing in it to warn about; warnings state is process-wide
        array, mnist_sized, notes = _decode_to_array(data, count_warnings=False)
    else:
        array, mnist_sized, notes = _pool.decode(data)
    _note(notes)
    return array, mnist_sized


def _decode_image_in_process(image: Image.Image) -> tuple[np.ndarray, bool]:
    """A PIL image a caller opened itself: decoded here (its warnings, if any, are the
    caller's: the process-wide warnings state is left alone)."""
    _check_dimensions(*image.size)
    try:
        with _decode_slot(*image.size):
            loaded = _shrink(_load_frame(image))
        array = _image_to_array(loaded)
    except InputError:
        raise
    except MemoryError:
        raise InputError(_too_many_pixels_message(*image.size)) from None
    except Exception as exc:  # any decoder or plugin failure is a damaged file for the user
        raise InputError(_damaged_message()) from exc
    return array, image.size == (MNIST_SIDE, MNIST_SIDE)


def _decode_to_array(data: bytes, count_warnings=True) -> tuple[np.ndarray, bool, list[str]]:
    """Bytes -> (compact pixels, mnist_sized, notes), every guard applied. Runs in a worker for
    untrusted bytes (one thread: warnings are caught and counted), in the caller for small
    PNGs (any thread: the process-wide warnings state is left alone)."""
    counting = _counted_warnings() if count_warnings else contextlib.nullcontext(_WarningCount())
    with counting as counted:
        try:
            image = _open(data)
            _check_dimensions(*image.size)
            mnist_sized = image.size == (MNIST_SIDE, MNIST_SIDE)
            _reduce_while_decoding(image)
            with _decode_slot(*image.size):
                image = _shrink(_load_frame(image))
            array = _image_to_array(image)
        except InputError:
            raise
        except MemoryError:
            raise InputError(_too_much_memory_message()) from None
        except Exception as exc:  # any decoder or plugin failure is a damaged file for the user
            raise InputError(_damaged_message()) from exc
    return array, mnist_sized, counted.summary()


def _open(data: bytes) -> Image.Image:
    """Read the header only (no pixels decoded yet), from the allowed formats."""
    Image.init()
    formats = [f for f in ALLOWED_FORMATS if f in Image.OPEN]
    try:
        with warnings.catch_warnings():
            # Pillow warns from ~89 Mpx; our own, lower pixel cap refuses such files right after.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError:
        raise InputError(_too_many_pixels_message()) from None
    except UnidentifiedImageError:
        raise InputError(_not_an_image_message(data)) from None
    except MemoryError:
        raise InputError(_too_much_memory_message()) from None
    except Exception as exc:  # struct.error, RuntimeError from a codec library, anything else
        raise InputError(_damaged_message()) from exc


def _not_an_image_message(data: bytes) -> str:
    if data.startswith(IMAGE_SIGNATURES) or data[8:12] == b"WEBP":
        return _damaged_message()  # starts like an image but its header is broken
    head = data[:512].lstrip().lower()
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in data[:4096].lower()):
        return f"SVG drawings are not supported. Please save it as a {FORMATS_HINT} picture."
    if data[:4] == b"PK\x03\x04":
        kind = "a ZIP archive"
    elif head.startswith((b"<!doctype html", b"<html")):
        kind = "a web page"
    elif _looks_like_text(data[:1024]):
        kind = "text"
    else:
        kind = None
    what = f" (it looks like {kind})" if kind else ""
    return f"This file is not a picture that can be read{what}. Please use a {FORMATS_HINT} image."


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _damaged_message() -> str:
    return "The image file is damaged or incomplete and could not be read. Please try another file."


def _too_slow_message(what: str = "") -> str:
    detail = f" ({what})" if what else ""
    return (
        f"This picture takes too long to read{detail}. "
        "Please save it again as an ordinary PNG or JPEG, or use another picture."
    )


def _too_much_memory_message() -> str:
    return (
        f"This picture is too large to read: decoding it needs more than "
        f"{config.MAX_DECODE_MEMORY_MB} MB of memory. Please use a smaller picture."
    )


def _too_many_pixels_message(width: int | None = None, height: int | None = None) -> str:
    limit = config.MAX_IMAGE_PIXELS / 1e6
    size = f" ({width} x {height} pixels)" if width else ""
    return (
        f"The image is too large{size}; the limit is {limit:g} million pixels. "
        "Please use a smaller picture."
    )


def _check_dimensions(width: int, height: int) -> None:
    if width * height > config.MAX_IMAGE_PIXELS:
        raise InputError(_too_many_pixels_message(width, height))
    if min(width, height) < MIN_SIDE:
        raise InputError(
            f"The image is too small ({width} x {height} pixels) to hold a digit; "
            f"it must be at least {MIN_SIDE} pixels on each side."
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(
            f"The image is too long and thin ({width} x {height} pixels) to hold a digit."
        )


def _reduce_while_decoding(image: Image.Image) -> None:
    """JPEGs can be decoded at 1/2, 1/4 or 1/8 size: much faster for big photos.

    The reduced size is at least half of WORK_MAX_SIDE on the longer side: plenty for a digit.
    """
    width, height = image.size
    if image.format in ("JPEG", "MPO") and max(width, height) > WORK_MAX_SIDE:
        scale = WORK_MAX_SIDE / 2 / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        with contextlib.suppress(Exception):  # else decode at full size
            image.draft(image.mode, size)


_big_decode_slots = threading.BoundedSemaphore(max(1, config.MAX_BIG_DECODES))


def _no_worker_message() -> str:
    return "The server cannot read pictures right now. Please try again in a moment."


def _busy_message() -> str:
    return (
        "The server is busy reading other large pictures. Please try again in a moment, "
        "or use a smaller picture."
    )


@contextlib.contextmanager
def _decode_slot(width: int, height: int):
    """Hold one of the process's config.MAX_BIG_DECODES slots while a big picture is decoded.

    One 25 Mpx lossless WebP takes about 430 MB while it is decoded; a server with many
    sessions would otherwise let uploads arriving together add up to gigabytes. Pictures of up
    to BIG_DECODE_PIXELS (every canvas drawing, most photos once JPEG draft mode has reduced
    them) never wait. InputError if no slot frees up within DECODE_WAIT_S. In a decoding
    worker, the slot is asked of (and held by) the process that sent the picture.
    """
    if width * height <= BIG_DECODE_PIXELS:
        yield
        return
    if _worker_channel is not None:
        if not _worker_channel.ask_for_slot():
            raise InputError(_busy_message())
        yield
        return
    if not _big_decode_slots.acquire(timeout=DECODE_WAIT_S):
        raise InputError(_busy_message())
    try:
        yield
    finally:
        _big_decode_slots.release()


def _load_frame(image: Image.Image) -> Image.Image:
    """Decode the first frame or page and apply the EXIF orientation; damaged files ->
    InputError. Frames are never counted: a TIFF of 40,000 pages would be read page by page."""
    try:
        image.load()
        if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise InputError(_too_many_pixels_message(*image.size)) from None
    except MemoryError:
        raise InputError(_too_much_memory_message()) from None
    except Exception as exc:  # OSError, struct.error, RuntimeError from libavif, ...
        raise InputError(_damaged_message()) from exc
    return image


def _unsupported_mode_message(image: Image.Image) -> str:
    return (
        f"This picture's colour format ({image.mode}) is not supported. "
        "Please save it as an ordinary RGB or greyscale image."
    )


def _shrink(image: Image.Image) -> Image.Image:
    """Scale down to at most WORK_MAX_SIDE on the longer side (area averaging)."""
    width, height = image.size
    if max(width, height) <= WORK_MAX_SIDE:
        return image
    try:
        return _shrink_image(image)
    except (ValueError, OSError) as exc:
        raise InputError(_unsupported_mode_message(image)) from exc


def _shrink_image(image: Image.Image) -> Image.Image:
    width, height = image.size
    factor = max(width, height) / WORK_MAX_SIDE
    if image.mode.startswith("I;16"):
        image = image.convert("I")  # keeps all 16 bits; "I" can be resized
    elif _has_transparency(image):
        if image.mode not in ("LA", "RGBA"):
            image = image.convert("RGBA")  # palette or colour-key transparency
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode not in ("L", "RGB", "F", "I", "CMYK"):
        image = image.convert("RGB")
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


# ---------------------------------------------------------------------------------------------
# Pixels: compact arrays out of the decoder, floats for the ink search


def _image_to_array(image: Image.Image) -> np.ndarray:
    """A decoded image as a compact array: uint8 grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4);
    float32 grey (H, W) in [0, 1] for 16-bit, 32-bit and floating-point pictures."""
    try:
        if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            values = _finite(np.asarray(image).astype(np.float32))
            top = float(values.max()) if values.size else 0.0
            if image.mode.startswith("I;16") or 255 < top <= 65535:
                values = values / 65535.0
            elif top > 1 or image.mode == "I":
                values = values / (top if top > 255 else 255.0)
            return np.clip(values, 0.0, 1.0).astype(np.float32, copy=False)
        if _has_transparency(image):
            return np.asarray(image.convert("RGBA"))
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        return np.asarray(image)
    except (ValueError, OSError) as exc:  # e.g. a colour space Pillow cannot convert
        raise InputError(_unsupported_mode_message(image)) from exc


def _finite(values: np.ndarray) -> np.ndarray:
    """NaN and infinite pixels become background (the median of the others): one +inf pixel
    must not set the scale that every other pixel is divided by."""
    finite = np.isfinite(values)
    if finite.all():
        return values
    values = np.array(values, dtype=np.float32)
    values[~finite] = float(np.median(values[finite])) if finite.any() else 0.0
    return values


def _array_to_float(array: np.ndarray, check: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise InputError(
            f"Expected a grey, RGB or RGBA picture, got an array of shape {array.shape}."
        )
    height, width = array.shape[:2]
    if check:
        _check_dimensions(width, height)
    if not (
        array.dtype == bool
        or np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
    ):
        raise InputError(f"Expected a picture of numbers, got an array of {array.dtype}.")
    unsigned = array.dtype in (np.uint8, np.uint16)
    full_scale = float(np.iinfo(array.dtype).max) if unsigned else None
    if np.issubdtype(array.dtype, np.floating):
        array = _finite(array)
    values = _shrink_array(array).astype(np.float32, copy=False)
    if full_scale is None:  # bool, or numbers in [0, 1] or in [0, 255]
        full_scale = 255.0 if values.size and float(values.max()) > 1.0 else 1.0
    values = np.clip(values / full_scale, 0.0, 1.0)
    if values.ndim == 2:
        return np.repeat(values[..., None], 3, axis=2), None
    if values.shape[2] == 2:  # grey + alpha
        return np.repeat(values[..., :1], 3, axis=2), values[..., 1]
    if values.shape[2] == 4:
        return values[..., :3], values[..., 3]
    return values, None


def _shrink_array(array: np.ndarray) -> np.ndarray:
    """Average blocks so the longer side is at most WORK_MAX_SIDE (float32, same value scale)."""
    height, width = array.shape[:2]
    factor = -(-max(height, width) // WORK_MAX_SIDE)
    if factor <= 1:
        return array
    rows, cols = height // factor, width // factor
    blocks = array[: rows * factor, : cols * factor].reshape(
        rows, factor, cols, factor, *array.shape[2:]
    )
    return blocks.mean(axis=(1, 3), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Decoder warnings: counted per input, summarised in one line, never printed

_notes = threading.local()


def _note(lines: list[str]) -> None:
    sink = getattr(_notes, "sink", None)
    if sink is not None:
        sink.extend(lines)


class _WarningCount:
    def __init__(self):
        self.records: list = []
        self.extra: list[str] = []  # lines a C library wrote to stderr (workers only)

    def summary(self) -> list[str]:
        lines = [str(r.message).strip().splitlines()[0][:120] for r in self.records if r.message]
        lines += self.extra
        if not lines:
            return []
        more = f"{len(lines)} decoder warnings, first" if len(lines) > 1 else "decoder warning"
        return [f"{more}: {lines[0]}"]


@contextlib.contextmanager
def _counted_warnings():
    counted = _WarningCount()
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our cap is lower
        counted.records = records
        yield counted


# ---------------------------------------------------------------------------------------------
# The worker pool (the caller's side)

_FRAME = struct.Struct(">II")  # header length, payload length
_MAX_HEADER = 64 * 1024
_MAX_PAYLOAD = 64 * 1024 * 1024
_RESULT_DTYPES = {"uint8": np.uint8, "float32": np.float32}


class _WorkerFailed(Exception):
    """The worker died or ran out of time: it must be replaced."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _worker_command() -> list[str]:
    return [sys.executable, "-c", "from mimo.decode import _worker_main; _worker_main()"]


def _worker_env() -> dict:
    env = dict(os.environ)
    root = str(config.PROJECT_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"  # a worker needs no thread pools, and their reserved memory counts
    env["MALLOC_ARENA_MAX"] = "2"
    return env


class _Worker:
    """One decoding process, with its request pipe and result pipe."""

    def __init__(self):
        self.process = subprocess.Popen(
            _worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_worker_env(),
            close_fds=True,
            start_new_session=True,  # Ctrl-C in a terminal reaches the caller, not its workers
        )
        self.ready = False

    def _write(self, header: dict, payload: bytes = b"") -> None:
        raw = json.dumps(header).encode()
        try:
            self.process.stdin.write(_FRAME.pack(len(raw), len(payload)) + raw)
            self.process.stdin.write(payload)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise _WorkerFailed(self._death_message()) from None

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self.process.stdout.fileno()
        chunks = []
        while n:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise _WorkerFailed(_too_slow_message())
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                raise _WorkerFailed(self._death_message())
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read(self, deadline: float) -> tuple[dict, bytes]:
        header_len, payload_len = _FRAME.unpack(self._read_exact(_FRAME.size, deadline))
        if header_len > _MAX_HEADER or payload_len > _MAX_PAYLOAD:
            raise _WorkerFailed(_damaged_message())
        header = json.loads(self._read_exact(header_len, deadline))
        return header, self._read_exact(payload_len, deadline)

    def _death_message(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return _damaged_message()
        if code in (-signal.SIGXCPU, -signal.SIGKILL):
            return _too_slow_message()
        if code == -signal.SIGSEGV or code == -signal.SIGABRT:
            return _damaged_message()
        return _damaged_message()

    def wait_ready(self) -> None:
        if not self.ready:
            try:
                header, _ = self._read(time.monotonic() + WORKER_START_S)
            except _WorkerFailed:
                header = {}
            if header.get("op") != "ready":  # the worker could not start: not the file's fault
                raise _WorkerFailed(_no_worker_message())
            self.ready = True

    def decode(self, data: bytes) -> tuple[np.ndarray, bool, list[str]]:
        self.wait_ready()
        limits = {
            "max_pixels": config.MAX_IMAGE_PIXELS,
            "cpu_s": config.MAX_DECODE_CPU_S,
            "memory_mb": config.MAX_DECODE_MEMORY_MB,
        }
        self._write({"op": "decode", **limits}, data)
        slot_held = False
        try:
            deadline = time.monotonic() + DECODE_TIMEOUT_S
            while True:
                header, payload = self._read(deadline)
                if header.get("op") != "slot":
                    break
                slot_held = _big_decode_slots.acquire(timeout=DECODE_WAIT_S)
                self._write({"op": "slot", "granted": slot_held})
                deadline = time.monotonic() + DECODE_TIMEOUT_S
        finally:
            if slot_held:
                _big_decode_slots.release()
        if header.get("error"):
            raise InputError(str(header["error"])[:300])
        return _result_array(header, payload), bool(header.get("mnist_sized")), header["notes"]

    def stop(self, wait_s: float = 1.0) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        with contextlib.suppress(OSError, ValueError):
            self.process.stdout.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.stop(wait_s=5)


def _result_array(header: dict, payload: bytes) -> np.ndarray:
    """The pixels a worker sent, checked: raw bytes of a known dtype and a bounded shape (a
    worker never sends anything that is unpickled or evaluated)."""
    dtype = _RESULT_DTYPES.get(header.get("dtype"))
    shape = tuple(int(n) for n in header.get("shape", ()))
    ok = (
        dtype is not None
        and len(shape) in (2, 3)
        and all(0 < n <= WORK_MAX_SIDE for n in shape[:2])
        and (len(shape) == 2 or shape[2] in (3, 4))
        and math.prod(shape) * np.dtype(dtype).itemsize == len(payload)
    )
    if not ok:
        raise InputError(_damaged_message())
    return np.frombuffer(payload, dtype=dtype).reshape(shape)


class _Pool:
    """Up to config.MAX_BIG_DECODES + 1 workers, started on demand and kept warm."""

    def __init__(self):
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._starting = 0
        self._pid = os.getpid()
        self._closed = False
        self._warming = False
        atexit.register(self.close)

    @staticmethod
    def size() -> int:
        return max(1, config.MAX_BIG_DECODES) + 1

    def _check_pid(self) -> None:
        if self._pid != os.getpid():  # a forked copy of the caller: its workers are not ours
            self._idle, self._all, self._starting, self._pid = [], set(), 0, os.getpid()

    def _acquire(self) -> _Worker:
        deadline = time.monotonic() + DECODE_WAIT_S
        with self._cond:
            self._check_pid()
            while True:
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.size():
                    self._starting += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    raise InputError(_busy_message())
        try:
            worker = _Worker()
        except OSError as exc:
            raise InputError(_no_worker_message()) from exc
        finally:
            with self._cond:
                self._starting -= 1
        with self._cond:
            self._all.add(worker)
        return worker

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed and worker in self._all:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                healthy = False
            self._cond.notify()
        if not healthy:
            worker.kill()

    def decode(self, data: bytes) -> tuple[np.ndarray, bool, list[str]]:
        worker = self._acquire()
        healthy = False
        try:
            result = worker.decode(data)
            healthy = True
            return result
        except InputError:
            healthy = worker.process.poll() is None
            raise
        except _WorkerFailed as failed:
            raise InputError(failed.message) from None
        finally:
            self._release(worker, healthy)

    def warm_soon(self) -> None:
        """Have one worker started and ready, from a background thread (returns at once)."""
        with self._cond:
            if self._warming or self._all or self._closed:
                return
            self._warming = True
        threading.Thread(target=self._warm, name="mimo-decode-warm-up", daemon=True).start()

    def _warm(self) -> None:
        with contextlib.suppress(Exception):
            worker = self._acquire()
            healthy = False
            try:
                worker.wait_ready()
                healthy = True
            except _WorkerFailed:
                pass
            finally:
                self._release(worker, healthy)
        with self._cond:
            self._warming = False

    def close(self) -> None:
        """Stop every worker (at exit). Busy ones are killed."""
        with self._cond:
            self._closed = True
            workers, self._idle = list(self._all), []
            self._all = set()
        for worker in workers:
            worker.stop(wait_s=1.0)

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.process.pid for w in self._all]


_pool = _Pool()


# ---------------------------------------------------------------------------------------------
# The worker process


class _Channel:
    """The worker's side of the pipes."""

    def __init__(self, in_fd: int, out_fd: int):
        self.reader = os.fdopen(in_fd, "rb")
        self.writer = os.fdopen(out_fd, "wb")

    def read(self) -> tuple[dict, bytes] | None:
        head = self.reader.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return None
        header_len, payload_len = _FRAME.unpack(head)
        header = json.loads(self.reader.read(header_len))
        payload = self.reader.read(payload_len)
        if len(payload) < payload_len:
            return None
        return header, payload

    def write(self, header: dict, payload: bytes = b"") -> None:
        raw = json.dumps(header).encode()
        self.writer.write(_FRAME.pack(len(raw), len(payload)) + raw)
        self.writer.write(payload)
        self.writer.flush()

    def ask_for_slot(self) -> bool:
        self.write({"op": "slot"})
        reply = self.read()
        if reply is None:
            sys.exit(0)
        return bool(reply[0].get("granted"))


_worker_channel: _Channel | None = None


def _worker_main() -> None:
    """Serve decode requests on stdin/stdout until stdin closes."""
    global _worker_channel
    import resource
    import tempfile

    # The pipes get private descriptors; fds 0, 1 and 2 go to /dev/null and a scratch file, so
    # nothing a C library prints can mix with the results, or reach anyone's terminal.
    channel = _Channel(os.dup(0), os.dup(1))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    scratch = tempfile.TemporaryFile()  # noqa: SIM115 (open for the worker's whole life)
    os.dup2(scratch.fileno(), 1)
    os.dup2(scratch.fileno(), 2)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    hand_big_buffers_back_when_freed()
    _worker_warm_up()
    memory_mb = config.MAX_DECODE_MEMORY_MB
    limit = _address_space() + memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _worker_channel = channel
    channel.write({"op": "ready", "pid": os.getpid()})
    while True:
        request = channel.read()
        if request is None:
            return
        header, data = request
        config.MAX_IMAGE_PIXELS = int(header.get("max_pixels", config.MAX_IMAGE_PIXELS))
        config.MAX_DECODE_MEMORY_MB = memory_mb
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        cpu_limit = math.ceil(used + float(header.get("cpu_s", config.MAX_DECODE_CPU_S)))
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, hard))
        scratch.seek(0)
        scratch.truncate()
        reply, payload = {"op": "done", "notes": []}, b""
        try:
            array, mnist_sized, notes = _decode_to_array(data)
            array = np.ascontiguousarray(array)
            reply.update(dtype=str(array.dtype), shape=list(array.shape), mnist_sized=mnist_sized)
            reply["notes"] = notes
            payload = array.tobytes()
        except InputError as exc:
            reply["error"] = str(exc)
        except MemoryError:
            reply["error"] = _too_much_memory_message()
        except Exception:  # never let the worker die of a decoder's exception
            reply["error"] = _damaged_message()
        del data
        reply["notes"] = _with_printed_lines(reply["notes"], scratch)
        channel.write(reply, payload)


def _with_printed_lines(notes: list[str], scratch) -> list[str]:
    """Add what C libraries (libtiff, ...) printed while decoding, as one counted line."""
    scratch.flush()
    size = scratch.seek(0, os.SEEK_END)
    if not size:
        return notes
    scratch.seek(0)
    lines = [ln for ln in scratch.read(64 * 1024).decode(errors="replace").splitlines() if ln]
    if notes or not lines:
        return notes
    count = f"{len(lines)}+" if size > 64 * 1024 else str(len(lines))
    return [f"{count} decoder messages, first: {lines[0][:120]}"]


def _worker_warm_up() -> None:
    """Load every decoder once, so the memory limit is counted from a worker that has them."""
    Image.init()
    sample = Image.new("RGB", (16, 16))
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "ICO", "AVIF"):
        with contextlib.suppress(Exception):
            buffer = io.BytesIO()
            sample.save(buffer, fmt)
            _decode_to_array(buffer.getvalue())


def _address_space() -> int:
    """This process's virtual memory size in bytes (VmSize)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


__all__ = [
    "InputError",
    "Pixels",
    "collect_notes",
    "decode",
    "load_image",
    "read_upload_bytes",
    "warm_up",
]
