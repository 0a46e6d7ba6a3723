"""Learning curves: one subplot per head, training against validation, by epoch.

Input is the plain history dict of a run ({"epoch": [...], "digit_loss": [...],
"val_digit_loss": [...], ...}). Several runs can be overlaid for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mimo.tasks import HEADS

HEAD_ORDER = tuple(HEADS)  # the heads of every model (mimo.tasks), digit first
HEAD_TITLES = {name: f"{head.title} head" for name, head in HEADS.items()}
# The curves' metrics: what Keras records per head and epoch (not the test metrics of a run,
# whose titles are mimo.tasks.METRIC_TITLES).
CURVE_TITLES = {"loss": "Loss", "accuracy": "Accuracy"}
SPLITS = (("train", "", "solid"), ("validation", "val_", "dash"))
SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e"}
RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def history_heads(history: Mapping) -> list[str]:
    """The heads a history has curves for, digit first."""
    found = set()
    for key in history:
        name = key.removeprefix("val_")
        for metric in CURVE_TITLES:
            if name.endswith(f"_{metric}"):
                found.add(name[: -len(metric) - 1])
    ordered = [h for h in HEAD_ORDER if h in found]
    return ordered + sorted(found - set(HEAD_ORDER))


def learning_curves_figure(histories: Mapping[str, Mapping], metric: str) -> go.Figure:
    """`metric` ("loss" or "accuracy") per head, train solid and validation dashed.

    histories: run label -> history. With one run, train and validation get their own colours;
    with several, each run gets one colour and the legend names the run.
    """
    if metric not in CURVE_TITLES:
        raise ValueError(f"metric must be one of {', '.join(CURVE_TITLES)}")
    heads: list[str] = []
    for history in histories.values():
        heads += [h for h in history_heads(history) if h not in heads]
    heads.sort(key=lambda h: HEAD_ORDER.index(h) if h in HEAD_ORDER else len(HEAD_ORDER))
    fig = make_subplots(
        rows=1,
        cols=max(1, len(heads)),
        subplot_titles=[HEAD_TITLES.get(h, f"{h} head") for h in heads] or [""],
        horizontal_spacing=0.08,
    )
    several = len(histories) > 1
    for run_number, (label, history) in enumerate(histories.items()):
        run_color = RUN_COLORS[run_number % len(RUN_COLORS)]
        shown_in_legend = set()
        for col, head in enumerate(heads, start=1):
            for split, prefix, dash in SPLITS:
                values = history.get(f"{prefix}{head}_{metric}")
                if not values:
                    continue
                epochs = list(history.get("epoch") or range(1, len(values) + 1))
                name = f"{label} · {split}" if several else split
                fig.add_trace(
                    go.Scatter(
                        x=epochs,
                        y=list(values),
                        mode="lines+markers",
                        name=name,
                        legendgroup=name,
                        showlegend=name not in shown_in_legend,
                        line={
                            "color": run_color if several else SPLIT_COLORS[split],
                            "dash": dash,
                        },
                        hovertemplate=f"{name}<br>epoch %{{x}}<br>{metric} %{{y:.4f}}"
                        "<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
                shown_in_legend.add(name)
    longest = max((len(h.get("epoch") or ()) for h in histories.values()), default=1)
    fig.update_xaxes(title_text="Epoch", tickformat="d", tick0=1, dtick=max(1, -(-longest // 10)))
    fig.update_yaxes(title_text=CURVE_TITLES[metric], row=1, col=1)
    if metric == "accuracy":
        fig.update_yaxes(tickformat=".0%")
    fig.update_layout(
        title=f"{CURVE_TITLES[metric]}: training vs validation",
        hovermode="closest",
        # Below the plots, one entry per line when run names make the entries long.
        legend={
            "orientation": "v" if several else "h",
            "yanchor": "top",
            "y": -0.2 if several else -0.25,
            "x": 0,
        },
        margin={"t": 70, "b": 60 + (22 * 2 * len(histories) if several else 30)},
        height=(400 + 22 * 2 * len(histories)) if several else 400,
    )
    return fig
