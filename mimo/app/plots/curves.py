"""Learning curves: one subplot per head, any number of runs overlaid, as TensorBoard and W&B
draw them.

Input is the plain history dict of each run ({"epoch": [...], "digit_loss": [...],
"val_digit_loss": [...], ..., and "learning_rate" where the run recorded it}). Each run gets its
own colour; training is solid and validation dashed (a single run keeps one colour per split).
Three views: loss, accuracy (two decimals), and error = 1 − accuracy on a log scale, which
spreads out the last tenths of a percent. Options: smoothing (an exponential moving average,
debiased as TensorBoard does, with the raw values faint behind it) and an epoch window, so
epoch 1 does not squash the rest. The learning rate gets a figure of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mimo.tasks import HEADS

HEAD_ORDER = tuple(HEADS)  # the heads of every model (mimo.tasks), digit first
HEAD_TITLES = {name: f"{head.title} head" for name, head in HEADS.items()}
# The views of the curves, by key: what Keras records per head and epoch ("loss", "accuracy"),
# and the error computed from the accuracy.
CURVE_TITLES = {"loss": "Loss", "accuracy": "Accuracy", "error": "Error (1 − accuracy)"}
RECORDED = {"loss": "loss", "accuracy": "accuracy", "error": "accuracy"}  # view -> history key
LEARNING_RATE = "learning_rate"  # the history key of the rate each epoch ended with
SPLITS = (("train", "", "solid"), ("validation", "val_", "dash"))
SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e"}
# One colour per run, in the order picked (plotly's D3 palette).
RUN_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)
ERROR_FLOOR = 1e-4  # an error of 0 is drawn here on the log scale (0.01%)
MIN_ACCURACY_SPAN = 0.01  # an accuracy axis spans at least one point, so its ticks differ
MIN_LOG_SPAN = 1.0  # an error axis spans at least one decade
AXIS_PAD = 0.08  # of the span, above and below the curves
RAW_OPACITY = 0.25  # the unsmoothed values behind a smoothed curve
MAX_EPOCH_TICKS = 10


def history_heads(history: Mapping) -> list[str]:
    """The heads a history has curves for, digit first."""
    found = set()
    for key in history:
        name = key.removeprefix("val_")
        for metric in ("loss", "accuracy"):
            if name.endswith(f"_{metric}"):
                found.add(name[: -len(metric) - 1])
    ordered = [h for h in HEAD_ORDER if h in found]
    return ordered + sorted(found - set(HEAD_ORDER))


def smooth(values, weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing; weight 0 keeps the values."""
    if not 0 <= weight < 1:
        raise ValueError("the smoothing weight must be at least 0 and below 1")
    smoothed, level = [], 0.0
    for step, value in enumerate(values, start=1):
        level = weight * level + (1 - weight) * float(value)
        smoothed.append(level / (1 - weight**step))
    return smoothed


def shown_values(values, view: str) -> list[float]:
    """The values as a view draws them: errors from accuracies, floored for the log scale."""
    if view == "error":
        return [max(1.0 - float(v), ERROR_FLOOR) for v in values]
    return [float(v) for v in values]


def _epochs(history: Mapping, length: int) -> list[int]:
    return list(history.get("epoch") or range(1, length + 1))


def learning_curves_figure(
    histories: Mapping[str, Mapping],
    metric: str,
    smoothing: float = 0.0,
    epochs: tuple[int, int] | None = None,
) -> go.Figure:
    """`metric` ("loss", "accuracy" or "error") per head, train solid and validation dashed.

    histories: run label -> history. epochs: the (first, last) epochs shown, inclusive; None
    shows all.
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
    first, last = epochs or (-math.inf, math.inf)
    shown_per_head: dict[str, list[float]] = {h: [] for h in heads}
    shown_epochs: list[int] = []
    in_legend: set[str] = set()
    for run_number, (label, history) in enumerate(histories.items()):
        run_color = RUN_COLORS[run_number % len(RUN_COLORS)]
        for col, head in enumerate(heads, start=1):
            for split, prefix, dash in SPLITS:
                values = history.get(f"{prefix}{head}_{RECORDED[metric]}")
                if not values:
                    continue
                all_epochs = _epochs(history, len(values))
                drawn = shown_values(smooth(values, smoothing), metric)
                raw = shown_values(values, metric)
                keep = [i for i, e in enumerate(all_epochs) if first <= e <= last]
                if not keep:
                    continue
                x = [all_epochs[i] for i in keep]
                name = f"{label} · {split}" if several else split
                color = run_color if several else SPLIT_COLORS[split]
                if smoothing > 0:
                    fig.add_trace(
                        go.Scatter(
                            x=x,
                            y=[raw[i] for i in keep],
                            mode="lines",
                            line={"color": color, "dash": dash, "width": 1},
                            opacity=RAW_OPACITY,
                            hoverinfo="skip",
                            showlegend=False,
                            legendgroup=name,
                            name=f"{name} (raw)",
                        ),
                        row=1,
                        col=col,
                    )
                y = [drawn[i] for i in keep]
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=y,
                        mode="lines+markers",
                        name=name,
                        legendgroup=name,
                        showlegend=name not in in_legend,
                        line={"color": color, "dash": dash},
                        marker={"size": 4},
                        hovertemplate=f"{name}<br>epoch %{{x}}<br>{CURVE_TITLES[metric].lower()} "
                        f"%{{y:{_hover_format(metric)}}}<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
                in_legend.add(name)
                shown_per_head[head] += y
                shown_epochs += x
    epoch_axes(fig, shown_epochs)
    _value_axes(fig, metric, [shown_per_head[h] for h in heads])
    smoothed = f", smoothed ({smoothing:g})" if smoothing > 0 else ""
    fig.update_layout(
        title=f"{CURVE_TITLES[metric]}: training vs validation{smoothed}",
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


def _hover_format(metric: str) -> str:
    return ".4f" if metric == "loss" else ".2%"


def epoch_axes(fig: go.Figure, epochs: list[int]) -> None:
    """Whole epochs, at most MAX_EPOCH_TICKS ticks; a single epoch sits in the middle."""
    low, high = (min(epochs), max(epochs)) if epochs else (1, 1)
    step = max(1, -(-(high - low + 1) // MAX_EPOCH_TICKS))
    fig.update_xaxes(
        title_text="Epoch",
        tickformat="d",
        tick0=low,
        dtick=step,
        range=[low - 0.5, high + 0.5],
    )


def _value_axes(fig: go.Figure, metric: str, per_head: list[list[float]]) -> None:
    """Each subplot's value axis: a range that shows the differences between the curves."""
    fig.update_yaxes(title_text=CURVE_TITLES[metric], row=1, col=1)
    for col, values in enumerate(per_head, start=1):
        if not values:
            continue
        low, high = min(values), max(values)
        if metric == "accuracy":
            span = max(high - low, MIN_ACCURACY_SPAN)
            middle = (low + high) / 2
            low, high = middle - span / 2, middle + span / 2
            if high > 1:
                low, high = low - (high - 1), 1.0
            pad = AXIS_PAD * span
            fig.update_yaxes(range=[low - pad, high + pad], tickformat=".2%", row=1, col=col)
        elif metric == "error":
            low, high = math.log10(low), math.log10(high)
            span = max(high - low, MIN_LOG_SPAN)
            middle = (low + high) / 2
            low, high = middle - span / 2, middle + span / 2
            pad = AXIS_PAD * span
            fig.update_yaxes(
                type="log", range=[low - pad, high + pad], tickformat=".2%", row=1, col=col
            )


def learning_rate_figure(
    histories: Mapping[str, Mapping], epochs: tuple[int, int] | None = None
) -> go.Figure | None:
    """The learning rate each epoch ended with, one line per run that recorded it; None when
    none did."""
    first, last = epochs or (-math.inf, math.inf)
    fig = go.Figure()
    recorded = []
    for run_number, (label, history) in enumerate(histories.items()):
        rates = history.get(LEARNING_RATE)
        if not rates:
            continue
        all_epochs = _epochs(history, len(rates))
        keep = [i for i, e in enumerate(all_epochs) if first <= e <= last]
        x = [all_epochs[i] for i in keep]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[float(rates[i]) for i in keep],
                mode="lines+markers",
                name=label,
                line={"color": RUN_COLORS[run_number % len(RUN_COLORS)]},
                marker={"size": 4},
                hovertemplate=f"{label}<br>epoch %{{x}}<br>learning rate %{{y:.3g}}<extra></extra>",
            )
        )
        recorded += x
    if not fig.data:
        return None
    epoch_axes(fig, recorded)
    fig.update_yaxes(title_text="Learning rate", type="log", exponentformat="e")
    fig.update_layout(
        title="Learning rate at the end of each epoch",
        height=320,
        legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0},
        margin={"t": 60, "b": 80},
    )
    return fig
