"""The Predict page's "Explain" parts: why each model answered, under the result cards.

For one drawing and one model, computed once (memoised by the picture, the number and the
runs) and drawn after both cards are on the page, so the answers never wait for them:

- per head, an attribution map over the 28x28 input the model saw (integrated gradients,
  mimo.serve.explain): where the evidence for its answer is;
- for a model with a second input (the sum model), how much of its last head's answer came
  from the image and how much from the number, as one bar;
- for a model that names the ink (the colour model), the digit it reads in the other ink;
- "inside the network": the most active feature maps of each residual block.

Each part sits in `st.container(key="<model>-model-explanation")`. The expander starts open;
predict.js folds it on phones.
"""

from __future__ import annotations

import html
import logging
import time
from dataclasses import dataclass

import numpy as np
import streamlit as st

from mimo.app.plots.png import png_data_url
from mimo.app.support import PREDICTOR_CACHE_ENTRIES, image_digest, ink_color_name
from mimo.serve.explain import (
    BlockFeatures,
    Explainer,
    HeadAttribution,
    attribution_heatmap,
    explain,
    recolored,
    split_percent,
)
from mimo.serve.preprocess import PreparedDigit
from mimo.tasks import DIGIT, HEADS, TASKS, Task, pack

LOG = logging.getLogger(__name__)
EXPLANATION_CACHE_ENTRIES = 128
# Before explaining an input for the first time, the script pauses this long, so the answers it
# has just sent are drawn first: the browser often shares the server's cores (`streamlit run`
# on a laptop), and the explanations' integrated gradients would otherwise keep both busy.
EXPLANATIONS_HEAD_START_S = 0.12
EXPLAINED_STATE = "explained_input"  # session state: the last input whose explanations showed
MAP_SIZE = 112  # pixels: an attribution map, 4x its 28x28
MAP_SCALE = 4  # the PNG's own enlargement, so a browser that smooths still shows squares
FEATURE_TILE_COLUMNS = 4  # feature maps per row in a block's grid
FEATURE_TILE_GAP = 1  # pixels between two maps of a grid (in the block's own resolution)
FEATURE_GRID_SIZE = 150  # pixels: a block's grid of maps
SPLIT_COLORS = {"image": "#1f77b4", "number": "#ff7f0e"}  # the image/number split bar
OTHER_COLOR = "#9aa5b1"  # a split part without a colour of its own


def explanation_key(name: str) -> str:
    """The key of a model's explanation part ("color-model-explanation")."""
    return f"{name}-model-explanation"


@dataclass(frozen=True)
class ModelExplanation:
    heads: list[HeadAttribution]  # one map per head, in the model's head order
    split: dict[str, float]  # the last head's share per input; {} for a one-input model
    blocks: list[BlockFeatures]  # the residual blocks' most active feature maps
    seen: np.ndarray  # the input the model saw, under the maps
    recolored_digit: tuple[str, object, float] | None  # (how it was redrawn, digit, confidence)


# ---------------------------------------------------------------------------------------------
# Computing, once per drawing


@st.cache_resource(max_entries=PREDICTOR_CACHE_ENTRIES, show_spinner=False)
def _explainers(run_ids: tuple[str, ...], _predictor) -> dict[str, Explainer]:
    """One Explainer per loaded model, traced once per server and shared by all sessions."""
    return {name: Explainer(model) for name, model in _predictor.models.items()}


@st.cache_data(max_entries=EXPLANATION_CACHE_ENTRIES, show_spinner=False)
def _explanation(
    run_ids: tuple[str, ...], digest: str, number: int, name: str, _predictor, _prediction, _prep
) -> ModelExplanation:
    task, result = TASKS[name], _prediction.models[name]
    explainer = _explainers(run_ids, _predictor)[name]
    heads, split = explain(explainer, result, _prep, number)
    blocks = explainer.feature_maps(pack(task.serving_inputs(_prep, number)))
    return ModelExplanation(
        heads=heads,
        split=split if task.second_input else {},
        blocks=blocks,
        seen=np.asarray(getattr(_prep, task.serving_image)),
        recolored_digit=_in_the_other_ink(task, _predictor, _prep, number),
    )


def _in_the_other_ink(task: Task, predictor, prepared: PreparedDigit, number: int):
    """For a model that names the ink: (how it was redrawn, its digit, how sure) for the drawing
    with red and green swapped; None for other models."""
    if not any(head.inks for head in task.heads):
        return None
    red, green, blue = prepared.ink_rgb
    swapped = PreparedDigit(recolored(prepared.rgb), prepared.grey, (green, red, blue))
    answer = predictor.predict(swapped, number).models[task.name].heads[DIGIT.name]
    ink = ink_color_name(swapped.ink_rgb)
    redrawn = f"in {ink} ink" if ink else "with red and green swapped"
    return redrawn, answer.value, answer.confidence


# ---------------------------------------------------------------------------------------------
# Drawing


def explanations_ui(predictor, image_bytes: bytes, prediction, prepared) -> None:
    """Every model's explanation, in the order of the cards above them."""
    digest = image_digest(image_bytes)
    explained = (predictor.run_ids, digest, prediction.number)
    if st.session_state.get(EXPLAINED_STATE) != explained:
        time.sleep(EXPLANATIONS_HEAD_START_S)  # a new input: let the answers show first
    for name, result in prediction.models.items():
        with st.container(key=explanation_key(name)):
            try:
                explanation = _explanation(
                    predictor.run_ids,
                    digest,
                    prediction.number,
                    name,
                    predictor,
                    prediction,
                    prepared,
                )
            except Exception:  # the answers above stand; only the "why" is missing
                LOG.exception("explaining the %s model's answer failed", name)
                st.caption(f"The {TASKS[name].title.lower()}'s explanation is not available here.")
                continue
            explanation_ui(TASKS[name], result, explanation)
    st.session_state[EXPLAINED_STATE] = explained


def explanation_ui(task: Task, result, explanation: ModelExplanation) -> None:
    with st.expander(f"Why? What the {task.title.lower()} looked at", expanded=True):
        st.html(_head_maps_html(explanation))
        if explanation.split:
            last = task.heads[-1]
            st.html(_split_html(f"{last.title} {result.value(last.name)}", explanation.split))
        if explanation.recolored_digit is not None:
            _recolour_check_ui(result, explanation.recolored_digit)
        st.markdown("**Inside the network** · each residual block's most active feature maps")
        st.html(_blocks_html(explanation.blocks))


def _figure(image_url: str, size: int, caption: str, alt: str) -> str:
    style = f"width:{size}px;max-width:100%;height:auto;image-rendering:pixelated;display:block"
    return (
        '<figure style="margin:0;flex:0 1 auto">'
        f'<img src="{image_url}" alt="{html.escape(alt)}" style="{style}">'
        '<figcaption style="font-size:12px;line-height:16px;margin-top:4px;max-width:'
        f'{size}px">{html.escape(caption)}</figcaption></figure>'
    )


def _row(figures: list[str]) -> str:
    return f'<div style="display:flex;flex-wrap:wrap;gap:12px">{"".join(figures)}</div>'


def _head_maps_html(explanation: ModelExplanation) -> str:
    """One heatmap per head: red where a pixel speaks for the answer, blue where against."""
    figures = []
    for head in explanation.heads:
        pixels = attribution_heatmap(head.pixels, explanation.seen)
        title = HEADS[head.head].title
        caption = f"{title} {head.answer}: where the evidence is"
        alt = f"Attribution map of the {title.lower()} head for its answer {head.answer}"
        figures.append(_figure(png_data_url(pixels, scale=MAP_SCALE), MAP_SIZE, caption, alt))
    legend = (
        '<p style="font-size:12px;margin:6px 0 0;color:#5b6573">'
        "Warm: pixels that speak for the answer. Cool: pixels that speak against it.</p>"
    )
    return _row(figures) + legend


def _split_html(answer: str, split: dict[str, float]) -> str:
    """One bar: how much of the answer came through each input ("image 83% · number 17%")."""
    percent = split_percent(split)
    parts = "".join(
        f'<div title="{name} {share:.0f}%" style="width:{share}%;background:'
        f'{SPLIT_COLORS.get(name, OTHER_COLOR)}"></div>'
        for name, share in percent.items()
    )
    words = " · ".join(f"{name} {share:.0f}%" for name, share in percent.items())
    return (
        f'<div role="img" aria-label="{html.escape(answer)} came from: {html.escape(words)}">'
        f'<div style="font-size:14px;margin-bottom:4px">{html.escape(answer)} came from: '
        f"<b>{html.escape(words)}</b></div>"
        f'<div style="display:flex;height:12px;border-radius:6px;overflow:hidden">{parts}</div>'
        "</div>"
    )


def _recolour_check_ui(result, other) -> None:
    """The digit in the other ink: multi-task sharing should not make it depend on the colour."""
    redrawn, digit, confidence = other
    own = result.value(DIGIT.name)
    same = "the same digit" if digit == own else "**a different digit**"
    st.markdown(
        f"**Recolour check** · {redrawn} it reads **{digit}** ({confidence:.0%} sure): "
        f"{same} as in your ink ({own})."
    )


def _feature_grid(block: BlockFeatures) -> np.ndarray:
    """A block's maps as one grey picture: FEATURE_TILE_COLUMNS per row, thin gaps."""
    count, height, width = block.maps.shape
    rows = -(-count // FEATURE_TILE_COLUMNS)
    gap = FEATURE_TILE_GAP
    grid = np.full(
        (rows * (height + gap) - gap, FEATURE_TILE_COLUMNS * (width + gap) - gap), 255, np.uint8
    )
    for i, tile in enumerate(block.maps):
        top, left = (
            (i // FEATURE_TILE_COLUMNS) * (height + gap),
            (i % FEATURE_TILE_COLUMNS) * (width + gap),
        )
        grid[top : top + height, left : left + width] = (tile * 255 + 0.5).astype(np.uint8)
    return grid


def _blocks_html(blocks: list[BlockFeatures]) -> str:
    figures = []
    for number, block in enumerate(blocks, start=1):
        _, height, width = block.maps.shape
        grid = _feature_grid(block)
        scale = max(1, FEATURE_GRID_SIZE // grid.shape[1])
        caption = f"Block {number} · {height}×{width}"
        alt = f"The most active feature maps of residual block {number}"
        figures.append(_figure(png_data_url(grid, scale=scale), FEATURE_GRID_SIZE, caption, alt))
    return _row(figures)
