"""Confusion matrices as interactive heatmaps: rows are the true class, columns the prediction."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from mimo.tasks import HEADS

# A matrix of more classes than this (the 19 sums) gets smaller text and a taller figure; the
# Dashboards page gives it the full width.
LARGE_MATRIX = 12


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
            [f"{v:.2f}" if c else "" for v, c in zip(r, cr, strict=True)]
            for r, cr in zip(shares, counts, strict=True)
        ]
    else:
        text = [[str(c) if c else "" for c in row] for row in counts]
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 9 if size > LARGE_MATRIX else 12},
            customdata=np.dstack([counts, shares]).tolist(),
            hovertemplate=(
                "true %{y}, predicted %{x}<br>%{customdata[0]:d} images"
                "<br>%{customdata[1]:.1%} of true %{y}<extra></extra>"
            ),
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalised else max(1, int(counts.max())),
            colorbar={"title": {"text": "share of row" if normalised else "images"}},
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
        height=640 if size > LARGE_MATRIX else 400,
        margin={"t": 60, "l": 60, "r": 20, "b": 50},
    )
    return fig
