"""Process-wide tuning, called once at start by whoever owns the process; importing does nothing.

- `tune_server_process()`: the Streamlit server (app.py's lifespan; the page's model loader too,
  for runs without the lifespan). Both parts are idempotent.
- `hand_big_buffers_back_when_freed()`: malloc thresholds, for any process that decodes big
  pictures (the server, `python -m mimo predict`, each decoding worker).
- `keep_keras_state_between_runs()`: the Streamlit patch alone.

The garbage collector's freeze stays where the models are loaded (mimo.app.support), since it
must follow the load.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

MMAP_THRESHOLD = 4 * 1024 * 1024  # buffers this big go back to the system when freed, see below
TRIM_THRESHOLD = 32 * 1024 * 1024  # free memory malloc keeps for reuse before giving it back


def tune_server_process() -> None:
    """Everything the Streamlit server wants, once, before it loads models or decodes pictures."""
    hand_big_buffers_back_when_freed()
    keep_keras_state_between_runs()


def hand_big_buffers_back_when_freed() -> None:
    """Have glibc's malloc put every buffer of MMAP_THRESHOLD bytes or more in a mapping of its
    own, returned to the system when freed.

    By default that threshold grows with the buffers freed (up to 32 MB), after which Pillow's
    16 MB image blocks come from per-thread malloc arenas that keep them: six 25 Mpx WebPs
    decoded one after another, each on its own thread, kept 864 MB resident instead of 430 MB.
    Fixing the threshold also fixes the trim threshold, at 128 kB unless set: that gave the
    small buffers of every prediction back and faulted them in again, doubling preprocessing
    time (2.0 -> 3.9 ms, bench/latency.py); TRIM_THRESHOLD keeps them. Other C libraries and
    systems have no mallopt() or ignore it: nothing to do there. Setting it twice is harmless.
    """
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD)
        libc.mallopt(m_trim_threshold, TRIM_THRESHOLD)


def keep_keras_state_between_runs() -> None:
    """Stop Streamlit from calling keras.backend.clear_session() after every script run.

    Streamlit does it for apps that build models inside the script. Ours are built once per
    server and shared by all sessions; clearing cost a full garbage collection and TensorFlow's
    compiled functions on every rerun (about 0.3 s holding the GIL, measured with
    bench/load.py), which made the server serve one session at a time. Streamlit's other
    cleanup (closing matplotlib figures) is kept. This patches a private Streamlit function
    (`script_runner._clean_problem_modules`); calling it again does nothing.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if getattr(script_runner._clean_problem_modules, "keeps_keras_state", False):
        return

    def clean_problem_modules_but_keras() -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            with contextlib.suppress(Exception):
                pyplot.close("all")

    clean_problem_modules_but_keras.keeps_keras_state = True
    script_runner._clean_problem_modules = clean_problem_modules_but_keras
