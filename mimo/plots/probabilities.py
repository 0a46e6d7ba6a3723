"""Probability bars for one prediction head: one bar per class, the predicted class highlighted.

Used under each metric on the Predict page. The figures are small (about 140 px high), have no
mode bar and a fixed 0-100 % axis, so bars of different predictions compare at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from mimo.encoding import COLOR_NAMES, NUM_DIGITS, NUM_SUMS

HEIGHT = 140
PREDICTED_RGB = "#1f77b4"  # the bar of the predicted class
OTHER_RGB = "#b8c4d0"  # all other bars
# The colour head's bars are drawn in the ink colours people pick on the page.
INK_HEX = {"red": "#FF4B4B", "green": "#21C354"}
PLOT_CONFIG = {"displayModeBar": False}  # pass to st.plotly_chart(config=...)


def probability_bars(
    probs: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    title: str,
    bar_colors: Sequence[str] | None = None,
    height: int = HEIGHT,
) -> go.Figure:
    """Vertical bars of class probabilities (0-1), the most likely class highlighted.

    bar_colors: one colour per class for the most likely bar's colour scheme; by default the
    predicted bar is blue and the others grey. Other bars are always drawn faded.
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(-1)
    if len(probs) != len(labels):
        raise ValueError(f"{len(probs)} probabilities for {len(labels)} labels")
    best = int(probs.argmax()) if len(probs) else -1
    if bar_colors is None:
        colors = [PREDICTED_RGB if i == best else OTHER_RGB for i in range(len(probs))]
        opacity = [1.0] * len(probs)
    else:
        colors = list(bar_colors)
        opacity = [1.0 if i == best else 0.45 for i in range(len(probs))]
    bar = {
        "type": "bar",
        "x": list(labels),
        "y": probs.tolist(),
        "marker": {"color": colors, "opacity": opacity},
        "text": [f"{p:.0%}" if i == best else "" for i, p in enumerate(probs)],
        "textposition": "outside",
        "textfont": {"size": 11},
        "cliponaxis": False,
        "hovertemplate": "%{x}: %{y:.1%}<extra></extra>",
    }
    layout = {
        "title": {"text": title, "font": {"size": 13}, "x": 0, "xanchor": "left", "y": 0.97},
        "height": height,
        "margin": {"l": 0, "r": 0, "t": 28, "b": 0},
        "bargap": 0.15,
        "showlegend": False,
        "xaxis": {"type": "category", "tickfont": {"size": 10}, "fixedrange": True},
        "yaxis": {
            "range": [0, 1.18],
            "tickformat": ".0%",
            "tickvals": [0, 0.5, 1],
            "tickfont": {"size": 10},
            "fixedrange": True,
        },
    }
    # The spec above is fixed and checked by the tests; skipping plotly's property validation
    # makes a figure ten times cheaper to build (about 1 ms instead of 8), on every stroke.
    return go.Figure({"data": [bar], "layout": layout}, _validate=False)


def digit_bars(probs, title: str = "Digit probabilities") -> go.Figure:
    """The 10 digit classes."""
    return probability_bars(probs, [str(d) for d in range(NUM_DIGITS)], title)


def color_bars(probs, title: str = "Colour probabilities") -> go.Figure:
    """The colour head: red and green, each bar in its ink colour."""
    return probability_bars(
        probs, list(COLOR_NAMES), title, bar_colors=[INK_HEX[name] for name in COLOR_NAMES]
    )


def sum_bars(probs, title: str = "Sum probabilities") -> go.Figure:
    """The 19 sums 0-18."""
    return probability_bars(probs, [str(s) for s in range(NUM_SUMS)], title)
