"""Runs side by side on the Dashboards page: the learning curves of any number of runs on the
same axes, with TensorBoard- and W&B-style controls (view, smoothing, epoch window), the
learning rate where runs recorded it, their settings with the differing ones highlighted, and
their test results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from mimo.app.plots.curves import learning_curves_figure, learning_rate_figure
from mimo.runs.compare import RunFigures, compare, comparison_table, settings_diff
from mimo.runs.view import RunView

OVERLAY_KEY = "runs-overlay"  # the container of the curves, for the page's checks
LAST_EPOCHS = 10  # the zoom on the end of training
# The epoch windows, by key. Epoch 1 squashes the rest of the accuracy axis, so the default
# starts at epoch 2 (for runs of three epochs or more).
WINDOWS = {"from2": "From epoch 2", "last": f"Last {LAST_EPOCHS} epochs", "all": "All epochs"}
# The curves' views, by key, the default first: the error on a log scale spreads out the last
# tenths of a percent that tell good runs apart.
VIEWS = {"error": "Error (1 − accuracy), log scale", "accuracy": "Accuracy", "loss": "Loss"}
MAX_SMOOTHING = 0.95  # the heaviest smoothing offered (TensorBoard's slider stops at 0.999)
SMOOTHING_STEP = 0.05
DIFFERS_STYLE = "background-color: rgba(255, 196, 0, 0.25); font-weight: 600"  # a differing row
DIFFERS_MARK = "≠"  # beside the highlight, for people who cannot tell the colour


@dataclass(frozen=True)
class CurveChoices:
    view: str  # a key of VIEWS
    smoothing: float  # 0: none
    window: str  # a key of WINDOWS


def epoch_range(window: str, longest: int) -> tuple[int, int] | None:
    """(first, last) epochs shown for a window; None for all of them."""
    if window == "from2" and longest >= 3:
        return 2, longest
    if window == "last" and longest > LAST_EPOCHS:
        return longest - LAST_EPOCHS + 1, longest
    return None


def curve_choices_ui() -> CurveChoices:
    view_col, window_col, smooth_col = st.columns([2, 2, 1.4])
    view = view_col.radio(
        "Curves", list(VIEWS), format_func=VIEWS.get, horizontal=True, key="dash_curve_view"
    )
    window = window_col.radio(
        "Epochs", list(WINDOWS), format_func=WINDOWS.get, horizontal=True, key="dash_window"
    )
    smoothing = smooth_col.slider(
        "Smoothing",
        0.0,
        MAX_SMOOTHING,
        0.0,
        step=SMOOTHING_STEP,
        key="dash_smoothing",
        help="An exponential moving average of the values, as TensorBoard's: 0 shows them as "
        "recorded; the raw values stay faint behind the smoothed curves.",
    )
    return CurveChoices(view, smoothing, window)


def runs_overlay_ui(views: Sequence[RunView]) -> None:
    """The selected runs' learning curves and learning rates, in the runs-overlay container."""
    with st.container(key=OVERLAY_KEY):
        histories = {v.run_id: v.history for v in views if v.history}
        without = [v.run_id for v in views if not v.history]
        if without:
            st.caption(f"No learning curves recorded for {', '.join(without)}.")
        if not histories:
            st.info("None of the selected runs has learning curves to show.")
            return
        choices = curve_choices_ui()
        longest = max(len(h["epoch"]) for h in histories.values())
        window = epoch_range(choices.window, longest)
        figure = learning_curves_figure(histories, choices.view, choices.smoothing, window)
        st.plotly_chart(figure, width="stretch", key="overlay_curves")
        if choices.view == "error":
            st.caption("An error of 0 is drawn at 0.01%, the bottom of the log scale.")
        rates = learning_rate_figure(histories, window)
        if rates is None:
            st.caption(
                "The learning rate: none of these runs recorded it per epoch (runs trained from "
                "now on do). Their peak rate is in the settings below."
            )
        else:
            st.plotly_chart(rates, width="stretch", key="overlay_learning_rate")


def settings_ui(views: Sequence[RunView]) -> None:
    """Every training setting of the runs, the differing ones highlighted."""
    diff = settings_diff([v.config for v in views])
    if not diff.rows:
        st.info("None of the selected runs recorded its training settings.")
        return
    table = pd.DataFrame(diff.rows, index=[v.run_id for v in views]).T
    table.insert(
        0, DIFFERS_MARK, [DIFFERS_MARK if t in diff.differing else "" for t in table.index]
    )

    def highlight(row):
        return [DIFFERS_STYLE if row.name in diff.differing else "" for _ in row]

    st.table(table.style.apply(highlight, axis=1))
    if len(views) > 1:
        count = len(diff.differing)
        st.caption(
            f"{count} of {len(diff.rows)} settings differ ({DIFFERS_MARK}, highlighted)."
            if count
            else "The runs share every recorded setting."
        )


def results_ui(views: Sequence[RunView]) -> None:
    """The runs' test results side by side, with a note when their test sets differ."""
    table = comparison_table(list(views))
    st.table(pd.DataFrame(table, index=[v.run_id for v in views]).T)
    figures = [RunFigures(v.run_id, v.model, v.metrics or {}, v.info) for v in views]
    note = compare(figures).note
    if note:
        st.caption(note)
