"""The embedding projector: a run's test digits as points in 2-D (PCA or t-SNE of the features
every head reads), coloured by the true digit, by what the digit was paired with (its ink, its
number), or by whether the model got it right.

Inputs are a mimo.runs.embedding.Embedding and the run's mimo.runs.examples.Examples. One trace
per colour group, so the legend toggles groups; every point carries its test index, which
`selected_example` reads back from st.plotly_chart's selection event (plotly's hover cannot
show a picture, so the page shows the selected point's image beside the chart).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mimo.app.plots.selection import custom_values, selected_points
from mimo.runs.embedding import METHODS, Embedding
from mimo.runs.examples import Examples
from mimo.tasks import task

# The ways to colour the points, by key; the paired value's title comes from mimo.tasks.
COLOR_BY = ("digit", "paired", "correct")
# Ten colours for ten classes (plotly's D3 palette); values beyond wrap around.
CLASS_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
RIGHT_COLOR, WRONG_COLOR = "#9ecae1", "#d62728"  # wrong points stand out from the many right
POINT_SIZE = 5  # 2,000 points stay apart
WRONG_POINT_SIZE = 9  # a mistake is easy to find among them


def color_choices(model: str) -> dict[str, str]:
    """COLOR_BY key -> its name on the page, for a model of the table."""
    return {
        "digit": "True digit",
        "paired": task(model).pairing.title,
        "correct": "Right or wrong",
    }


def _groups(examples: Examples, index: np.ndarray, color_by: str):
    """(name, colour, marker size, positions into index) per colour group."""
    pairing = task(examples.model).pairing
    if color_by == "digit":
        values = examples.digits[index]
        return [
            (str(v), CLASS_COLORS[v % len(CLASS_COLORS)], POINT_SIZE, np.flatnonzero(values == v))
            for v in range(10)
        ]
    if color_by == "paired":
        values = examples.rows[pairing.sample_key][index]
        colors = pairing.value_colors or CLASS_COLORS
        return [
            (
                pairing.value_label(v),
                colors[v % len(colors)],
                POINT_SIZE,
                np.flatnonzero(values == v),
            )
            for v in range(pairing.values)
        ]
    if color_by == "correct":
        right = examples.right()[index]
        return [
            ("right", RIGHT_COLOR, POINT_SIZE, np.flatnonzero(right)),
            ("wrong", WRONG_COLOR, WRONG_POINT_SIZE, np.flatnonzero(~right)),
        ]
    raise ValueError(f"colour by one of {', '.join(COLOR_BY)}, not {color_by!r}")


def _hover(examples: Examples, test_index: int) -> str:
    model_task = task(examples.model)
    rows = examples.rows
    paired = model_task.pairing.value_label(rows[model_task.pairing.sample_key][test_index])
    parts = [f"test image #{test_index}", f"{model_task.pairing.title.lower()} {paired}"]
    for head in model_task.heads:
        true, pred = rows[f"{head.name}_true"][test_index], rows[f"{head.name}_pred"][test_index]
        conf = rows[f"{head.name}_confidence"][test_index]
        mark = "" if true == pred else " ✗"
        parts.append(
            f"{head.title.lower()}: true {head.value(true)}, predicted {head.value(pred)} "
            f"({conf:.1%}){mark}"
        )
    return "<br>".join(parts)


def projector_figure(
    embedding: Embedding, examples: Examples, method: str = "tsne", color_by: str = "digit"
) -> go.Figure:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    points = embedding.coordinates[method]
    index = embedding.index
    if index.max() >= examples.n:
        raise ValueError("the embedding's points are not all among the run's test examples")
    fig = go.Figure()
    for name, color, size, where in _groups(examples, index, color_by):
        if not len(where):
            continue
        fig.add_trace(
            go.Scatter(
                x=points[where, 0],
                y=points[where, 1],
                mode="markers",
                name=name,
                marker={"color": color, "size": size, "line": {"width": 0}},
                # A plain list: a numpy array would reach the browser as a typed array, and its
                # selection events would carry {"0": index} instead of [index].
                customdata=index[where].reshape(-1, 1).tolist(),
                hovertext=[_hover(examples, int(i)) for i in index[where]],
                hovertemplate="%{hovertext}<extra></extra>",
                selected={"marker": {"size": 14, "color": "black"}},
                unselected={"marker": {"opacity": 0.5}},
            )
        )
    axis = "PC" if method == "pca" else "t-SNE"
    titles = [f"{axis} 1", f"{axis} 2"]
    if method == "pca" and all(np.isfinite(embedding.explained)):
        titles = [
            f"{t} ({share:.1%} of the variance)"
            for t, share in zip(titles, embedding.explained, strict=True)
        ]
    fig.update_xaxes(title_text=titles[0], zeroline=False, showticklabels=method == "pca")
    fig.update_yaxes(title_text=titles[1], zeroline=False, showticklabels=method == "pca")
    fig.update_layout(
        title=f"{len(index):,} test digits, {METHODS[method]} of the features every head reads",
        height=560,
        hovermode="closest",
        legend={"title": {"text": color_choices(examples.model)[color_by]}},
        margin={"t": 60, "b": 50, "l": 50, "r": 20},
    )
    return fig


def selected_example(event) -> int | None:
    """The test index of the point clicked in projector_figure, from st.plotly_chart's
    selection event; None when none is."""
    for point in selected_points(event):
        data = custom_values(point)
        if data:
            return int(data[0])
    return None
