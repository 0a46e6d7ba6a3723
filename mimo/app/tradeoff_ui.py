"""The Dashboards page's trade-off view, in the `tradeoff` container: every run of the model as
one point, its digit accuracy against the other head's, the hover naming its loss weights and
settings. Single-task runs (the other head off) are drawn hollow; the selected runs in red.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from mimo.app.plots.balance import tradeoff_figure
from mimo.app.run_data import read_config
from mimo.runs import balance
from mimo.runs.registry import Registry
from mimo.runs.view import read_run_info
from mimo.tasks import task

TRADEOFF_KEY = "tradeoff"  # the container, for the page's checks


def tradeoff_ui(registry: Registry, model: str, selected: Sequence[str] = ()) -> None:
    with st.container(key=TRADEOFF_KEY):
        runs = registry.list_runs(model)
        rows = [
            (r.run_id, read_run_info(r.path).get("test_metrics"), read_config(r.path)) for r in runs
        ]
        points = balance.tradeoff_points(model, rows)
        if not points:
            st.info(f"No {model} run has test metrics for every head yet.")
            return
        st.plotly_chart(
            tradeoff_figure(model, points, tuple(selected)), width="stretch", key="tradeoff_scatter"
        )
        others = " and ".join(h.title.lower() for h in task(model).other_heads)
        left_out = len(runs) - len(points)
        st.caption(
            f"{len(points)} runs: the digit head's test accuracy against the {others} head's. "
            "Hollow points are single-task runs (the other head's loss weight 0, so its "
            "accuracy is chance); red points are the runs selected above. Hover a point for its "
            "loss weights and settings."
            + (f" {left_out} runs without test metrics are left out." if left_out else "")
        )
