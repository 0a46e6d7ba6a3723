"""Reading bytes, and cheap checks on them before any decoder runs."""

from __future__ import annotations

import os
import stat
import struct

from mimo import config
from mimo.serve.decode.limits import (
    FORMATS_HINT,
    IMAGE_SIGNATURES,
    IN_PROCESS_PNG_BYTES,
    IN_PROCESS_PNG_CHUNKS,
    IN_PROCESS_PNG_SIDE,
    MAX_ASPECT,
    MAX_ICON_SIDE,
    MAX_JPEG_SCANS,
    MIN_SIDE,
    PNG_SIGNATURE,
)
from mimo.serve.decode.messages import (
    InputError,
    damaged_message,
    megabytes,
    too_many_pixels_message,
    too_slow_message,
)


def read_upload_bytes(file_like) -> bytes:
    """All bytes of an uploaded file, refusing (before reading them all) files over the cap."""
    limit = config.MAX_UPLOAD_BYTES
    declared = getattr(file_like, "size", None)
    if isinstance(declared, int):
        check_byte_count(declared)
    if getattr(file_like, "seekable", lambda: False)():
        file_like.seek(0)
    data = file_like.read(limit + 1)
    if not isinstance(data, (bytes, bytearray)):
        raise InputError("The upload could not be read as a file.")
    check_byte_count(len(data))
    return bytes(data)


def source_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        check_byte_count(len(data))
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
        check_byte_count(info.st_size)
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
    check_byte_count(len(data))
    return data


def check_byte_count(n: int) -> None:
    limit = config.MAX_UPLOAD_BYTES
    if n > limit:
        raise InputError(
            f"The file is too large ({megabytes(n)}); the limit is {megabytes(limit)}."
        )


def check_raw(data: bytes) -> None:
    try:
        _check_raw_bytes(data)
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(damaged_message()) from None


def _check_raw_bytes(data: bytes) -> None:
    """Refuse, from a few bytes and without a decoder, what is cheap to see is too big or too
    slow: PNG and GIF headers over the pixel cap, ICOs hiding big pictures, JPEGs with
    thousands of scans (each scan is a pass over every block of the picture)."""
    size = _png_size(data)
    if size is None and data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        size = struct.unpack("<HH", data[6:10])
    if size is not None:
        check_dimensions(*size)
    elif data[:3] == b"\xff\xd8\xff":
        scans = data.count(b"\xff\xda")  # 0xFF in coded data is always followed by 0x00
        if scans > MAX_JPEG_SCANS:
            raise InputError(too_slow_message(f"a JPEG of {scans:,} scans"))
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
            raise InputError(damaged_message())
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


def is_small_png(data: bytes) -> bool:
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


def not_an_image_message(data: bytes) -> str:
    if data.startswith(IMAGE_SIGNATURES) or data[8:12] == b"WEBP":
        return damaged_message()  # starts like an image but its header is broken
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


def check_dimensions(width: int, height: int) -> None:
    if width * height > config.MAX_IMAGE_PIXELS:
        raise InputError(too_many_pixels_message(width, height))
    if min(width, height) < MIN_SIDE:
        raise InputError(
            f"The image is too small ({width} x {height} pixels) to hold a digit; "
            f"it must be at least {MIN_SIDE} pixels on each side."
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(
            f"The image is too long and thin ({width} x {height} pixels) to hold a digit."
        )
