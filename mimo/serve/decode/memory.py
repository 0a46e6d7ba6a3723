"""Big decode buffers go back to the system when freed: glibc's malloc thresholds, set once.

Called once at start by every process that decodes big pictures: the Streamlit server (through
mimo.app.process_tuning), `python -m mimo predict`, and each decoding worker. Importing does
nothing.
"""

from __future__ import annotations

import contextlib
import ctypes

MMAP_THRESHOLD = 4 * 1024 * 1024  # buffers this big get a mapping of their own, see below
TRIM_THRESHOLD = 32 * 1024 * 1024  # free memory malloc keeps for reuse before giving it back


def hand_big_buffers_back_when_freed() -> None:
    """Have glibc's malloc put every buffer of MMAP_THRESHOLD bytes or more in a mapping of its
    own, returned to the system when freed.

    By default that threshold grows with the buffers freed (up to 32 MB), after which Pillow's
    16 MB image blocks come from per-thread malloc arenas that keep them: big pictures decoded
    one after another on different threads then stay resident. Fixing the threshold also fixes
    the trim threshold, at 128 kB unless set, which would give the small buffers of every
    prediction back and fault them in again (slower preprocessing, `python -m bench.latency`);
    TRIM_THRESHOLD keeps them. Other C libraries and systems have no mallopt() or ignore it:
    nothing to do there. Setting it twice is harmless.
    """
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD)
        libc.mallopt(m_trim_threshold, TRIM_THRESHOLD)
