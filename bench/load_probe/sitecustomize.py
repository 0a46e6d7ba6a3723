"""bench/load.py's probe, on the server's PYTHONPATH so that Python imports it at start-up.

Times model loads, script runs, Streamlit's post-run cleanup, full garbage collections,
preprocessing, predictions and charts in the Streamlit server, one tagged JSON line on stderr per
call. MIMO_LOAD_WHAT_IF (comma-separated) tries fixes.
"""

import contextlib
import functools
import gc
import importlib.abc
import json
import os
import sys
import threading
import time

# bench/load.py sets the tag it looks for in the server's log.
TAG = os.environ.get("MIMO_LOAD_PROBE_TAG", "")
WHAT_IF = set(filter(None, os.environ.get("MIMO_LOAD_WHAT_IF", "").split(",")))


def _emit(record):
    try:
        sys.stderr.write(TAG + json.dumps(record) + "\n")
        sys.stderr.flush()
    except Exception:
        pass


def _timed(event, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start, wall, cpu = time.time(), time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            _emit(
                {
                    "event": event,
                    "start": start,
                    "wall_ms": (time.perf_counter() - wall) * 1000,
                    "cpu_ms": (time.thread_time() - cpu) * 1000,
                    "thread": threading.get_ident(),
                }
            )

    return wrapper


def _freeze_after(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        gc.collect()
        gc.freeze()  # what-if gc-freeze: full collections skip everything loaded so far
        return result

    return wrapper


def _predictor(module):
    init = module.Predictor.__init__
    if "gc-freeze" in WHAT_IF:
        init = _freeze_after(init)
    module.Predictor.__init__ = _timed("models_loaded", init)
    module.Predictor.predict = _timed("predict", module.Predictor.predict)


def _preprocess(module):
    module.prepare = _timed("prepare", module.prepare)


def _clean_problem_modules_but_keras():
    """Streamlit's post-run cleanup without keras.backend.clear_session()."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        with contextlib.suppress(Exception):
            pyplot.close("all")


def _script_runner(module):
    module.exec_func_with_error_handling = _timed(
        "script_run", module.exec_func_with_error_handling
    )
    cleanup = module._clean_problem_modules
    if "keep-keras-session" in WHAT_IF:
        cleanup = _clean_problem_modules_but_keras
    module._clean_problem_modules = _timed("post_run_cleanup", cleanup)


def _plotly_chart(module):
    module.PlotlyMixin.plotly_chart = _timed("plotly_chart", module.PlotlyMixin.plotly_chart)


PATCHES = {
    "mimo.serve.predictor": _predictor,
    "mimo.serve.preprocess": _preprocess,
    "streamlit.runtime.scriptrunner.script_runner": _script_runner,
    "streamlit.elements.plotly_chart": _plotly_chart,
}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        patch = PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            try:
                patch(module)
            except Exception as exc:
                _emit({"event": "probe_error", "module": fullname, "error": repr(exc)})

        spec.loader.exec_module = exec_and_patch
        return spec


_full_collections = {}


def _time_full_collections(phase, info):
    """gc callback: every generation-2 (full) collection, which holds the GIL throughout."""
    if info.get("generation") != 2:
        return
    thread = threading.get_ident()
    if phase == "start":
        _full_collections[thread] = (time.time(), time.perf_counter())
    elif thread in _full_collections:
        start, wall = _full_collections.pop(thread)
        _emit(
            {
                "event": "full_gc",
                "start": start,
                "wall_ms": (time.perf_counter() - wall) * 1000,
                "cpu_ms": None,
                "thread": thread,
            }
        )


gc.callbacks.append(_time_full_collections)
sys.meta_path.insert(0, _PatchAfterImport())
_emit({"event": "probe_ready", "start": time.time(), "pid": os.getpid(), "what_if": list(WHAT_IF)})
