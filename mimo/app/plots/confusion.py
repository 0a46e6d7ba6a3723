"""Confusion matrices as interactive heatmaps: rows are the true class, columns the prediction.

A cell can be clicked: plotly selects scatter points but not heatmap cells, so every cell also
holds an invisible marker that carries the hover text and the (true, predicted) pair; on the
Dashboards page (st.plotly_chart with on_select) `selected_cell` reads the clicked pair back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from mimo.app.plots.selection import custom_values, selected_points
from mimo.tasks import HEADS

# A matrix of more classes than this (the 19 sums) gets smaller text and a taller figure; the
# Dashboards page gives it the full width.
LARGE_MATRIX = 12
CELL_MARKER_PX = {False: 34, True: 26}  # the click target of a cell, by LARGE_MATRIX or not
SELECTED_OPACITY = 0.35  # the clicked cell's marker, drawn over it
CELL_TRACE = "cells"  # the name of the clickable markers' trace
SMALLEST_SHARE = 0.005  # below this, a non-empty cell reads "<.01" rather than "0.00"


def class_labels(head: str) -> list[str]:
    """A head's classes as the axes show them: digits, colour names, sums."""
    return list(HEADS[head].labels)


def normalise_rows(matrix) -> np.ndarray:
    """Each row divided by its total: the share of each true class given each prediction.

    A row with no examples stays all zero instead of becoming NaN.
    """
    counts = np.asarray(matrix, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def confusion_figure(
    matrix, labels: Sequence[str] | None = None, normalised: bool = True, title: str = ""
) -> go.Figure:
    """A heatmap of counts or of row-normalised shares; hover shows both."""
    counts = np.asarray(matrix, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {counts.shape}")
    size = counts.shape[0]
    labels = [str(x) for x in (labels if labels is not None else range(size))]
    if len(labels) != size:
        raise ValueError(f"{len(labels)} labels for a {size}x{size} matrix")
    shares = normalise_rows(counts)
    z = shares if normalised else counts
    # Cell text: empty for zero cells keeps the 19x19 sum matrix readable.
    if normalised:
        text = [
            [_share_text(v) if c else "" for v, c in zip(r, cr, strict=True)]
            for r, cr in zip(shares, counts, strict=True)
        ]
    else:
        text = [[str(c) if c else "" for c in row] for row in counts]
    large = size > LARGE_MATRIX
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 9 if large else 12},
            customdata=np.dstack([counts, shares]).tolist(),
            hoverinfo="skip",  # the cell markers below carry the hover text
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalised else max(1, int(counts.max())),
            colorbar={"title": {"text": "share of row" if normalised else "images"}},
        )
    )
    true_idx, pred_idx = np.divmod(np.arange(size * size), size)
    fig.add_trace(
        go.Scatter(
            x=[labels[p] for p in pred_idx],
            y=[labels[t] for t in true_idx],
            mode="markers",
            name=CELL_TRACE,
            showlegend=False,
            marker={
                "symbol": "square",
                "size": CELL_MARKER_PX[large],
                "color": "#ff7f0e",
                "opacity": 0,
            },
            selected={"marker": {"opacity": SELECTED_OPACITY}},
            unselected={"marker": {"opacity": 0}},
            customdata=[
                [int(t), int(p), int(counts[t, p]), float(shares[t, p])]
                for t, p in zip(true_idx, pred_idx, strict=True)
            ],
            hovertemplate=(
                "true %{y}, predicted %{x}<br>%{customdata[2]:d} images"
                "<br>%{customdata[3]:.2%} of true %{y}<br>click to see them<extra></extra>"
            ),
        )
    )
    fig.update_xaxes(
        title_text="Predicted",
        type="category",
        side="bottom",
        tickangle=0,
        constrain="domain",
        showgrid=False,
    )
    fig.update_yaxes(
        title_text="True",
        type="category",
        autorange="reversed",
        scaleanchor="x",
        constrain="domain",
        showgrid=False,
    )
    fig.update_layout(
        title=title or ("Row-normalised" if normalised else "Counts"),
        height=640 if large else 400,
        margin={"t": 60, "l": 60, "r": 20, "b": 50},
        hovermode="closest",
        hoverdistance=-1,  # the nearest cell's marker answers wherever the pointer is
        clickmode="event+select",
        dragmode=False,
    )
    return fig


def _share_text(share: float) -> str:
    """A cell's share of its row, two decimals; a few images never read as 0.00."""
    return "<.01" if share < SMALLEST_SHARE else f"{share:.2f}"


def selected_cell(event) -> tuple[int, int] | None:
    """(true class, predicted class) of the cell clicked in a figure of confusion_figure, from
    st.plotly_chart's selection event (or its session-state value); None when none is."""
    for point in selected_points(event):
        data = custom_values(point)
        if len(data) >= 2:
            return int(data[0]), int(data[1])
    return None
