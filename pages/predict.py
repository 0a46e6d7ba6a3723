"""Predict: draw or upload a digit, pick a number, and see both models' live predictions.

The landing page of the mimo app (`streamlit run app.py` declares the navigation).
Every stroke on the canvas reruns the page and updates both results; there is no Predict button.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np
import streamlit as st

from mimo import config
from mimo.app.plots.probabilities import head_bars
from mimo.app.support import (
    ModelsUnavailable,
    is_blank_input,
    load_predictor,
    models_loading,
    pixel_image_html,
    predict_image,
    prediction_notes,
)
from mimo.encoding import NUM_NUMBERS
from mimo.serve.preprocess import InputError
from mimo.tasks import INKS as INK_COLORS
from mimo.tasks import TASKS, Task

CANVAS_SIZE = 280
CANVAS_KEY = "canvas"
# Realistic colour-picker inks, like the ones the colour model was trained on.
INKS = {name.capitalize(): hex_ for name, hex_ in INK_COLORS.items()}  # "Red": "#FF4B4B"
SOURCES = ("Drawing", "Upload")
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
INPUT_SIZE = 112  # the 28x28 model inputs are shown 4x, with square pixels
WAITING = "–"  # a metric's value before anything is drawn
LOADING = "…"  # a metric's value while the models load
MODELS_POLL_S = 0.1  # how often a page waiting for the models checks on them


def result_key(name: str) -> str:
    """The key of a model's result card ("color-model-result")."""
    return f"{name}-model-result"


# The result cards of an input that is not one digit: still there, visibly in the background.
NOT_A_DIGIT_STYLE = (
    f"<style>{', '.join(f'.st-key-{result_key(name)}' for name in TASKS)} "
    "{opacity: 0.45; filter: grayscale(0.6);}</style>"
)


# ---------------------------------------------------------------------------------------------
# Inputs


def canvas_ui(ink: str, stroke_width: int) -> bytes | None:
    """The black drawing canvas; returns the drawing as PNG bytes, or None before any stroke."""
    from streamlit_drawable_canvas import st_canvas  # raises when imported outside a page run

    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color=INKS[ink],
        background_color="#000000",
        height=CANVAS_SIZE,
        width=CANVAS_SIZE,
        drawing_mode="freedraw",
        return_image_data=True,
        update_streamlit=True,
        key=CANVAS_KEY,
    )
    return result.image_bytes


def ink_ui() -> str:
    """The brush colour: "Red" or "Green"."""
    return st.radio("Ink", list(INKS), horizontal=True, key="ink")


def stroke_width_ui() -> int:
    return st.slider("Stroke width", min_value=8, max_value=40, value=22, key="stroke_width")


def _switch_source_to_upload() -> None:
    st.session_state["source"] = "Upload" if st.session_state.get("upload") else "Drawing"


def upload_ui():
    """An image file, or None. Picking a file switches the input to it."""
    return st.file_uploader(
        "…or upload a picture of a digit",
        type=UPLOAD_TYPES,
        max_upload_size=max(1, config.MAX_UPLOAD_BYTES // (1024 * 1024)),
        key="upload",
        on_change=_switch_source_to_upload,
        help="PNG, JPEG, WebP, BMP, GIF or TIFF; one digit, on any plain background.",
    )


def input_source_ui() -> str:
    """Which input the models read: "Drawing" or "Upload"."""
    return st.radio("Predict from", SOURCES, horizontal=True, key="source")


def _roll_number() -> None:
    current = st.session_state.get("number", 0)
    st.session_state["number"] = random.choice([n for n in range(NUM_NUMBERS) if n != current])


def number_picker_ui() -> int:
    """The random number 0-9 the sum model adds to the digit, with a button that rolls one."""
    pick, roll = st.columns([3, 2], vertical_alignment="bottom")
    with pick:
        number = st.number_input(
            "Random number",
            min_value=0,
            max_value=NUM_NUMBERS - 1,
            step=1,
            key="number",
            help="The sum model predicts digit + this number.",
        )
    with roll:
        st.button("Roll", icon=":material/casino:", on_click=_roll_number, width="stretch")
    return int(number)


# ---------------------------------------------------------------------------------------------
# Results


def _confidence(p: float) -> str:
    return f"{p:.0%} sure"


def _metric(label: str, value, confidence: float) -> None:
    st.metric(label, value, delta=_confidence(confidence), delta_color="off", delta_arrow="off")


def _model_input(image) -> None:
    st.html(pixel_image_html(image, INPUT_SIZE, alt="The 28x28 input the model saw"))
    st.caption("What it saw (28×28)")


@dataclass(frozen=True)
class Head:
    """What a model card shows for one prediction head: a metric, and the probability bars."""

    label: str
    value: object
    confidence: float | None = None  # None before anything is drawn
    bars: str | None = None  # probability_bars() HTML


def _model_card(key: str, heading: str, heads: list[Head], seen) -> None:
    """One model's card: per head a metric and its bars, then the 28x28 input the model saw."""
    with st.container(key=key, border=True):
        st.markdown(heading)
        *head_columns, seen_column = st.columns([5, 4, 3])
        for column, head in zip(head_columns, heads, strict=True):
            with column:
                if head.confidence is None:
                    st.metric(head.label, head.value)
                else:
                    _metric(head.label, head.value, head.confidence)
                if head.bars is not None:
                    st.html(head.bars)
        with seen_column:
            _model_input(seen)


def _heading(task: Task, number: int) -> str:
    """ "**Colour model** · reads the digit in colour"; the sum model's says the number."""
    return f"**{task.title}** · {task.card_caption.format(number=number)}"


def model_result_ui(task: Task, prediction, prepared) -> None:
    """One model's card: its answer and probabilities per head, and the input it read."""
    result = prediction.models[task.name]
    heads = []
    for head in task.heads:
        answer = result.heads[head.name]
        value = answer.value.capitalize() if isinstance(answer.value, str) else answer.value
        heads.append(Head(head.label, value, answer.confidence, head_bars(head, answer.probs)))
    seen = getattr(prepared, task.serving_image)
    _model_card(result_key(task.name), _heading(task, prediction.number), heads, seen)


def waiting_models_ui(number: int, value: str = WAITING) -> None:
    """Every model's card before there is a digit: what will show, with nothing read yet.

    The page keeps its shape when the first result arrives, and the browser has loaded the
    pieces a result is made of before the first stroke, not after it."""
    nothing = np.zeros((28, 28), np.float32)
    for task in TASKS.values():
        heads = [Head(head.label, value) for head in task.heads]
        _model_card(f"{task.name}-model-waiting", _heading(task, number), heads, nothing)


def models_loading_ui(number: int) -> None:
    """While the server loads the models: say so, with both cards showing that they load."""
    st.info(
        "Loading the models… The canvas appears as soon as they are ready (a few seconds "
        "after the server starts).",
        icon=":material/hourglass_top:",
    )
    waiting_models_ui(number, LOADING)


def rerun_when_models_ready() -> None:
    """Wait (this session's script thread only) until the models are loaded, then redraw.

    A blocking wait, not a polling fragment: every script run ends with a full garbage
    collection in Streamlit, and polling reruns every half second while TensorFlow loaded made
    the load itself several times slower.
    """
    while models_loading():
        time.sleep(MODELS_POLL_S)
    st.rerun()


def canvas_loading_ui() -> None:
    """Where the canvas will be, the same size, until the models can read a drawing."""
    with st.container(height=CANVAS_SIZE, border=True, key="canvas-loading"):
        st.caption("The canvas appears when the models are ready…")


NOTE_ICONS = {
    "disagreement": ":material/balance:",
    "wrong_color": ":material/palette:",
    "unknown_ink": ":material/palette:",
}


def not_a_digit_ui() -> None:
    """The input is not one digit: say so; the models' guesses below fade into the background."""
    st.warning(
        "This doesn't look like a single digit. The models still guess below, but their "
        "answers mean little. Draw or upload one digit, 0 to 9.",
        icon=":material/help:",
    )
    st.html(NOT_A_DIGIT_STYLE)


def unreadable_input_ui(error: InputError, source: str) -> None:
    """Ink or a file is there, but no digit could be read from it: what happened, what to do."""
    if source == "Drawing":
        st.warning(f"The drawing could not be read. {error}", icon=":material/gesture:")
    else:
        st.error(str(error), icon=":material/error:")


def notes_ui(prediction, prepared) -> None:
    """Point out when the models disagree on the digit or the colour differs from the ink."""
    for note in prediction_notes(prediction, prepared.ink_rgb):
        show = st.info if note.kind == "unknown_ink" else st.warning
        show(note.text, icon=NOTE_ICONS[note.kind])


def nothing_to_predict_ui(source: str, number: int) -> None:
    """A calm hint on what to do, above both model cards waiting for a digit."""
    if source == "Upload":
        st.info(
            "Upload a picture of a digit to see what the models make of it.",
            icon=":material/image:",
        )
    else:
        st.info(
            "Draw a digit on the black canvas. The predictions update after every stroke.",
            icon=":material/draw:",
        )
    waiting_models_ui(number)


# ---------------------------------------------------------------------------------------------
# Page


def predictions_ui(image_bytes: bytes | None, number: int, source: str) -> None:
    """Both models' results for the picture, or a calm hint, or a clear message."""
    try:
        predictor = load_predictor()  # before anything is drawn, so the first stroke is quick
    except ModelsUnavailable as exc:
        st.error(str(exc), icon=":material/error:")
        return
    for note in predictor.notes:  # a damaged active model was replaced by an older run
        st.warning(note, icon=":material/warning:")
    if image_bytes is None:
        nothing_to_predict_ui(source, number)
        return
    try:
        prepared, prediction = predict_image(predictor, image_bytes, number)
    except InputError as exc:
        if source == "Drawing" and is_blank_input(exc):
            nothing_to_predict_ui(source, number)
        else:
            unreadable_input_ui(exc, source)
            waiting_models_ui(number)
        return
    if not prediction.is_digit:
        not_a_digit_ui()
    for task in TASKS.values():
        model_result_ui(task, prediction, prepared)
    notes_ui(prediction, prepared)


def predict_page() -> None:
    st.set_page_config(page_title="Predict · mimo", page_icon="✏️", layout="wide")
    inputs, results = st.columns([2, 3], gap="medium")
    with inputs:
        st.title(":material/draw: Predict")
        st.caption(
            "Two multi-task networks read your digit: one also names its colour, "
            "the other adds a number to it."
        )
        # Text only right above the canvas: its toolbar floats there and would cover widgets.
        st.markdown("**Draw a digit** · hover the canvas to undo, redo or clear")
        st.space("small")
        # The controls under the canvas run first, so the canvas can use their values.
        drawing_slot = st.empty()
        ink_column, width_column = st.columns(2)
        with ink_column:
            ink = ink_ui()
        with width_column:
            stroke_width = stroke_width_ui()
        number = number_picker_ui()
        upload = upload_ui()
        source = input_source_ui()
        loading = models_loading()
        with drawing_slot:
            if loading:
                canvas_loading_ui()
                drawing = None
            else:
                drawing = canvas_ui(ink, stroke_width)

    with results:
        if loading:
            models_loading_ui(number)
        else:
            upload_bytes = upload.getvalue() if upload is not None else None
            predictions_ui(upload_bytes if source == "Upload" else drawing, number, source)
    if loading:
        rerun_when_models_ready()


predict_page()
