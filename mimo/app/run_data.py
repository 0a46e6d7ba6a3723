"""The Dashboards page's data, cached: a run's view, its per-example predictions, embedding and
gradient agreement, its label in a picker, and the one-time completion of runs from before
predictions and embeddings were recorded.

Every cache is keyed by the registry, the run id and the stamps (size, modification time) of the
files it reads, so a run that changes on disk (a note saved, a file computed) is read again and
nothing else is. Predictions and embeddings are shared read-only between sessions
(st.cache_resource: no copy per rerun). Completing a run (mimo.train.backfill) loads TensorFlow,
the model and the test data; it runs once per run and server, the second session waiting for the
first, and what it computes is stored in the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from mimo.runs import agreement, artifacts, embedding, examples
from mimo.runs import view as dashboard
from mimo.runs.notes import read_notes
from mimo.runs.registry import Registry
from mimo.runs.view import RunView
from mimo.train.config import complete_settings

VIEW_CACHE_ENTRIES = 32  # run views (small: no per-example arrays)
LABEL_CACHE_ENTRIES = 256  # run.json and tags, for the pickers' labels
EXAMPLES_CACHE_ENTRIES = 12  # a few MB each
FIGURE_CACHE_ENTRIES = 64  # built figures (grids, projector): a few hundred kB each
_completing: dict[str, threading.Lock] = {}  # run id -> held while its extras are computed
_completing_guard = threading.Lock()


def file_stamp(path: Path) -> tuple:
    """(size, mtime) of a file, () when it is missing: part of a cache key."""
    try:
        st_ = Path(path).stat()
    except OSError:
        return ()
    return (st_.st_size, st_.st_mtime_ns)


# -------------------------------------------------------------------------------------------
# Views and labels


@st.cache_data(show_spinner="Loading the run…", max_entries=VIEW_CACHE_ENTRIES)
def _run_view(root: str, run_id: str, stamp: tuple) -> RunView:
    return dashboard.load_run_view(Registry(root).runs_dir / run_id, run_id)


def run_view(registry: Registry, run_id: str) -> RunView:
    run_dir = registry.runs_dir / run_id
    return _run_view(str(registry.root), run_id, dashboard.artifact_fingerprint(run_dir))


@st.cache_data(show_spinner=False, max_entries=LABEL_CACHE_ENTRIES)
def _label_parts(root: str, run_id: str, stamp: tuple) -> tuple[dict, tuple[str, ...], dict]:
    run_dir = Registry(root).runs_dir / run_id
    return dashboard.read_run_info(run_dir), read_notes(run_dir).tags, read_config(run_dir)


def read_config(run_dir: Path) -> dict:
    """config.json with every field of this version (settings added since the run was trained
    take their defaults: mimo.train.config.complete_settings), so runs of every age compare on
    the same keys; an empty dict if it cannot be read."""
    try:
        config = artifacts.read_json(run_dir, artifacts.CONFIG)
    except (OSError, ValueError):
        return {}
    return complete_settings(config) if isinstance(config, dict) else {}


def run_labels(registry: Registry, run_ids: list[str]) -> dict[str, str]:
    """Run id -> how it appears in a picker (mimo.runs.view.run_label)."""
    active = set(registry.active_ids().values())
    labels = {}
    for run_id in run_ids:
        folder = registry.runs_dir / run_id
        stamp = tuple(
            file_stamp(folder / name)
            for name in (artifacts.RUN_INFO, artifacts.NOTES, artifacts.CONFIG)
        )
        info, tags, config = _label_parts(str(registry.root), run_id, stamp)
        labels[run_id] = dashboard.run_label(run_id, info, run_id in active, tags, config)
    return labels


# -------------------------------------------------------------------------------------------
# Per-example predictions and the embedding


@st.cache_resource(show_spinner=False, max_entries=EXAMPLES_CACHE_ENTRIES)
def _examples(root: str, run_id: str, model: str, stamp: tuple) -> examples.Examples:
    return examples.read(Registry(root).runs_dir / run_id, model)


@st.cache_resource(show_spinner=False, max_entries=EXAMPLES_CACHE_ENTRIES)
def _embedding(root: str, run_id: str, stamp: tuple) -> embedding.Embedding:
    return embedding.read(Registry(root).runs_dir / run_id)


def _lock_for(run_id: str) -> threading.Lock:
    with _completing_guard:
        return _completing.setdefault(run_id, threading.Lock())


def complete(registry: Registry, run_id: str) -> str | None:
    """Compute the run's missing predictions and embedding once (with a spinner) and store
    them in the run; None when done, else why not, in one sentence."""
    from mimo.train.backfill import missing_extras

    run_dir = registry.runs_dir / run_id
    if not missing_extras(run_dir):
        return None
    with _lock_for(run_id):  # a second session waits here, then finds the files written
        if not missing_extras(run_dir):
            return None
        message = (
            f"Computing the per-example test predictions and the embedding of {run_id} once "
            "(the run was trained before they were recorded; this takes a minute or two)…"
        )
        try:
            with st.spinner(message):
                from mimo.train.backfill import complete_run

                complete_run(run_dir, registry.run(run_id).model)
        except Exception as exc:  # the page says so and shows everything else
            return f"The per-example predictions of {run_id} cannot be computed here: {exc}"
    return None


def examples_key(registry: Registry, run_id: str) -> tuple:
    """What a figure drawn from the run's per-example predictions depends on: a cache key."""
    path = registry.runs_dir / run_id / artifacts.PREDICTIONS
    return (str(registry.root), run_id, file_stamp(path))


def run_examples(registry: Registry, run_id: str) -> tuple[examples.Examples | None, str | None]:
    """(the run's per-example predictions, None) or (None, why they cannot be shown)."""
    problem = complete(registry, run_id)
    path = registry.runs_dir / run_id / artifacts.PREDICTIONS
    try:
        model = registry.run(run_id).model
        return _examples(str(registry.root), run_id, model, file_stamp(path)), None
    except FileNotFoundError:
        return None, problem or f"{artifacts.PREDICTIONS} is missing from run {run_id}."
    except Exception as exc:  # a damaged file or a run gone meanwhile: said, never raised
        return None, f"{artifacts.PREDICTIONS} in run {run_id} cannot be read ({exc})."


def run_embedding(registry: Registry, run_id: str) -> tuple[embedding.Embedding | None, str | None]:
    """(the run's embedding, None) or (None, why it cannot be shown)."""
    problem = complete(registry, run_id)
    path = registry.runs_dir / run_id / artifacts.EMBEDDING
    try:
        return _embedding(str(registry.root), run_id, file_stamp(path)), None
    except FileNotFoundError:
        return None, problem or f"{artifacts.EMBEDDING} is missing from run {run_id}."
    except Exception as exc:  # a damaged file: said, never raised
        return None, f"{artifacts.EMBEDDING} in run {run_id} cannot be read ({exc})."


@st.cache_data(show_spinner=False, max_entries=LABEL_CACHE_ENTRIES)
def _agreement(root: str, run_id: str, model: str, stamp: tuple) -> agreement.Agreement:
    return agreement.read(Registry(root).runs_dir / run_id, model)


def run_agreement(registry: Registry, run_id: str) -> tuple[agreement.Agreement | None, str | None]:
    """(the run's gradient agreement, None) or (None, why there is none: words to end a
    sentence with)."""
    path = registry.runs_dir / run_id / artifacts.AGREEMENT
    try:
        model = registry.run(run_id).model
        return _agreement(str(registry.root), run_id, model, file_stamp(path)), None
    except FileNotFoundError:
        return None, "this run did not record it (it was trained before runs recorded it)"
    except Exception as exc:  # a damaged file or a run gone meanwhile: said, never raised
        return None, f"its {artifacts.AGREEMENT} cannot be read ({exc})"


# -------------------------------------------------------------------------------------------
# Figures


@st.cache_data(show_spinner=False, max_entries=FIGURE_CACHE_ENTRIES)
def _figure(key: tuple, _build: Callable):
    return _build()


def figure(key: tuple, build: Callable):
    """build() once per key: a figure from run files (their stamps in the key) and choices."""
    return _figure(key, build)
