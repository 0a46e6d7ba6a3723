"""Process-wide tuning, called once at start by whoever owns the process; importing does nothing.

- `tune_server_process()`: the Streamlit server (app.py's lifespan; the page's model loader too,
  for runs without the lifespan). Both parts are idempotent.
- `hand_big_buffers_back_when_freed()` (mimo.serve.decode.memory): malloc thresholds, for any
  process that decodes big pictures.
- `keep_keras_state_between_runs()`: the Streamlit patch alone.

The garbage collector's freeze stays where the models are loaded (mimo.app.support), since it
must follow the load.
"""

from __future__ import annotations

import contextlib
import sys

from mimo.serve.decode.memory import hand_big_buffers_back_when_freed


def tune_server_process() -> None:
    """Everything the Streamlit server wants, once, before it loads models or decodes pictures."""
    hand_big_buffers_back_when_freed()
    keep_keras_state_between_runs()


def keep_keras_state_between_runs() -> None:
    """Stop Streamlit from calling keras.backend.clear_session() after every script run.

    Streamlit does it for apps that build models inside the script. Ours are built once per
    server and shared by all sessions; clearing cost a full garbage collection and TensorFlow's
    compiled functions on every rerun, holding the GIL (measured with `python -m bench.load`),
    which made the server serve one session at a time. Streamlit's other
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
