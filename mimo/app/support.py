"""Cached loaders and small helpers shared by the Streamlit pages.

- `load_predictor()`: both active models, loaded once per server process and shared by all
  sessions (st.cache_resource). The cache is keyed by the registry and the active run ids, read
  on every rerun, so activating another run takes effect on the next interaction, no restart.
- `pixel_image_html()`: a model's 28x28 input, enlarged with square pixels, inline.
- `predict_image()`: preprocessing and prediction memoised by the image's content (and the
  number and the run ids), so a rerun that changed nothing recomputes nothing.

Everything that is not about Streamlit lives in the rest of the package.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import html
import threading
from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image

from mimo.app.plots.png import png_data_url
from mimo.app.process_tuning import keep_keras_state_between_runs
from mimo.encoding import COLOR_NAMES
from mimo.runs.registry import Registry, RegistryError
from mimo.serve.decode import decode
from mimo.serve.predictor import Prediction, Predictor
from mimo.serve.preprocess import InputError, NoDigitFound, PreparedDigit, prepare
from mimo.tasks import DIGIT, TASKS

PREDICTOR_CACHE_ENTRIES = 2  # the active pair, plus the previous pair while sessions switch
IMAGE_CACHE_ENTRIES = 64
PREDICTION_CACHE_ENTRIES = 256
PREVIEW_SIDE = 280  # pixels: an uploaded picture's preview, the canvas's size
INK_DOMINANCE = 1.3  # a channel this many times the other counts as the ink's colour
HOW_TO_TRAIN = (
    "Train and activate a colour model and a sum model on the Retrain page, or from a terminal: "
    "`python -m mimo train --model color --activate` and "
    "`python -m mimo train --model sum --activate`."
)


class ModelsUnavailable(RuntimeError):
    """The active models cannot be loaded; the message is meant for the user, as is."""


# ---------------------------------------------------------------------------------------------
# Models


def active_run_ids(registry: Registry | None = None) -> tuple[str, ...]:
    """The active run id of every model, in the order of mimo.tasks.TASKS (colour, sum);
    ModelsUnavailable if any is missing."""
    registry = registry or Registry()
    active = registry.active_ids()
    missing = [model for model in TASKS if model not in active]
    if missing:
        raise ModelsUnavailable(
            f"No active {' and no active '.join(missing)} model in {registry.root}. " + HOW_TO_TRAIN
        )
    return tuple(active[model] for model in TASKS)


@st.cache_resource(max_entries=PREDICTOR_CACHE_ENTRIES, show_spinner="Loading the models…")
def _cached_predictor(registry_root: str, run_ids: tuple[str, ...]) -> Predictor:
    """Keyed by the active ids; a damaged active model falls back (see Predictor.notes)."""
    # A session run without app.py's lifespan (Streamlit's AppTest) still needs the patch
    # before the models are used; with the lifespan this does nothing.
    keep_keras_state_between_runs()
    gc.unfreeze()  # let an evicted, older Predictor be collected
    predictor = Predictor.from_registry(Registry(registry_root))
    _freeze_long_lived_objects()
    return predictor


def _freeze_long_lived_objects() -> None:
    """Move everything alive now (the models, which live as long as the server) out of the
    garbage collector's way, so the full collection Streamlit runs after every script run takes
    milliseconds, not a quarter second. It must follow the model load; the next load unfreezes
    first, so an evicted Predictor can still be collected."""
    gc.collect()
    gc.freeze()


def start_warming() -> None:
    """Load and trace the active models in a background thread, once per server process.

    app.py calls this when the server starts (its st.App lifespan), so the models are ready
    before the first visitor draws. A failure is not kept: the page's own load_predictor()
    call then shows the message.
    """
    global _warm_thread
    with _warm_lock:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=_warm, name="mimo-warm-start", daemon=True)
            _warm_thread.start()


def _warm() -> None:
    with contextlib.suppress(Exception):
        load_predictor()


def models_loading() -> bool:
    """Whether the warm start is still loading the models (the page should wait for it)."""
    return _warm_thread is not None and _warm_thread.is_alive()


_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


def load_predictor(registry: Registry | None = None) -> Predictor:
    """The Predictor for the active runs, loaded once per server and shared by all sessions.

    Raises ModelsUnavailable with a user-facing message when the models cannot be loaded.
    """
    registry = registry or Registry()
    run_ids = active_run_ids(registry)
    try:
        return _cached_predictor(str(registry.root), run_ids)
    except RegistryError as exc:
        raise ModelsUnavailable(f"The active models cannot be used: {exc}. {HOW_TO_TRAIN}") from exc
    except Exception as exc:  # a damaged or incompatible model file, in any of Keras's ways
        runs = ", ".join(
            f"{t.noun} {run_id}" for t, run_id in zip(TASKS.values(), run_ids, strict=True)
        )
        raise ModelsUnavailable(
            f"The active models ({runs}) could not be loaded: "
            f"{type(exc).__name__}: {exc}. Activate other runs on the Retrain page, or train "
            "new ones."
        ) from exc


# ---------------------------------------------------------------------------------------------
# Images and predictions, memoised by content


def image_digest(image_bytes: bytes) -> str:
    return hashlib.blake2b(image_bytes, digest_size=16).hexdigest()


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner=False)
def _cached_prepare(digest: str, _image_bytes: bytes) -> PreparedDigit:
    return prepare(_image_bytes)


@st.cache_data(max_entries=PREDICTION_CACHE_ENTRIES, show_spinner=False)
def _cached_prediction(
    run_ids: tuple[str, ...], digest: str, number: int, _predictor: Predictor, _prepared
) -> Prediction:
    return _predictor.predict(_prepared, number)


def predict_image(
    predictor: Predictor, image_bytes: bytes, number: int
) -> tuple[PreparedDigit, Prediction]:
    """Prepare and predict an encoded image; both steps memoised. Raises InputError."""
    digest = image_digest(image_bytes)
    prepared = _cached_prepare(digest, image_bytes)
    prediction = _cached_prediction(predictor.run_ids, digest, int(number), predictor, prepared)
    return prepared, prediction


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner=False)
def _cached_preview(digest: str, _image_bytes: bytes) -> np.ndarray | None:
    try:
        pixels = decode(_image_bytes)  # every guard of the prediction's own decode applies
    except InputError:
        return None  # the prediction says what is wrong with the file
    rgb = pixels.rgb
    if pixels.alpha is not None:  # transparent parts shown as white paper
        rgb = rgb * pixels.alpha[..., None] + (1.0 - pixels.alpha[..., None])
    image = Image.fromarray((np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image)


def upload_preview(image_bytes: bytes) -> np.ndarray | None:
    """An uploaded picture as the page shows it (uint8 RGB, at most PREVIEW_SIDE pixels on a
    side), or None when it cannot be decoded (the prediction then says why)."""
    return _cached_preview(image_digest(image_bytes), image_bytes)


def is_blank_input(error: InputError) -> bool:
    """Whether an InputError only means that there is nothing drawn yet (a blank canvas)."""
    return isinstance(error, NoDigitFound)


# ---------------------------------------------------------------------------------------------
# Showing what the models saw


@dataclass(frozen=True)
class Note:
    """A remark about a prediction, for the page to show."""

    kind: str  # "disagreement", "wrong_color" or "unknown_ink"
    text: str


NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}


def prediction_notes(prediction: Prediction, ink_rgb) -> list[Note]:
    """What deserves a remark: the models disagree on the digit; a model that names the ink's
    colour (the colour model) names another colour than the ink's; the ink is none of the
    colours it knows (so its answer cannot be checked)."""
    notes = []
    if not prediction.models_agree:
        readings = ", ".join(
            f"the {TASKS[name].title.lower()} reads {result.heads[DIGIT.name].value}"
            for name, result in prediction.models.items()
        )
        notes.append(Note("disagreement", f"The models disagree on the digit: {readings}."))
    ink = ink_color_name(ink_rgb)
    for name, result in prediction.models.items():
        title = TASKS[name].title.lower()
        for head in TASKS[name].heads:
            if not head.inks:  # only a head whose classes are inks can be checked
                continue
            answer = result.heads[head.name].value
            if ink not in head.inks:
                known, count = " nor ".join(head.inks), len(head.inks)
                text = (
                    f"The ink is neither clearly {known}; the {title} only knows those "
                    f"{NUMBER_WORDS.get(count, count)}."
                )
                notes.append(Note("unknown_ink", text))
            elif answer != ink:
                text = f"The {title} says {answer}, but the digit is drawn in {ink}."
                notes.append(Note("wrong_color", text))
    return notes


def ink_color_name(ink_rgb) -> str | None:
    """ "red" or "green" when that channel clearly dominates the ink colour, else None."""
    channels = [float(c) for c in ink_rgb]
    for channel, name in enumerate(COLOR_NAMES):  # red is drawn in channel 0, green in 1
        others = channels[:channel] + channels[channel + 1 :]
        if channels[channel] >= INK_DOMINANCE * max(*others, 1.0):
            return name
    return None


def pixel_image_html(image: np.ndarray, size: int = 140, alt: str = "") -> str:
    """An <img> of a 28x28 (grey) or 28x28x3 float [0, 1] model input, shown `size` pixels wide
    (at most; less in a narrow column) with nearest-neighbour scaling, so every input pixel
    stays a visible square.

    The picture travels inline as a data: URL (a few hundred bytes), so it updates together with
    the rest of the page instead of flickering while a separate media file loads.
    """
    pixels = (np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    source = png_data_url(pixels)
    style = (
        f"width:100%;max-width:{size}px;height:auto;aspect-ratio:1/1;"
        "image-rendering:pixelated;border-radius:0.25rem;display:block"
    )
    return f'<img src="{source}" alt="{html.escape(alt)}" style="{style}">'
