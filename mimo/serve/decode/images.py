"""Decoding with Pillow (in this process or a worker), and pixels out of the decoder:
compact arrays, floats for the ink search; decoder warnings counted, never printed."""

from __future__ import annotations

import contextlib
import io
import threading
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mimo.serve.decode.checks import check_dimensions, not_an_image_message
from mimo.serve.decode.limits import ALLOWED_FORMATS, EXIF_ORIENTATION, MNIST_SIDE, WORK_MAX_SIDE
from mimo.serve.decode.messages import (
    InputError,
    damaged_message,
    too_many_pixels_message,
    too_much_memory_message,
)
from mimo.serve.decode.slots import decode_slot


def decode_image_in_process(image: Image.Image) -> tuple[np.ndarray, bool]:
    """A PIL image a caller opened itself: decoded here (its warnings, if any, are the
    caller's: the process-wide warnings state is left alone)."""
    check_dimensions(*image.size)
    with _failures_as_input_errors(too_many_pixels_message(*image.size)):
        with decode_slot(*image.size):
            loaded = _shrink(_load_frame(image))
        array = _image_to_array(loaded)
    return array, image.size == (MNIST_SIDE, MNIST_SIDE)


def decode_to_array(data: bytes, count_warnings=True) -> tuple[np.ndarray, bool, list[str]]:
    """Bytes -> (compact pixels, mnist_sized, notes), every guard applied. Runs in a worker for
    untrusted bytes (one thread: warnings are caught and counted), in the caller for small
    PNGs (any thread: the process-wide warnings state is left alone)."""
    counting = _counted_warnings() if count_warnings else contextlib.nullcontext(_WarningCount())
    with counting as counted, _failures_as_input_errors(too_much_memory_message()):
        image = _open(data)
        check_dimensions(*image.size)
        mnist_sized = image.size == (MNIST_SIDE, MNIST_SIDE)
        _reduce_while_decoding(image)
        with decode_slot(*image.size):
            image = _shrink(_load_frame(image))
        array = _image_to_array(image)
    return array, mnist_sized, counted.summary()


@contextlib.contextmanager
def _failures_as_input_errors(out_of_memory_message: str):
    """Any decoder or plugin failure is a damaged file for the user; running out of memory gets
    `out_of_memory_message`; an InputError passes as it is."""
    try:
        yield
    except InputError:
        raise
    except MemoryError:
        raise InputError(out_of_memory_message) from None
    except Exception as exc:
        raise InputError(damaged_message()) from exc


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
        raise InputError(too_many_pixels_message()) from None
    except UnidentifiedImageError:
        raise InputError(not_an_image_message(data)) from None
    except MemoryError:
        raise InputError(too_much_memory_message()) from None
    except Exception as exc:  # struct.error, RuntimeError from a codec library, anything else
        raise InputError(damaged_message()) from exc


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


def _load_frame(image: Image.Image) -> Image.Image:
    """Decode the first frame or page and apply the EXIF orientation; damaged files ->
    InputError. Frames are never counted: a TIFF of 40,000 pages would be read page by page."""
    try:
        image.load()
        if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise InputError(too_many_pixels_message(*image.size)) from None
    except MemoryError:
        raise InputError(too_much_memory_message()) from None
    except Exception as exc:  # OSError, struct.error, RuntimeError from libavif, ...
        raise InputError(damaged_message()) from exc
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


def array_to_float(array: np.ndarray, check: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise InputError(
            f"Expected a grey, RGB or RGBA picture, got an array of shape {array.shape}."
        )
    height, width = array.shape[:2]
    if check:
        check_dimensions(width, height)
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


thread_notes = threading.local()


def add_note(lines: list[str]) -> None:
    sink = getattr(thread_notes, "sink", None)
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
