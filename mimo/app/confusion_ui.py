"""Confusion matrices you can click, on the Dashboards page: a cell opens the test images of its
(true, predicted) pair, and each head gets its per-class precision and recall.

A click on a cell (st.plotly_chart's selection event, read by a callback) sets the "Images of"
picker, which can also be used by itself. The images come from the run's per-example
predictions (mimo.runs.examples): every off-diagonal image is kept, a cell on the diagonal
shows those of the run's random sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mimo.app.plots.confusion import LARGE_MATRIX, class_labels, confusion_figure, selected_cell
from mimo.app.plots.samples import samples_grid_figure
from mimo.runs.examples import Examples
from mimo.runs.scores import class_scores
from mimo.runs.view import HEAD_TITLES, RunView, count, percent
from mimo.tasks import HEADS

CELL_GRID_LIMIT = 40  # images shown for one cell
NO_CELL = None  # the picker's "nothing chosen"


def cell_key(model: str) -> str:
    return f"dash_cell_{model}"


def chart_key(head: str) -> str:
    return f"confusion_{head}"


def matrices(view: RunView, examples: Examples | None) -> dict[str, np.ndarray]:
    """Each head's matrix: from the per-example predictions when there are some (so a cell
    holds exactly the images it opens), else the run's confusion.json."""
    if examples is None:
        return dict(view.confusion or {})
    found = {}
    for head in examples.heads:
        size = HEADS[head].classes
        truth, pred = examples.rows[f"{head}_true"], examples.rows[f"{head}_pred"]
        found[head] = np.bincount(truth * size + pred, minlength=size * size).reshape(size, size)
    return found


def cell_options(counts: dict[str, np.ndarray]) -> list:
    """Every cell as (head, true, predicted): the confusions first, most frequent first, then
    the diagonal, then the empty cells."""
    confusions, diagonal, empty = [], [], []
    for head, matrix in counts.items():
        for (true, pred), value in np.ndenumerate(matrix):
            cell = (head, int(true), int(pred))
            if true == pred:
                diagonal.append(cell)
            elif value:
                confusions.append((-int(value), cell))
            else:
                empty.append(cell)
    return [NO_CELL] + [c for _, c in sorted(confusions)] + diagonal + empty


def cell_words(cell, counts: dict[str, np.ndarray]) -> str:
    if cell is None:
        return "Click a cell, or pick one"
    head, true, pred = cell
    labels = class_labels(head)
    n = int(counts[head][true, pred])
    return f"{HEAD_TITLES[head]}: true {labels[true]}, predicted {labels[pred]} ({n:,} images)"


def _remember_click(model: str, head: str) -> None:
    """on_select callback: the clicked cell becomes the picker's value."""
    cell = selected_cell(st.session_state.get(chart_key(head)))
    if cell is not None:
        st.session_state[cell_key(model)] = (head, *cell)


def confusion_ui(view: RunView, examples: Examples | None, normalised: bool) -> None:
    counts = matrices(view, examples)
    if not counts:
        st.info("No confusion matrices to show for this run.")
        return
    clickable = examples is not None
    for place, head in zip(matrix_places(view.heads), view.heads, strict=True):
        fig = confusion_figure(
            counts[head], class_labels(head), normalised, f"{HEAD_TITLES[head]} head"
        )
        if clickable:
            place.plotly_chart(
                fig,
                width="stretch",
                key=chart_key(head),
                on_select=lambda head=head: _remember_click(view.model, head),
                selection_mode="points",
            )
        else:
            place.plotly_chart(fig, width="stretch", key=chart_key(head))
    if examples is not None and not examples.as_evaluated:
        st.caption(f"These matrices come from the per-example predictions, on {examples.data}.")
    if clickable:
        cell_images_ui(view.model, examples, counts)
    class_scores_ui(view.heads, counts)


def matrix_places(heads: tuple[str, ...]) -> list:
    """Where each head's matrix goes. A big one (the 19x19 sum matrix) needs the full width to
    stay readable, and the others then take half; else they share one row."""
    if any(HEADS[head].classes > LARGE_MATRIX for head in heads):
        return [
            st.container() if HEADS[head].classes > LARGE_MATRIX else st.columns([1, 1])[0]
            for head in heads
        ]
    return st.columns([1.4] + [1] * (len(heads) - 1))


def cell_images_ui(model: str, examples: Examples, counts: dict[str, np.ndarray]) -> None:
    options = cell_options(counts)
    if st.session_state.get(cell_key(model)) not in options:
        st.session_state.pop(cell_key(model), None)  # from another run: start over
    cell = st.selectbox(
        "Images of",
        options,
        format_func=lambda c: cell_words(c, counts),
        key=cell_key(model),
        help="Click a cell of a matrix above to pick its (true, predicted) pair.",
    )
    if cell is None:
        return
    head, true, pred = cell
    found = examples.cell(head, true, pred)
    shown = examples.pictured(found)[:CELL_GRID_LIMIT]
    labels = class_labels(head)
    pair = f"true {labels[true]}, predicted {labels[pred]}"
    if not len(found):
        st.caption(f"No test image is {pair}.")
        return
    if len(shown) == len(found):
        title = f"{HEAD_TITLES[head]} head, {pair}: all {len(found):,} test images"
    else:
        title = (
            f"{HEAD_TITLES[head]} head, {pair}: {len(shown)} of {len(found):,} test images "
            "(from the run's random sample)"
        )
    fig = samples_grid_figure(examples.samples(shown), model, limit=None, title=title)
    st.plotly_chart(fig, width="stretch", key="confusion_cell_grid")


def class_scores_ui(heads: tuple[str, ...], counts: dict[str, np.ndarray]) -> None:
    """Per class: its examples, recall, precision, and the errors behind them."""
    with st.expander("Per-class precision and recall", expanded=False):
        st.caption(
            "Recall: of the test images of a class, the share the head got right. Precision: "
            "of the head's answers naming a class, the share that were right."
        )
        for column, head in zip(st.columns(len(heads)), heads, strict=True):
            scores = class_scores(counts[head])
            column.markdown(f"**{HEAD_TITLES[head]} head**")
            table = pd.DataFrame(
                {
                    "class": class_labels(head),
                    "images": [count(int(v)) for v in scores.support],
                    "recall": [_share(v) for v in scores.recall],
                    "missed": [count(int(v)) for v in scores.missed],
                    "precision": [_share(v) for v in scores.precision],
                    "false alarms": [count(int(v)) for v in scores.false_alarms],
                }
            )
            column.dataframe(table, hide_index=True)


def _share(value) -> str:
    return "—" if value is None or np.isnan(value) else percent(value)
