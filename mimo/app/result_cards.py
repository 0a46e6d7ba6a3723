"""The Predict page's result cards: one per model, its answer per head and what it read.

Each card holds, per head, a metric (the answer and how sure) with its probability bars, then
the 28x28 input the model saw; its heading names the model and the run that answered, with a
link to that run on the Dashboards page. Before anything is drawn the same cards show dashes,
so the page keeps its shape when the first answer arrives. Remarks about an answer (the models
disagree, the ink is neither red nor green, the input is not one digit) come with the cards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from mimo.app.plots.probabilities import head_bars
from mimo.app.support import ink_color_name, pixel_image_html, prediction_notes
from mimo.tasks import TASKS, Task

INPUT_SIZE = 96  # the 28x28 model inputs are shown enlarged, with square pixels
WAITING = "–"  # a metric's value before anything is drawn
LOADING = "…"  # a metric's value while the models load
DASHBOARDS_PAGE = "app_pages/dashboards.py"
NO_INK = "Neither"  # the colour answer for ink that is none of the colours a model knows
NOTE_ICONS = {
    "disagreement": ":material/balance:",
    "wrong_color": ":material/palette:",
    "unknown_ink": ":material/palette:",
}


def result_key(name: str) -> str:
    """The key of a model's result card ("color-model-result")."""
    return f"{name}-model-result"


def waiting_key(name: str) -> str:
    """The key of a model's card while nothing is read ("color-model-waiting")."""
    return f"{name}-model-waiting"


# The result cards of an input that is not one digit: still there, visibly in the background.
NOT_A_DIGIT_STYLE = (
    f"<style>{', '.join(f'.st-key-{result_key(name)}' for name in TASKS)} "
    "{opacity: 0.45; filter: grayscale(0.6);}</style>"
)


@dataclass(frozen=True)
class Head:
    """What a card shows for one prediction head: a metric, and the probability bars."""

    label: str
    value: object
    note: str | None = None  # under the value: "92% sure", or why the answer means little
    bars: str | None = None  # probability_bars() HTML


def _model_card(key: str, task: Task, number: int, heads: list[Head], seen, run_id=None) -> None:
    """One model's card: per head a metric and its bars, then the 28x28 input the model saw."""
    with st.container(key=key, border=True):
        _heading_ui(task, number, run_id)
        with st.container(horizontal=True, gap="small"):
            for head in heads:
                with st.container(width="stretch"):
                    st.metric(
                        head.label,
                        head.value,
                        delta=head.note,
                        delta_color="off",
                        delta_arrow="off",
                    )
                    if head.bars is not None:
                        st.html(head.bars)
            with st.container(width=INPUT_SIZE):
                st.html(pixel_image_html(seen, INPUT_SIZE, alt="The 28x28 input the model saw"))
                st.caption("What it saw")


def _heading_ui(task: Task, number: int, run_id: str | None) -> None:
    """ "**Colour model** · reads the digit in colour", and the run that answers, linked to its
    dashboard."""
    st.markdown(f"**{task.title}** · {task.card_caption.format(number=number)}")
    if run_id is not None:
        st.page_link(
            DASHBOARDS_PAGE,
            label=f"Run {run_id}",
            icon=":material/monitoring:",
            query_params={"model": task.name, "run": run_id},
            help="The active run of this model; open its dashboard.",
        )


def _head_view(head, answer, ink: str | None) -> Head:
    """A head's metric: its answer, how sure; a head that names inks says when the ink is none of
    them, instead of showing a confident colour."""
    bars = head_bars(head, answer.probs)
    if head.inks and ink not in head.inks:
        known = " nor ".join(head.inks)
        return Head(
            head.label, NO_INK, f"not {known}: its guess, {answer.value}, means little", bars
        )
    value = answer.value.capitalize() if isinstance(answer.value, str) else answer.value
    return Head(head.label, value, f"{answer.confidence:.0%} sure", bars)


def model_result_ui(task: Task, prediction, prepared, run_id: str | None = None) -> None:
    """One model's card: its answer and probabilities per head, and the input it read."""
    result = prediction.models[task.name]
    ink = ink_color_name(prepared.ink_rgb)
    heads = [_head_view(head, result.heads[head.name], ink) for head in task.heads]
    seen = getattr(prepared, task.serving_image)
    _model_card(result_key(task.name), task, prediction.number, heads, seen, run_id)


def waiting_model_ui(task: Task, number: int, value: str = WAITING, run_id=None) -> None:
    """A model's card before there is a digit: what will show, with nothing read yet."""
    heads = [Head(head.label, value) for head in task.heads]
    nothing = np.zeros((28, 28), np.float32)
    _model_card(waiting_key(task.name), task, number, heads, nothing, run_id)


def waiting_models_ui(number: int, value: str = WAITING, run_ids=None) -> None:
    """Every model's card before there is a digit. The page keeps its shape when the first result
    arrives, and the browser has loaded the pieces a result is made of before the first stroke."""
    run_ids = run_ids or {}
    for task in TASKS.values():
        waiting_model_ui(task, number, value, run_ids.get(task.name))


def not_a_digit_ui(cut_by_edge: bool, models_unsure: bool) -> None:
    """The input is not one digit: say so; the models' guesses below fade into the background.
    cut_by_edge: the ink reaches the picture's edge, so part of it may be missing;
    models_unsure: the models are not sure which digit it is (Prediction.models_unsure)."""
    reason = " The models are not sure which digit it is." if models_unsure else ""
    advice = (
        "Part of it may be cut off at the edge: draw it a little smaller, with space around it."
        if cut_by_edge
        else "Draw or upload one digit, 0 to 9."
    )
    st.warning(
        f"This doesn't look like a single digit.{reason} The models still guess below, but "
        f"their answers mean little. {advice}",
        icon=":material/help:",
    )
    st.html(NOT_A_DIGIT_STYLE)


def notes_ui(prediction, prepared) -> None:
    """Point out when the models disagree on the digit or the colour differs from the ink."""
    for note in prediction_notes(prediction, prepared.ink_rgb):
        show = st.info if note.kind == "unknown_ink" else st.warning
        show(note.text, icon=NOTE_ICONS[note.kind])
