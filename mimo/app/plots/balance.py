"""Plotly figures of the multi-task lab: accuracies with their bootstrap intervals, the heads'
gradient agreement per epoch, and the trade-off between the digit head and the other head
across runs.

Inputs come from mimo.runs.balance (Interval, TradeoffPoint) and mimo.runs.agreement
(Agreement); each run keeps its colour of the learning curves' palette.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mimo.app.plots.curves import RUN_COLORS, epoch_axes
from mimo.runs import weights as loss_weights
from mimo.runs.agreement import Agreement
from mimo.runs.balance import CONFIDENCE, Interval, TradeoffPoint
from mimo.tasks import HEADS, task

ROW_HEIGHT = 34  # px per run in the interval chart
MIN_HEIGHT = 220
SINGLE_SYMBOL, MULTI_SYMBOL = "circle-open", "circle"  # single-task runs drawn hollow
POINT_SIZE = 12


def _percent_axis(values: Sequence[float]) -> dict:
    """An accuracy axis with two decimals, spanning the values with a little room."""
    low, high = min(values), max(values)
    pad = max((high - low) * 0.15, 0.0005)
    return {"tickformat": ".2%", "range": [max(0.0, low - pad), min(1.0, high + pad)]}


def interval_figure(rows: Mapping[str, Interval], title: str) -> go.Figure:
    """One row per run: its accuracy as a point, its interval as error bars."""
    labels = list(rows)
    values = [rows[r].value for r in labels]
    fig = go.Figure(
        go.Scatter(
            x=values,
            y=labels,
            mode="markers",
            marker={
                "size": 10,
                "color": [RUN_COLORS[i % len(RUN_COLORS)] for i in range(len(labels))],
            },
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [rows[r].high - rows[r].value for r in labels],
                "arrayminus": [rows[r].value - rows[r].low for r in labels],
            },
            customdata=[[rows[r].low, rows[r].high, rows[r].n] for r in labels],
            hovertemplate="%{y}<br>%{x:.2%} (%{customdata[0]:.2%} to %{customdata[1]:.2%}), "
            "%{customdata[2]:,} test digits<extra></extra>",
            name="digit accuracy",
        )
    )
    bounds = [rows[r].low for r in labels] + [rows[r].high for r in labels]
    fig.update_xaxes(
        title_text=f"Digit accuracy, {CONFIDENCE:.0%} bootstrap interval", **_percent_axis(bounds)
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_layout(
        title=title,
        height=max(MIN_HEIGHT, 120 + ROW_HEIGHT * len(labels)),
        margin={"t": 60, "b": 50},
        showlegend=False,
    )
    return fig


def agreement_figure(records: Mapping[str, Agreement]) -> go.Figure:
    """Per epoch, for each run and each head compared with the digit head: the cosine of their
    gradients on the shared trunk, and the ratio of their norms (log scale)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "Cosine of the gradients (1: same direction, −1: opposed)",
            "Gradient norm: other head / digit head",
        ),
        horizontal_spacing=0.1,
    )
    epochs: list[int] = []
    for number, (run_id, record) in enumerate(records.items()):
        color = RUN_COLORS[number % len(RUN_COLORS)]
        for other in record.others:
            name = f"{run_id} · {HEADS[other].title.lower()} vs digit"
            fig.add_trace(
                go.Scatter(
                    x=record.epoch,
                    y=record.cosine[other],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    line={"color": color},
                    hovertemplate=f"{name}<br>epoch %{{x}}<br>cosine %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=1,
            )
            ratios = [r if r and r > 0 else None for r in record.norm_ratio[other]]
            fig.add_trace(
                go.Scatter(
                    x=record.epoch,
                    y=ratios,
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=False,
                    line={"color": color, "dash": "dot"},
                    hovertemplate=f"{name}<br>epoch %{{x}}<br>norm ratio %{{y:.3g}}<extra></extra>",
                ),
                row=1,
                col=2,
            )
        epochs += record.epoch
    fig.add_hline(y=0, line={"color": "#888", "width": 1}, row=1, col=1)
    epoch_axes(fig, epochs)
    fig.update_yaxes(range=[-1.05, 1.05], row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(
        title="Gradient agreement on the shared trunk, per epoch",
        legend={"orientation": "v", "yanchor": "top", "y": -0.2, "x": 0},
        height=420 + 22 * len(records),
        margin={"t": 80, "b": 60 + 22 * len(records)},
    )
    return fig


def tradeoff_figure(model: str, points: Sequence[TradeoffPoint], selected=()) -> go.Figure:
    """Digit accuracy (x) against each other head's accuracy (y), one point per run; single-task
    runs hollow; the hover names the loss weights and the settings."""
    model_task = task(model)
    first = model_task.head_names[0]
    fig = go.Figure()
    for head in model_task.other_heads:
        for single in (False, True):
            group = [p for p in points if (loss_weights.heads_off(p.weights) != []) == single]
            if not group:
                continue
            kind = "single-task (other head off)" if single else "multi-task"
            fig.add_trace(
                go.Scatter(
                    x=[p.accuracies[first] for p in group],
                    y=[p.accuracies[head.name] for p in group],
                    mode="markers",
                    name=f"{head.title} accuracy, {kind}",
                    marker={
                        "size": POINT_SIZE,
                        "symbol": SINGLE_SYMBOL if single else MULTI_SYMBOL,
                        "line": {"width": 2},
                        "color": ["#d62728" if p.run_id in selected else "#1f77b4" for p in group],
                    },
                    customdata=[
                        [p.run_id, loss_weights.words(p.weights), p.settings] for p in group
                    ],
                    hovertemplate="%{customdata[0]}<br>loss weights %{customdata[1]}<br>"
                    "%{customdata[2]}<br>digit %{x:.2%}, "
                    f"{head.title.lower()} %{{y:.2%}}<extra></extra>",
                )
            )
    xs = [p.accuracies[first] for p in points] or [0.0, 1.0]
    ys = [p.accuracies[h.name] for p in points for h in model_task.other_heads] or [0.0, 1.0]
    fig.update_xaxes(title_text="Digit accuracy (test)", **_percent_axis(xs))
    fig.update_yaxes(title_text="Other head's accuracy (test)", **_percent_axis(ys))
    fig.update_layout(
        title=f"{model_task.title}: digit accuracy against the other head's, one point per run",
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
        height=460,
        margin={"t": 60, "b": 100},
    )
    return fig
