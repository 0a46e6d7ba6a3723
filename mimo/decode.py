"""Decode any input (upload, file, bytes, array, PIL image) into bounded float pixels.

Every guard on untrusted input lives here: a size cap on the bytes, a pixel cap read from the
header before anything is decoded, Pillow's own decompression-bomb guard, only common raster
formats, the first frame of animations, EXIF orientation applied, big photos decoded at reduced
size, and only a few big pictures decoded at once per process, so memory stays bounded however
many uploads arrive together.

`decode()` returns the pixels as floats in [0, 1] (RGB plus an optional alpha channel), at most
WORK_MAX_SIDE pixels on the longer side; mimo.preprocess finds the digit in them.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mimo import config

MNIST_SIDE = 28  # an input this size is taken to be in MNIST's format already
MIN_SIDE = 8  # smaller images cannot hold a recognisable digit
MAX_ASPECT = 20  # longer/shorter side; beyond that it is a strip, not a digit picture
WORK_MAX_SIDE = 1024  # bigger images are scaled down to this before the ink search
# Decoding a picture this big (after any JPEG draft reduction) takes tens to hundreds of MB for a
# moment; at most config.MAX_BIG_DECODES of them are decoded at once, see _decode_slot().
BIG_DECODE_PIXELS = 4_000_000
DECODE_WAIT_S = 30  # how long a big picture waits for a decoding slot before giving up
MMAP_THRESHOLD = 4 * 1024 * 1024  # buffers this big go back to the system when freed, see below
TRIM_THRESHOLD = 32 * 1024 * 1024  # free memory malloc keeps for reuse before giving it back

ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "ICO", "AVIF")
# The first bytes of the allowed formats (WebP: "RIFF", then "WEBP" at offset 8).
IMAGE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
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
    if isinstance(source, np.ndarray):
        rgb, alpha = _array_to_float(source)
        return Pixels(rgb, alpha, mnist_sized=source.shape[:2] == (MNIST_SIDE, MNIST_SIDE))
    image = load_image(source)
    try:
        rgb, alpha = _image_to_float(image)
    except (ValueError, OSError) as exc:  # e.g. a colour space Pillow cannot convert
        raise InputError(_unsupported_mode_message(image)) from exc
    return Pixels(rgb, alpha, mnist_sized=image.size == (MNIST_SIDE, MNIST_SIDE))


def load_image(source) -> Image.Image:
    """Decode an image from a path, bytes, a file-like object or a PIL image, with all guards.

    Returns a loaded image (first frame, EXIF orientation applied, at most WORK_MAX_SIDE pixels
    on its longer side). Raises InputError for anything unusable.
    """
    if isinstance(source, Image.Image):
        _check_dimensions(*source.size)
        return _shrink(_load_frame(source))
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
    image = _open(data)
    _check_dimensions(*image.size)
    _reduce_while_decoding(image)
    with _decode_slot(*image.size):
        return _shrink(_load_frame(image))


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


# ---------------------------------------------------------------------------------------------
# Reading and decoding


def _read_path(path) -> bytes:
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        _check_byte_count(size)
        with open(name, "rb") as f:
            data = f.read(config.MAX_UPLOAD_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"File not found: {name}") from None
    except IsADirectoryError:
        raise InputError(f"{name} is a folder, not an image file.") from None
    except PermissionError:
        raise InputError(f"No permission to read {name}.") from None
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
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
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
        with contextlib.suppress(OSError, ValueError):  # else decode at full size
            image.draft(image.mode, size)


_big_decode_slots = threading.BoundedSemaphore(max(1, config.MAX_BIG_DECODES))


def _hand_big_buffers_back_when_freed() -> None:
    """Have glibc's malloc put every buffer of MMAP_THRESHOLD bytes or more in a mapping of its
    own, returned to the system when freed.

    By default that threshold grows with the buffers freed (up to 32 MB), after which Pillow's
    16 MB image blocks come from per-thread malloc arenas that keep them: six 25 Mpx WebPs
    decoded one after another, each on its own thread, kept 864 MB resident instead of 430 MB.
    Fixing the threshold also fixes the trim threshold, at 128 kB unless set: that gave the
    small buffers of every prediction back and faulted them in again, doubling preprocessing
    time (2.0 -> 3.9 ms, bench/latency.py); TRIM_THRESHOLD keeps them. Other C libraries and
    systems have no mallopt() or ignore it: nothing to do there.
    """
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD)
        libc.mallopt(m_trim_threshold, TRIM_THRESHOLD)


_hand_big_buffers_back_when_freed()


@contextlib.contextmanager
def _decode_slot(width: int, height: int):
    """Hold one of the process's config.MAX_BIG_DECODES slots while a big picture is decoded.

    One 25 Mpx lossless WebP takes about 430 MB while it is decoded; a server with many
    sessions would otherwise let uploads arriving together add up to gigabytes. Pictures of up
    to BIG_DECODE_PIXELS (every canvas drawing, most photos once JPEG draft mode has reduced
    them) never wait. InputError if no slot frees up within DECODE_WAIT_S.
    """
    if width * height <= BIG_DECODE_PIXELS:
        yield
        return
    if not _big_decode_slots.acquire(timeout=DECODE_WAIT_S):
        raise InputError(
            "The server is busy reading other large pictures. Please try again in a moment, "
            "or use a smaller picture."
        )
    try:
        yield
    finally:
        _big_decode_slots.release()


def _load_frame(image: Image.Image) -> Image.Image:
    """Decode the first frame and apply the EXIF orientation; damaged files -> InputError."""
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)
        image.load()
        if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise InputError(_too_many_pixels_message(*image.size)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise InputError(_damaged_message()) from exc
    except MemoryError:
        raise InputError(_too_many_pixels_message(*image.size)) from None
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
# Pixels as floats


def _image_to_float(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(rgb (H, W, 3) float32 in [0, 1], alpha (H, W) float32 or None)."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image).astype(np.float32)
        top = float(np.nanmax(values)) if values.size else 0.0
        if image.mode.startswith("I;16") or 255 < top <= 65535:
            values = values / 65535.0
        elif top > 1 or image.mode == "I":
            values = values / (top if top > 255 else 255.0)
        grey = np.clip(np.nan_to_num(values), 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=2), None
    if _has_transparency(image):
        pixels = np.asarray(image.convert("RGBA"))
        return _array_to_float(pixels)
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return _array_to_float(np.asarray(image))


def _array_to_float(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise InputError(
            f"Expected a grey, RGB or RGBA picture, got an array of shape {array.shape}."
        )
    height, width = array.shape[:2]
    _check_dimensions(width, height)
    if not (
        array.dtype == bool
        or np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
    ):
        raise InputError(f"Expected a picture of numbers, got an array of {array.dtype}.")
    unsigned = array.dtype in (np.uint8, np.uint16)
    full_scale = float(np.iinfo(array.dtype).max) if unsigned else None
    values = np.nan_to_num(_shrink_array(array).astype(np.float32, copy=False))
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


__all__ = ["InputError", "Pixels", "decode", "load_image", "read_upload_bytes"]
