"""Test digits on the Dashboards page, example by example: the sample grid (a random sample by
default, "mistakes only" as a filter, with the run's true counts beside it) and the run diff
(which test digits run B fixed and which it broke compared with run A).

Both read the runs' per-example predictions (mimo.runs.examples). A run without them falls back
to its stored sample (samples.npz), which over-represents mistakes, and says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from mimo.app.plots.samples import samples_grid_figure
from mimo.app.run_data import figure
from mimo.runs import examples as per_example
from mimo.runs.examples import Examples
from mimo.runs.view import HEAD_TITLES, RunView, percent
from mimo.tasks import task

RUN_DIFF_KEY = "run-diff"  # the container of the fixed/broken grids, for the page's checks
SAMPLE_SHOWN = (10, 100, 30, 10)  # the grid's size slider: min, max, default, step
DIFF_GRID_LIMIT = 40  # digits shown per grid of the run diff
REDRAW = "dash_sample_draw"  # session state: which random draw the grid shows


# -------------------------------------------------------------------------------------------
# The sample grid


def sample_choices_ui() -> tuple[bool, int]:
    left, middle, right = st.columns([1, 2, 1])
    mistakes_only = left.toggle(
        "Mistakes only", key="dash_mistakes_only", help="Draw from the run's mistakes only."
    )
    low, high, default, step = SAMPLE_SHOWN
    limit = middle.slider("Digits shown", low, high, default, step=step, key="dash_sample_limit")
    if right.button("Draw another sample", key="dash_sample_redraw"):
        st.session_state[REDRAW] = st.session_state.get(REDRAW, 0) + 1
    return mistakes_only, limit


def counts_words(examples: Examples) -> str:
    """'54 of 10,000 test digits wrong (0.54%): digit 54, colour 0.'"""
    wrong = examples.wrong_count()
    heads = ", ".join(
        f"{HEAD_TITLES[h].lower()} {examples.wrong_count(h):,}" for h in examples.heads
    )
    share = percent(wrong / examples.n)
    return f"{wrong:,} of {examples.n:,} test digits wrong ({share}): {heads}."


def sample_grid_ui(
    view: RunView, examples: Examples | None, mistakes_only: bool, limit: int, key: tuple = ()
):
    """The grid; key: the examples' cache key (mimo.app.run_data.examples_key)."""
    if examples is None:
        _stored_sample_ui(view, mistakes_only, limit)
        return
    seed = st.session_state.get(REDRAW, 0)
    fig = figure(
        ("sample grid", key, mistakes_only, limit, seed),
        lambda: _sample_figure(examples, mistakes_only, limit, seed),
    )
    st.plotly_chart(fig, width="stretch", key="sample_grid")
    where = "" if examples.as_evaluated else f" (on {examples.data})"
    extra = task(view.model).pairing.description  # "the number added to it"
    st.caption(
        f"The whole test set{where}: {counts_words(examples)} The grid shows test images with "
        f"{extra}; green frame: every head right, red frame: a mistake (the wrong answer in "
        "red). Hover a marker for details."
    )


def _sample_figure(examples: Examples, mistakes_only: bool, limit: int, seed: int):
    picked = examples.random_pick(limit, mistakes_only, seed=seed)
    wrong = examples.wrong_count()
    if mistakes_only:
        title = f"{len(picked)} of the run's {wrong:,} mistakes, drawn at random"
    else:
        shown_wrong = int((~examples.right())[picked].sum())
        title = (
            f"{len(picked)} test digits drawn at random: {shown_wrong} wrong (red), "
            f"{len(picked) - shown_wrong} right"
        )
    return samples_grid_figure(
        examples.samples(picked),
        examples.model,
        limit=None,
        title=title,
        empty_text="This run gets every test digit right.",
    )


def _stored_sample_ui(view: RunView, mistakes_only: bool, limit: int) -> None:
    if view.samples is None:
        st.info("No sample predictions to show for this run.")
        return
    fig = samples_grid_figure(view.samples, view.model, mistakes_only, limit)
    st.plotly_chart(fig, width="stretch", key="sample_grid")
    st.caption(
        "This run's stored sample: a random draw plus its first mistakes, so mistakes are "
        "over-represented here. The test metrics above give the true counts."
    )


# -------------------------------------------------------------------------------------------
# Run diff


def diff_runs_ui(run_ids: Sequence[str], labels: dict[str, str]) -> tuple[str, str] | None:
    """(run A, run B) among the selected runs, B the run in focus by default."""
    if len(run_ids) < 2:
        st.info("Select a second run above to see which test digits it fixed and which it broke.")
        return None
    left, right = st.columns(2)
    a = left.selectbox(
        "Run A (before)", run_ids, index=1, format_func=labels.get, key="dash_diff_a"
    )
    b = right.selectbox(
        "Run B (after)", run_ids, index=0, format_func=labels.get, key="dash_diff_b"
    )
    if a == b:
        st.info("Pick two different runs.")
        return None
    return a, b


def _answers(examples: Examples, heads: Sequence[str], indices) -> list[str]:
    """What a run answered for each example, as a hover line."""
    model_task = task(examples.model)
    lines = []
    for i in indices:
        parts = []
        for name in heads:
            head = model_task.head(name)
            pred = examples.rows[f"{name}_pred"][i]
            conf = examples.rows[f"{name}_confidence"][i]
            parts.append(f"{head.title.lower()} {head.value(pred)} ({conf:.1%})")
        lines.append(", ".join(parts))
    return lines


def run_diff_ui(
    a_id: str,
    a: Examples | None,
    b_id: str,
    b: Examples | None,
    problems: Sequence[str],
    keys: tuple = (),
) -> None:
    """keys: the two runs' cache keys (mimo.app.run_data.examples_key)."""
    for problem in problems:
        st.info(problem)
    if a is None or b is None:
        return
    try:
        diff = per_example.diff(a, b)
    except ValueError as exc:
        st.info(f"No example-level diff: {exc}.")
        return
    heads = " and ".join(HEAD_TITLES[h].lower() for h in diff.heads)
    columns = st.columns(4)
    columns[0].metric("Fixed by B", f"{len(diff.fixed):,}", help=f"A wrong, B right ({heads})")
    columns[1].metric("Broken by B", f"{len(diff.broken):,}", help=f"A right, B wrong ({heads})")
    columns[2].metric("Wrong in both", f"{len(diff.both_wrong):,}")
    columns[3].metric("Net change", f"{diff.net:+,}", help="Fixed minus broken")
    st.caption(
        f"On the same {diff.n:,} test digits ({b.data}); an example counts as right when the "
        f"{heads} {'head is' if len(diff.heads) == 1 else 'heads are'} right. A is {a_id}, "
        f"B is {b_id}. The grids show B's answers; hover for A's."
    )
    empty = {"fixed": "B fixed none of A's mistakes.", "broken": "B broke nothing A got right."}
    diff_grids_ui(diff, a, b, keys, "run_diff", empty)


def diff_grids_ui(diff, a: Examples, b: Examples, keys, key: str, empty: dict[str, str]) -> None:
    """Two grids: the test digits B fixed and those it broke (`key`_fixed, `key`_broken);
    `empty` says, per grid, what shows when it has none."""
    for name, indices in (("fixed", diff.fixed), ("broken", diff.broken)):
        fig = figure(
            (key, keys, name),
            lambda indices=indices, name=name: diff_figure(
                name, indices, a, b, diff.heads, empty[name]
            ),
        )
        st.plotly_chart(fig, width="stretch", key=f"{key}_{name}")


def diff_figure(name: str, indices: np.ndarray, a: Examples, b: Examples, heads, empty: str):
    """The grid of the digits B "fixed" or "broke" (name), B's answers shown, A's on hover."""
    shown, pictures = per_example.pictures_of(indices[:DIFF_GRID_LIMIT], [b, a])
    total = len(indices)
    what = "fixed by B (A wrong, B right)" if name == "fixed" else "broken by B (A right, B wrong)"
    title = f"{total:,} digits {what}" + (
        f", first {len(shown)} shown" if len(shown) < total else ""
    )
    notes = [f"run A: {line}" for line in _answers(a, heads, shown)]
    return samples_grid_figure(
        b.samples(shown, pictures), b.model, limit=None, title=title, notes=notes, empty_text=empty
    )
