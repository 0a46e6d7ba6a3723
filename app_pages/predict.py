"""Predict: draw or upload a digit, pick a number, and see both models' live predictions, and
why they answered.

The landing page of the mimo app (`streamlit run app.py` declares the navigation).
Every stroke on the canvas reruns the page and updates both results; there is no Predict button.
The results are drawn first; the models' explanations follow under the cards, in the same run.
The layout (side by side on wide screens, results right under the canvas on phones) and the
always-visible canvas toolbar come from mimo/app/assets/predict.css and predict.js.
"""

from __future__ import annotations

import functools
import random
import time
from importlib import resources

import streamlit as st

from mimo.app.explanation_ui import explanations_ui
from mimo.app.feedback_ui import feedback_ui
from mimo.app.result_cards import (
    LOADING,
    model_result_ui,
    not_a_digit_ui,
    notes_ui,
    waiting_models_ui,
)
from mimo.app.support import (
    ModelsUnavailable,
    is_blank_input,
    load_predictor,
    models_loading,
    predict_image,
    upload_preview,
)
from mimo.encoding import NUM_NUMBERS
from mimo.serve.preprocess import InputError
from mimo.tasks import INKS as INK_COLORS
from mimo.tasks import TASKS

CANVAS_SIZE = 280
CANVAS_KEY = "canvas"
# Realistic colour-picker inks, like the ones the colour model was trained on.
INKS = {name.capitalize(): hex_ for name, hex_ in INK_COLORS.items()}  # "Red": "#FF4B4B"
DRAWING, UPLOAD = "Drawing", "Upload"
SOURCES = (DRAWING, UPLOAD)
MODELS_POLL_S = 0.1  # how often a page waiting for the models checks on them
# While an upload is read the drawing is kept on the page (so it survives), but hidden.
HIDE_DRAWING_STYLE = "<style>.st-key-drawing {display: none;}</style>"


@functools.cache
def _asset(name: str) -> str:
    """A file of mimo/app/assets, read once per server, not on every stroke."""
    return (resources.files("mimo.app") / "assets" / name).read_text()


def page_behaviour_ui() -> None:
    """The page's layout rules and its script (the canvas toolbar, folding on phones)."""
    st.html(f"<style>{_asset('predict.css')}</style>")
    with st.container(key="predict-behaviour"):
        st.html(f"<script>{_asset('predict.js')}</script>", unsafe_allow_javascript=True)


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


def drawing_ui(ink: str, stroke_width: int, loading: bool) -> bytes | None:
    """The canvas under its toolbar, or, while the models load, a box of its size."""
    with st.container(key="drawing"):
        if loading:
            with st.container(height=CANVAS_SIZE, border=True, key="canvas-loading"):
                st.caption("The canvas appears when the models are ready…")
            return None
        return canvas_ui(ink, stroke_width)


def ink_ui() -> str:
    """The brush colour: "Red" or "Green"."""
    return st.radio("Ink", list(INKS), horizontal=True, key="ink")


def stroke_width_ui() -> int:
    return st.slider("Stroke width", min_value=8, max_value=40, value=22, key="stroke_width")


def _switch_source_to_upload() -> None:
    st.session_state["source"] = UPLOAD if st.session_state.get("upload") else DRAWING


def upload_ui():
    """An image file, or None. Picking a file switches the input to it.

    It takes files up to the server's maxUploadSize (.streamlit/config.toml), well over
    mimo.config.MAX_UPLOAD_BYTES, so that a file too big to read still arrives and the results
    say so in words; nor does it filter file types, for the same reason."""
    return st.file_uploader(
        "Upload a picture of a digit",
        key="upload",
        on_change=_switch_source_to_upload,
        help="PNG, JPEG, WebP, BMP, GIF or TIFF; one digit, on any plain background.",
    )


def upload_preview_ui(upload_bytes: bytes | None) -> None:
    """What the models read instead of the drawing: the uploaded picture, as uploaded."""
    preview = upload_preview(upload_bytes) if upload_bytes is not None else None
    if upload_bytes is None:
        st.info(
            "Choose a picture of a digit to read, under “Upload a picture”.",
            icon=":material/image:",
        )
    elif preview is not None:
        st.image(preview, caption="The models read this picture", width=CANVAS_SIZE)
    st.caption("Your drawing is kept, but not used: choose Drawing above to read it again.")


def input_source_ui() -> str:
    """Which input the models read: "Drawing" or "Upload"."""
    return st.radio("Predict from", SOURCES, horizontal=True, key="source")


def _roll_number() -> None:
    current = st.session_state.get("number", 0)
    st.session_state["number"] = random.choice([n for n in range(NUM_NUMBERS) if n != current])


def number_picker_ui() -> int:
    """The random number 0-9 the sum model adds to the digit, with a button that rolls one."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        number = st.number_input(
            "Random number",
            min_value=0,
            max_value=NUM_NUMBERS - 1,
            step=1,
            key="number",
            help="The sum model predicts digit + this number.",
        )
        st.button("Roll", icon=":material/casino:", on_click=_roll_number)
    return int(number)


# ---------------------------------------------------------------------------------------------
# Results


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


def unreadable_input_ui(error: InputError, source: str) -> None:
    """Ink or a file is there, but no digit could be read from it: what happened, what to do."""
    if source == DRAWING:
        st.warning(f"The drawing could not be read. {error}", icon=":material/gesture:")
    else:
        st.error(str(error), icon=":material/error:")


def nothing_to_predict_ui(source: str, number: int, run_ids: dict) -> None:
    """A calm hint on what to do, above both model cards waiting for a digit."""
    if source == UPLOAD:
        st.info(
            "Upload a picture of a digit to see what the models make of it.",
            icon=":material/image:",
        )
    else:
        st.info(
            "Draw a digit on the black canvas. The predictions update after every stroke.",
            icon=":material/draw:",
        )
    waiting_models_ui(number, run_ids=run_ids)


def predictions_ui(image_bytes: bytes | None, number: int, source: str) -> None:
    """Both models' results for the picture, then why they answered; or a calm hint, or a clear
    message."""
    try:
        predictor = load_predictor()  # before anything is drawn, so the first stroke is quick
    except ModelsUnavailable as exc:
        st.error(str(exc), icon=":material/error:")
        return
    for note in predictor.notes:  # a damaged active model was replaced by an older run
        st.warning(note, icon=":material/warning:")
    run_ids = {name: run.run_id for name, run in predictor.runs.items()}
    if image_bytes is None:
        nothing_to_predict_ui(source, number, run_ids)
        return
    try:
        prepared, prediction = predict_image(predictor, image_bytes, number)
    except InputError as exc:
        if source == DRAWING and is_blank_input(exc):
            nothing_to_predict_ui(source, number, run_ids)
        else:
            unreadable_input_ui(exc, source)
            waiting_models_ui(number, run_ids=run_ids)
        return
    if not prediction.is_digit:
        not_a_digit_ui(prepared.cut_by_edge, prediction.models_unsure)
    for task in TASKS.values():
        model_result_ui(task, prediction, prepared, run_ids[task.name])
    notes_ui(prediction, prepared)
    feedback_ui(image_bytes, prepared, prediction, source, run_ids)
    # The answers are on the page, every card in view; the explanations follow under them.
    explanations_ui(predictor, image_bytes, prediction, prepared)


# ---------------------------------------------------------------------------------------------
# Page


def predict_page() -> None:
    st.set_page_config(page_title="Predict · mimo", page_icon="✏️", layout="wide")
    page_behaviour_ui()
    inputs, results = st.columns([2, 3], gap="medium")
    with inputs:
        with st.container(key="input-header"):
            st.title(":material/draw: Predict", anchor=False)
            st.caption(
                "Two multi-task networks read your digit: one also names its colour, "
                "the other adds a number to it."
            )
            source = input_source_ui()
        # The controls run first (the canvas uses their values) but show under it. The canvas
        # keeps its place in every mode, so a drawing survives a look at an upload.
        with st.container(key="input-area"):
            upload_area, drawing_area = st.container(), st.container()
        with st.container(key="input-controls"):
            with st.container(horizontal=True):
                ink = ink_ui()
                stroke_width = stroke_width_ui()
            number = number_picker_ui()
            upload = upload_ui()
        upload_bytes = upload.getvalue() if upload is not None else None
        loading = models_loading()
        if source == UPLOAD:
            with upload_area:
                upload_preview_ui(upload_bytes)
            st.html(HIDE_DRAWING_STYLE)
        with drawing_area:
            drawing = drawing_ui(ink, stroke_width, loading)

    with results, st.container(key="predict-results"):
        if loading:
            models_loading_ui(number)
        else:
            predictions_ui(upload_bytes if source == UPLOAD else drawing, number, source)
    if loading:
        rerun_when_models_ready()


predict_page()
