"""InputError and the user-facing messages of decoding."""

from __future__ import annotations

from mimo import config


class InputError(ValueError):
    """The input cannot be used; the message is meant for the user, as is."""


def megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def damaged_message() -> str:
    return "The image file is damaged or incomplete and could not be read. Please try another file."


def too_slow_message(what: str = "") -> str:
    detail = f" ({what})" if what else ""
    return (
        f"This picture takes too long to read{detail}. "
        "Please save it again as an ordinary PNG or JPEG, or use another picture."
    )


def too_much_memory_message() -> str:
    return (
        f"This picture is too large to read: decoding it needs more than "
        f"{config.MAX_DECODE_MEMORY_MB} MB of memory. Please use a smaller picture."
    )


def too_many_pixels_message(width: int | None = None, height: int | None = None) -> str:
    limit = config.MAX_IMAGE_PIXELS / 1e6
    size = f" ({width} x {height} pixels)" if width else ""
    return (
        f"The image is too large{size}; the limit is {limit:g} million pixels. "
        "Please use a smaller picture."
    )


def no_worker_message() -> str:
    return "The server cannot read pictures right now. Please try again in a moment."


def busy_message() -> str:
    return (
        "The server is busy reading other large pictures. Please try again in a moment, "
        "or use a smaller picture."
    )
