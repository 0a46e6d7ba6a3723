"""Turn any input (canvas, array, upload, file, bytes) into the 28x28 digit each model sees.

The steps follow the original MNIST preparation:

1. Decode safely (`load_image`): size cap on the bytes, pixel cap read from the header before
   anything is decoded, Pillow's own decompression-bomb guard, only common raster formats,
   first frame of animations, EXIF orientation applied, big photos decoded at reduced size,
   and only a few big pictures decoded at once per process, so memory stays bounded however
   many uploads arrive together.
2. Find the ink: a strength map in [0, 1] where the background is 0. Transparent images use
   their alpha channel; opaque ones are compared with the background estimated from the
   border (for photos of paper, a coarse local paper level so uneven lighting is not taken for
   ink), so dark ink on light paper is inverted. The background noise level, measured on the border,
   is subtracted and the result normalised by the typical stroke strength.
3. Crop to the ink's bounding box (tiny specks away from the digit are ignored), fit it into
   20x20 keeping the aspect ratio and paste it into 28x28 with its centre of mass at (14, 14).

`grey` is that 28x28 map (sum model input); `rgb` is the map times the ink colour scaled so its
brightest channel is 1, on black (colour model input).
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

SIZE = 28  # output side, as in MNIST
BOX = 20  # the digit is fitted into BOX x BOX, as in MNIST
CENTRE = 14.0  # where the centre of mass goes (row, column index), as in MNIST

MIN_SIDE = 8  # smaller images cannot hold a recognisable digit
MAX_ASPECT = 20  # longer/shorter side; beyond that it is a strip, not a digit picture
WORK_MAX_SIDE = 1024  # bigger images are scaled down to this before the ink search
# Decoding a picture this big (after any JPEG draft reduction) takes tens to hundreds of MB for a
# moment; at most config.MAX_BIG_DECODES of them are decoded at once, see _decode_slot().
BIG_DECODE_PIXELS = 4_000_000
DECODE_WAIT_S = 30  # how long a big picture waits for a decoding slot before giving up
MMAP_THRESHOLD = 4 * 1024 * 1024  # buffers this big go back to the system when freed, see below
TRIM_THRESHOLD = 32 * 1024 * 1024  # free memory malloc keeps for reuse before giving it back

# Ink detection
MIN_CONTRAST = 0.12  # weakest stroke (0-1 brightness difference) still counted as ink
BORDER_FRACTION = 0.05  # ring of the image used to measure the background
BORDER_NOISE_PERCENTILE = 97  # the background's noise level, robust to a stroke touching the edge
STROKE_PERCENTILE = 75  # the stroke strength that maps to 1.0
LOCAL_BACKGROUND_MIN_SIDE = 64  # smaller images use one background level
LOCAL_BACKGROUND_CELLS = 8  # grid cells along the shorter side for the local background
MAX_INK_COVERAGE = 0.55  # more "ink" than this is not a digit (e.g. paper on a dark table)
MASK_LEVEL = 0.2  # normalised strength above which a pixel counts for the bounding box
FAINT_LEVEL = 0.05  # normalised strength of the faint edges kept around the box
FAINT_EDGE_FRACTION = 0.02  # how far (part of the side) the box grows over faint edges
SPECK_FRACTION = 0.005  # ink mass trimmed from each end before growing the box back
# Stroke width relative to the digit's longer side, measured on MNIST digits scaled to 200 px:
THIN_STROKE = 0.045  # 5th percentile: thinner strokes are widened ...
TYPICAL_STROKE = 0.065  # ... to about the median (0.069)
THICKEN_MIN_SIDE = 48  # smaller crops are too coarse to measure stroke widths
MIN_DIGIT_FRACTION = 0.03  # the ink's extent must be at least this part of the shorter side
DARK_INK_LEVEL = 0.25  # transparent images whose ink is darker than this carry it in alpha
COLOUR_CORE_LEVEL = 0.5  # pixels this strong define the ink colour

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
class PreparedDigit:
    rgb: np.ndarray  # (28, 28, 3) float32 in [0, 1], black background: colour model input
    grey: np.ndarray  # (28, 28) float32 in [0, 1], white on black: sum model input
    ink_rgb: tuple[int, int, int]  # the mean colour of the ink as drawn, 0-255


# ---------------------------------------------------------------------------------------------
# Public API


def prepare(source) -> PreparedDigit:
    """Any supported input -> PreparedDigit. Raises InputError with a user-facing message.

    source: numpy array (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA (e.g. a drawing canvas's
    image_data), a PIL image, a path (str or os.PathLike), bytes, or a binary file-like object
    with .read() (e.g. a Streamlit UploadedFile).
    """
    if isinstance(source, np.ndarray):
        rgb, alpha = _array_to_float(source)
        already_mnist = source.shape[:2] == (SIZE, SIZE)
    else:
        image = load_image(source)
        already_mnist = image.size == (SIZE, SIZE)
        try:
            rgb, alpha = _image_to_float(image)
        except (ValueError, OSError) as exc:  # e.g. a colour space Pillow cannot convert
            raise InputError(_unsupported_mode_message(image)) from exc
    strength, colour_source = _ink_strength(rgb, alpha)
    ink = _normalise(strength)
    ink_rgb = _ink_colour(ink, colour_source)
    grey = _frame(ink, mnist_sized=already_mnist)
    scale = np.asarray(ink_rgb, np.float32)
    scale = scale / scale.max() if scale.max() >= 10 else np.ones(3, np.float32)
    rgb_out = np.clip(grey[..., None] * scale, 0.0, 1.0).astype(np.float32)
    return PreparedDigit(rgb=rgb_out, grey=grey, ink_rgb=ink_rgb)


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


# ---------------------------------------------------------------------------------------------
# Finding the ink


def _border(values: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring (BORDER_FRACTION of the shorter side, at least 1 pixel)."""
    height, width = values.shape[:2]
    ring = max(1, round(min(height, width) * BORDER_FRACTION))
    return np.concatenate(
        [
            values[:ring].reshape(-1, *values.shape[2:]),
            values[-ring:].reshape(-1, *values.shape[2:]),
            values[ring:-ring, :ring].reshape(-1, *values.shape[2:]),
            values[ring:-ring, -ring:].reshape(-1, *values.shape[2:]),
        ]
    )


def _ink_strength(rgb: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(raw ink strength >= 0 per pixel, the colours to take the ink colour from)."""
    if alpha is not None and float(alpha.min()) < 0.98:
        if float(np.median(_border(alpha))) < 0.5:
            # Transparent background (drawing canvas, cut-out): the ink is what is opaque.
            brightness = _channel_max(rgb)
            mass = float(alpha.sum())
            if mass > 0 and float((alpha * brightness).sum()) < DARK_INK_LEVEL * mass:
                return alpha, rgb  # dark ink: only the alpha channel tells where it is
            rgb = rgb * alpha[..., None]  # as shown on a black background
        else:
            # Opaque background with transparent holes: fill them with the background colour.
            background = np.median(_border(rgb), axis=0)
            rgb = rgb * alpha[..., None] + background * (1.0 - alpha[..., None])
    border = _border(rgb)
    border_luminance = float(np.median(border[:, 0] + border[:, 1] + border[:, 2])) / 3
    if border_luminance > 0.5:
        # Dark ink on light paper: the darkest channel picks up black, blue, red or green ink.
        lightness = _channel_min(rgb)
        return np.maximum(_paper_level(lightness) - lightness, 0.0), rgb
    # Light ink on a dark background (drawing canvas, MNIST style, screenshots): these are
    # evenly lit, so one background level is safest (very bold strokes cannot fool it).
    brightness = _channel_max(rgb)
    background = float(np.median(_channel_max(border)))
    return np.maximum(brightness - background, 0.0), rgb


def _channel_max(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel max over the 3 channels (much faster than rgb.max(axis=2))."""
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _channel_min(rgb: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _paper_level(values: np.ndarray) -> np.ndarray | float:
    """The paper's brightness: one value from the border, or a smooth map for big images.

    Photos of paper are unevenly lit. The map is a high percentile per grid cell (the paper
    between the strokes), raised to the neighbouring cells' median where a cell is mostly
    covered by a bold stroke.
    """
    height, width = values.shape
    if min(height, width) < LOCAL_BACKGROUND_MIN_SIDE:
        return float(np.median(_border(values)))
    cell = max(8, min(height, width) // LOCAL_BACKGROUND_CELLS)
    rows, cols = height // cell, width // cell
    blocks = values[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell)
    blocks = blocks.transpose(0, 2, 1, 3).reshape(rows, cols, cell * cell)
    grid = np.percentile(blocks, 90, axis=2).astype(np.float32)
    padded = np.pad(grid, 1, mode="edge")
    neighbours = np.stack(
        [padded[r : r + rows, c : c + cols] for r in range(3) for c in range(3)], axis=0
    )
    grid = np.maximum(grid, np.median(neighbours, axis=0))
    smooth = Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(smooth, dtype=np.float32)


def _normalise(strength: np.ndarray) -> np.ndarray:
    """Subtract the background noise level, scale typical strokes to 1; blank -> InputError."""
    if float(strength.max()) < MIN_CONTRAST:
        if float(np.ptp(strength)) < 1e-3:
            raise InputError(
                "No digit found: the image is blank (a single flat colour). "
                "Please draw or upload one digit."
            )
        raise InputError(
            "No digit found: nothing stands out clearly from the background. "
            "Please use darker ink on light paper, or bright strokes on a dark background."
        )
    floor = float(np.percentile(_border(strength), BORDER_NOISE_PERCENTILE))
    candidates = strength[strength > floor + MIN_CONTRAST]
    if candidates.size == 0:
        raise InputError(
            "No digit found: the image looks like noise or texture only. "
            "Please draw or upload one clear digit."
        )
    top = float(np.percentile(candidates, STROKE_PERCENTILE))
    ink = np.clip((strength - floor) / max(top - floor, 1e-6), 0.0, 1.0)
    if float(np.mean(ink >= 0.5)) > MAX_INK_COVERAGE:
        raise InputError(
            "Could not find a single digit: most of the picture differs from its edges "
            "(for example paper that does not fill the photo). "
            "Please crop the picture closer to the digit."
        )
    return ink.astype(np.float32, copy=False)


def _ink_colour(ink: np.ndarray, colours: np.ndarray) -> tuple[int, int, int]:
    core = ink >= COLOUR_CORE_LEVEL
    weights = ink[core]
    mean = (colours[core] * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1e-6)
    return tuple(int(round(float(c) * 255)) for c in np.clip(mean, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------
# Framing like MNIST


def _ink_span(profile: np.ndarray, faint: np.ndarray) -> tuple[int, int] | None:
    """[start, stop) of the ink along one axis, ignoring small separate specks at the ends.

    profile: the ink mass per row (or column) of clear ink; faint: the same for any trace of
    ink, used to take back the digit's own faint edges.
    """
    total = float(profile.sum())
    if total <= 0:
        return None
    cumulative = np.cumsum(profile) / total
    start = int(np.searchsorted(cumulative, SPECK_FRACTION, side="right"))
    stop = int(np.searchsorted(cumulative, 1.0 - SPECK_FRACTION, side="left")) + 1
    stop = min(max(stop, start + 1), len(profile))
    while start > 0 and profile[start - 1] > 0:  # the rest of the digit touching the span
        start -= 1
    while stop < len(profile) and profile[stop] > 0:
        stop += 1
    edge = max(1, round(len(profile) * FAINT_EDGE_FRACTION))
    for _ in range(edge):  # anti-aliased edges, a pixel or two
        if start > 0 and faint[start - 1] > 0:
            start -= 1
        if stop < len(profile) and faint[stop] > 0:
            stop += 1
    return start, stop


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask: twice the area over the boundary length."""
    area = int(mask.sum())
    boundary = int((mask[:, 1:] != mask[:, :-1]).sum() + (mask[1:] != mask[:-1]).sum())
    boundary += int(mask[:, 0].sum() + mask[:, -1].sum() + mask[0].sum() + mask[-1].sum())
    return 2.0 * area / max(boundary, 1)


def _thicken(crop: np.ndarray) -> np.ndarray:
    """Widen strokes much thinner than MNIST's (thin pen, small brush) before scaling down.

    Widths are relative to the longer side of the digit; a grey dilation (max filter) brings
    thin strokes to a typical MNIST width. Small crops are left alone (too coarse to measure).
    """
    side = max(crop.shape)
    if side < THICKEN_MIN_SIDE:
        return crop
    width = _stroke_width(crop >= 0.5) / side
    if width >= THIN_STROKE:
        return crop
    radius = int(np.ceil((TYPICAL_STROKE - width) * side / 2))
    padded = np.pad(crop, radius)
    return _max_filter(_max_filter(padded, radius, axis=0), radius, axis=1)


def _max_filter(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Max over a window of 2*radius+1 along one axis (edges padded with zeros already)."""
    out = values.copy()
    moved, result = np.moveaxis(values, axis, 0), np.moveaxis(out, axis, 0)
    for shift in range(1, radius + 1):
        np.maximum(result[shift:], moved[:-shift], out=result[shift:])
        np.maximum(result[:-shift], moved[shift:], out=result[:-shift])
    return out


def _frame(ink: np.ndarray, mnist_sized: bool) -> np.ndarray:
    """Crop to the ink, fit into BOX x BOX, centre the mass in SIZE x SIZE (float32).

    mnist_sized: the input was already 28x28. A digit that already fits the box is then not
    resampled, and stays where it is if its centre of mass is within a pixel of the centre.
    """
    rows, cols = _ink_box(ink)
    crop = ink[rows[0] : rows[1], cols[0] : cols[1]]
    keep = mnist_sized and max(crop.shape) <= BOX
    if not keep:
        crop = _fit(_thicken(crop))
    mass = float(crop.sum())
    if mass <= 0:
        raise InputError("No digit found: the ink is too faint. Please draw or upload a digit.")
    height, width = crop.shape
    cy = float((crop.sum(axis=1) * np.arange(height)).sum()) / mass
    cx = float((crop.sum(axis=0) * np.arange(width)).sum()) / mass
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - height))
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - width))
    if keep and abs(rows[0] + cy - CENTRE) <= 1 and abs(cols[0] + cx - CENTRE) <= 1:
        top, left = rows[0], cols[0]
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + height, left : left + width] = crop
    return out


def _ink_box(ink: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """(rows, cols) [start, stop) of the digit; a blank or a tiny mark -> InputError."""
    mask = ink * (ink >= MASK_LEVEL)
    faint = ink * (ink >= FAINT_LEVEL)
    rows = _ink_span(mask.sum(axis=1), faint.sum(axis=1))
    cols = _ink_span(mask.sum(axis=0), faint.sum(axis=0))
    extent = 0 if rows is None or cols is None else max(rows[1] - rows[0], cols[1] - cols[0])
    if extent < max(3, MIN_DIGIT_FRACTION * min(ink.shape)):
        raise InputError(
            "No digit found: there is only a tiny mark. Please draw or upload a bigger digit."
        )
    return rows, cols


def _fit(crop: np.ndarray) -> np.ndarray:
    """Resize so the longer side is BOX, keeping the aspect ratio (Lanczos, antialiased)."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32))
    resized = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


__all__ = ["InputError", "PreparedDigit", "prepare", "load_image", "read_upload_bytes"]
