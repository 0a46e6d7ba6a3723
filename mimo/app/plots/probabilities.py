"""Probability bars for one prediction head: one bar per class, the predicted class highlighted.

Shown under each metric on the Predict page, which redraws four of them after every stroke.
They are plain HTML and CSS (for `st.html`), not Plotly figures, which the browser must load
(plotly.js, on a page's first result), lay out and draw: with four Plotly charts per result,
bench/load.py measured a stroke-to-result p50 of 321 ms instead of 287 ms for one session. The
axis is fixed at 0-100 %, so bars of different predictions compare at a glance; hovering a bar
shows its exact probability.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from mimo.tasks import Head

HEIGHT = 100  # pixels, the bars' area; the title and the class labels come on top of it
LABEL_SPACE = 14  # pixels kept free above a full bar for its percentage
PREDICTED_RGB = "#1f77b4"  # the bar of the predicted class
OTHER_RGB = "#b8c4d0"  # all other bars
FADED = 0.45  # opacity of the other bars when each class has its own colour
AXIS_RGB = "#c9d2dc"
LABEL_RGB = "#5b6573"
SPOKEN_CLASSES = 3  # how many of the likeliest classes the screen-reader label names
MAX_TICKS = 12  # more classes than this (the 19 sums) are labelled every other bar


def _bar(label: str, p: float, color: str, opacity: float, best: bool) -> str:
    percent = f"{p:.0%}" if best else ""
    column = (
        f"flex:1 1 0;min-width:0;height:{HEIGHT}px;box-sizing:border-box;"
        f"padding-top:{LABEL_SPACE}px;display:flex;flex-direction:column;justify-content:flex-end"
    )
    value = (
        "flex:none;font-size:10px;line-height:12px;text-align:center;white-space:nowrap;"
        "overflow:visible"
    )
    bar = (
        f"flex:none;height:{p * 100:.1f}%;min-height:1px;background:{color};"
        f"opacity:{opacity:g};border-radius:2px 2px 0 0"
    )
    return (
        f'<div title="{html.escape(label)}: {p:.1%}" style="{column}">'
        f'<span style="{value}">{percent}</span><div style="{bar}"></div></div>'
    )


def probability_bars(
    probs: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    title: str,
    bar_colors: Sequence[str] | None = None,
) -> str:
    """HTML for vertical bars of class probabilities (0-1), the most likely class highlighted.

    bar_colors: one colour per class; the most likely bar is drawn solid and the others faded.
    By default the most likely bar is blue and the others grey.
    """
    probs = np.clip(np.asarray(probs, dtype=np.float64).reshape(-1), 0.0, 1.0)
    labels = [str(label) for label in labels]
    if len(probs) != len(labels) or not len(probs):
        raise ValueError(f"{len(probs)} probabilities for {len(labels)} labels")
    if bar_colors is not None and len(bar_colors) != len(labels):
        raise ValueError(f"{len(bar_colors)} bar colours for {len(labels)} labels")
    best = int(probs.argmax())
    bars = []
    for i, (label, p) in enumerate(zip(labels, probs, strict=True)):
        if bar_colors is None:
            color, opacity = (PREDICTED_RGB if i == best else OTHER_RGB), 1.0
        else:
            color, opacity = bar_colors[i], (1.0 if i == best else FADED)
        bars.append(_bar(label, float(p), color, opacity, i == best))
    likeliest = np.argsort(-probs, kind="stable")[:SPOKEN_CLASSES]
    spoken = ", ".join(f"{labels[i]} {probs[i]:.0%}" for i in likeliest)
    every = 1 if len(labels) <= MAX_TICKS else 2
    ticks = "".join(
        '<span style="flex:1 1 0;min-width:0;display:flex;justify-content:center;'
        f'white-space:nowrap">{html.escape(label) if i % every == 0 else ""}</span>'
        for i, label in enumerate(labels)
    )
    return (
        f'<figure role="img" aria-label="{html.escape(title)}: {html.escape(spoken)}" '
        'style="margin:0">'
        f'<figcaption style="font-size:13px;line-height:18px;margin-bottom:2px">'
        f"{html.escape(title)}</figcaption>"
        f'<div style="display:flex;gap:2px;align-items:flex-end;'
        f'border-bottom:1px solid {AXIS_RGB}">{"".join(bars)}</div>'
        f'<div style="display:flex;gap:2px;margin-top:2px;font-size:10px;line-height:12px;'
        f'color:{LABEL_RGB}">{ticks}</div>'
        "</figure>"
    )


def head_bars(head: Head, probs) -> str:
    """A head's bars, titled "<Head> probabilities": its classes in order, each bar in its class's
    colour where the head has them (the colour head: red and green, in the page's inks)."""
    return probability_bars(
        probs, head.labels, f"{head.title} probabilities", bar_colors=head.class_colors or None
    )
