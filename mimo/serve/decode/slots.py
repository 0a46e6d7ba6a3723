"""At most config.MAX_BIG_DECODES big pictures decoded at once per server process."""

from __future__ import annotations

import contextlib
import threading

from mimo import config
from mimo.serve.decode.limits import BIG_DECODE_PIXELS, DECODE_WAIT_S
from mimo.serve.decode.messages import InputError, busy_message
from mimo.serve.decode.protocol import Channel

big_decode_slots = threading.BoundedSemaphore(max(1, config.MAX_BIG_DECODES))


@contextlib.contextmanager
def decode_slot(width: int, height: int):
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
    if worker_channel is not None:
        if not worker_channel.ask_for_slot():
            raise InputError(busy_message())
        yield
        return
    if not big_decode_slots.acquire(timeout=DECODE_WAIT_S):
        raise InputError(busy_message())
    try:
        yield
    finally:
        big_decode_slots.release()


worker_channel: Channel | None = None
