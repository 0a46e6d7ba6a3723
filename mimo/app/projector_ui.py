"""The embedding projector on the Dashboards page: a run's test digits in its feature space
(PCA or t-SNE, mimo.runs.embedding), coloured as the user picks; a clicked point's image and
answers show beside the chart (plotly's hover cannot show a picture).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from mimo.app.plots.projector import color_choices, projector_figure, selected_example
from mimo.app.run_data import figure
from mimo.runs.embedding import METHODS, Embedding
from mimo.runs.examples import Examples
from mimo.tasks import task

EMBEDDING_KEY = "embedding"  # the container of the projector, for the page's checks
CHART_KEY = "embedding_scatter"
IMAGE_SCALE = 6  # the selected digit, enlarged with square pixels


def projector_choices_ui(model: str) -> tuple[str, str]:
    left, right = st.columns(2)
    method = left.radio(
        "Projection", list(METHODS), format_func=METHODS.get, horizontal=True, key="dash_proj"
    )
    choices = color_choices(model)
    color_by = right.radio(
        "Colour by",
        list(choices),
        format_func=choices.get,
        horizontal=True,
        key=f"dash_proj_color_{model}",
    )
    return method, color_by


def projector_ui(
    embedding: Embedding | None, examples: Examples | None, problem: str | None, key: tuple = ()
) -> None:
    """The projector in its keyed container; a calm message when the run has no embedding.
    key: what the figure depends on besides the choices (the runs' files' stamps)."""
    with st.container(key=EMBEDDING_KEY):
        if embedding is None or examples is None:
            st.info(problem or "This run has no embedding to show.")
            return
        method, color_by = projector_choices_ui(examples.model)
        chart, side = st.columns([3, 1])
        fig = figure(
            ("projector", key, method, color_by),
            lambda: projector_figure(embedding, examples, method, color_by),
        )
        event = chart.plotly_chart(
            fig,
            width="stretch",
            key=CHART_KEY,
            on_select="rerun",
            selection_mode="points",
        )
        with side:
            selected_digit_ui(examples, selected_example(event))
        layer = embedding.layer or "the trunk's last layer"
        st.caption(
            f"Each point is a test digit of the run's random sample, placed by the {layer!r} "
            "layer's outputs (what every head reads). t-SNE keeps neighbours together; PCA "
            "keeps the two directions of largest spread. Click a point to see its digit."
        )


def selected_digit_ui(examples: Examples, index: int | None) -> None:
    if index is None or not examples.pictured([index]).size:
        st.caption("Click a point to see its digit here.")
        return
    sample = examples.samples([index])
    model_task = task(examples.model)
    seen = model_task.image(sample["image"], sample[model_task.pairing.sample_key])[0]
    pixels = (np.clip(seen, 0, 1) * 255).round().astype(np.uint8).squeeze()
    st.image(np.repeat(np.repeat(pixels, IMAGE_SCALE, axis=0), IMAGE_SCALE, axis=1))
    pairing = model_task.pairing
    lines = [
        f"**Test image #{index}**",
        f"{pairing.title}: {pairing.value_label(sample[pairing.sample_key][0])}",
    ]
    for head in model_task.heads:
        true, pred = sample[f"{head.name}_true"][0], sample[f"{head.name}_pred"][0]
        conf = sample[f"{head.name}_confidence"][0]
        verdict = "✓" if true == pred else "✗"
        lines.append(
            f"{head.title}: true {head.value(true)}, predicted {head.value(pred)} "
            f"({conf:.1%}) {verdict}"
        )
    st.markdown("  \n".join(lines))
