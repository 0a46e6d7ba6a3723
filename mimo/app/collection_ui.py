"""The parts of the My digits page: the collection's gallery (filters, relabel, delete one or
all), the active models scored on it, and the collection as an mnist.npz-layout file.

Every row is shown as the colour model saw it (28x28, in its ink), with its label, both models'
answers when it was saved, and the active models' answers now (mimo.feedback.scoring, one pass
over the collection, cached by the active runs and the collection's content).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from mimo.app.confusion_ui import class_scores_ui, matrix_places
from mimo.app.plots.confusion import class_labels, confusion_figure
from mimo.app.support import pixel_image_html
from mimo.encoding import NUM_DIGITS
from mimo.feedback.dataset import digit_count, import_npz, npz_bytes
from mimo.feedback.errors import FeedbackError
from mimo.feedback.scoring import CollectionScores, score_collection
from mimo.feedback.store import CollectionArrays, Example, FeedbackStore
from mimo.runs.view import HEAD_TITLES, percent
from mimo.tasks import DIGIT, TASKS
from mimo.train.data import DataUnavailable

GALLERY_STEP = 24  # items shown at first, and added by "Show more"
GALLERY_COLUMNS = 4  # items per row on a wide screen (Streamlit stacks them on a phone)
ITEM_IMAGE_PX = 84  # a row's 28x28 picture, enlarged with square pixels
SHOWN_STATE = "my_digits_shown"  # session state: how many gallery items are shown
ALL = "All"
RIGHT_NOW, WRONG_NOW = "Right now", "Wrong now"
SOURCES = {"Drawing": "drawing", "Upload": "upload", "Import": "import"}


@dataclass(frozen=True)
class Filters:
    verdict: str  # ALL, RIGHT_NOW or WRONG_NOW: do the active models read its digit right?
    digit: int | None  # only this label; None: every digit
    source: str | None  # only this source ("drawing"); None: every source


# ---------------------------------------------------------------------------------------------
# The active models on the collection


def _fingerprint(arrays: CollectionArrays) -> str:
    """Changes whenever a row is added, deleted or relabelled."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (arrays.ids, arrays.labels, arrays.numbers):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


@st.cache_data(max_entries=8, show_spinner="Reading the collection with the active models…")
def _cached_scores(run_ids: tuple, fingerprint: str, _models, _arrays) -> dict:
    return {name: score_collection(name, _models[name], _arrays) for name in TASKS}


def collection_scores(predictor, arrays: CollectionArrays) -> dict[str, CollectionScores]:
    """Each active model's answers on every row, and its accuracy per head."""
    return _cached_scores(predictor.run_ids, _fingerprint(arrays), predictor.models, arrays)


def digit_right_now(scores: dict[str, CollectionScores]) -> np.ndarray:
    """Per row: whether every active model reads its digit right."""
    rows = [s.predicted[DIGIT.name] == s.truth[DIGIT.name] for s in scores.values()]
    return np.logical_and.reduce(rows)


# ---------------------------------------------------------------------------------------------
# Gallery


def filters_ui() -> Filters:
    with st.container(horizontal=True):
        verdict = st.segmented_control(
            "Active models", [ALL, RIGHT_NOW, WRONG_NOW], default=ALL, key="filter_verdict"
        )
        digit = st.selectbox("Digit", [ALL, *range(NUM_DIGITS)], key="filter_digit")
        source = st.selectbox("Source", [ALL, *SOURCES], key="filter_source")
    return Filters(
        verdict or ALL,
        None if digit == ALL else int(digit),
        None if source == ALL else SOURCES[source],
    )


def chosen(examples: list[Example], right_now: dict[int, bool], filters: Filters) -> list:
    """The examples the filters let through, newest first."""
    kept = []
    for example in examples:
        if filters.digit is not None and example.label != filters.digit:
            continue
        if filters.source is not None and example.source != filters.source:
            continue
        if filters.verdict != ALL and right_now.get(example.id) != (filters.verdict == RIGHT_NOW):
            continue
        kept.append(example)
    return kept


def _answers_text(answers: dict, label: int) -> str:
    """ "colour 7 ✗ · sum 1 ✓": each model's digit, and whether it is the label."""
    said = []
    for name in TASKS:
        digit = (
            answers.get(name, {}).get(DIGIT.name) if isinstance(answers.get(name), dict) else None
        )
        if digit is not None:
            said.append(f"{TASKS[name].noun} {digit} {'✓' if digit == label else '✗'}")
    return " · ".join(said)


def item_ui(store: FeedbackStore, example: Example, now: dict) -> None:
    """One saved digit: its picture, label, the answers then and now, relabel and Delete."""
    with st.container(border=True, key=f"digit-{example.id}"):
        with st.container(horizontal=True, gap="small"):
            st.html(pixel_image_html(example.rgb / 255.0, ITEM_IMAGE_PX, alt="The saved digit"))
            with st.container():
                st.markdown(f"**{example.label}**")
                st.caption(f"{example.source} · {example.created_at:%d %b %H:%M}")
        then = _answers_text(example.answers, example.label)
        now = _answers_text(now, example.label)
        st.caption(f"Then: {then or 'not recorded'}  \nNow: {now or '–'}")
        with st.container(horizontal=True, vertical_alignment="bottom", gap="small"):
            label = st.selectbox(
                "Label",
                range(NUM_DIGITS),
                index=example.label,
                key=f"label-{example.id}",
                label_visibility="collapsed",
            )
            if st.button("Delete", key=f"delete-{example.id}", icon=":material/delete:"):
                _change(lambda: store.delete(example.id))
        if label != example.label:
            _change(lambda: store.relabel(example.id, label))


def _change(action) -> None:
    """Run a change to the collection and show the page again; or say why it failed."""
    try:
        action()
    except FeedbackError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.rerun()


def now_answers(scores: dict[str, CollectionScores], index: int) -> dict:
    return {name: {DIGIT.name: int(s.predicted[DIGIT.name][index])} for name, s in scores.items()}


def gallery_ui(
    store: FeedbackStore, examples: list[Example], arrays: CollectionArrays, scores
) -> None:
    """The collection, newest first, in `st.container(key="collection")` with its total.
    `examples` and `arrays` are the same rows (mimo.feedback.store.arrays_of), read once."""
    position = {int(row_id): i for i, row_id in enumerate(arrays.ids)}
    right = digit_right_now(scores) if scores else np.zeros(len(arrays.ids), bool)
    right_now = {row_id: bool(right[i]) for row_id, i in position.items()}
    with st.container(key="collection"):
        st.markdown(f"**{digit_count(len(examples))}** in the collection")
        if not examples:
            st.info(
                "Nothing saved yet. On the Predict page, press the true digit under the "
                "answers to keep a drawing here.",
                icon=":material/draw:",
            )
            return
        filters = filters_ui()
        kept = chosen(examples, right_now, filters)
        shown = st.session_state.get(SHOWN_STATE, GALLERY_STEP)
        if len(kept) < len(examples):
            st.caption(f"{len(kept)} of them match.")
        columns = st.columns(GALLERY_COLUMNS)
        for n, example in enumerate(kept[:shown]):
            index = position.get(example.id)
            now = now_answers(scores, index) if scores and index is not None else {}
            with columns[n % GALLERY_COLUMNS]:
                item_ui(store, example, now)
        more = len(kept) - shown
        if more > 0 and st.button(f"Show more ({more} left)", key="show_more"):
            st.session_state[SHOWN_STATE] = shown + GALLERY_STEP
            st.rerun()


@st.dialog("Delete every saved digit?")
def delete_all_dialog(store: FeedbackStore, total: int) -> None:
    st.write(f"This deletes all {digit_count(total)} for good. Export them first to keep a copy.")
    with st.container(horizontal=True):
        if st.button("Delete all", type="primary", key="delete_all_confirmed"):
            _change(store.delete_all)
        if st.button("Cancel", key="delete_all_cancelled"):
            st.rerun()


# ---------------------------------------------------------------------------------------------
# Scores


def scores_ui(scores: dict[str, CollectionScores]) -> None:
    """Each active model's accuracy per head on the collection, and its confusion matrices."""
    for name, score in scores.items():
        st.markdown(f"**{TASKS[name].title}**")
        with st.container(horizontal=True):
            for head, accuracy in score.accuracy.items():
                value = "–" if accuracy is None else percent(accuracy)
                st.metric(
                    f"{HEAD_TITLES[head]} accuracy",
                    value,
                    delta=f"on {digit_count(score.counts[head])}",
                    delta_color="off",
                    delta_arrow="off",
                )
        heads = tuple(score.confusion)
        for place, head in zip(matrix_places(heads), heads, strict=True):
            figure = confusion_figure(
                score.confusion[head], class_labels(head), False, f"{HEAD_TITLES[head]} head"
            )
            place.plotly_chart(figure, width="stretch", key=f"collection_confusion_{name}_{head}")
        class_scores_ui(heads, {h: np.asarray(m) for h, m in score.confusion.items()})


# ---------------------------------------------------------------------------------------------
# The collection as a file


def export_ui(arrays: CollectionArrays) -> None:
    """A download of the collection in the mnist.npz layout, or why it cannot be one yet."""
    st.markdown("**Export**")
    st.caption(
        "The rows to train on as x_train/y_train, the held-back ones as x_test/y_test: "
        "`python -m mimo train --data my-digits.npz` reads it, as does "
        "`python -m mimo feedback export my-digits.npz` from a terminal."
    )
    try:
        content = npz_bytes(arrays)
    except FeedbackError as exc:
        st.info(str(exc), icon=":material/info:")
        return
    st.download_button(
        "Download my-digits.npz",
        content,
        file_name="my-digits.npz",
        mime="application/octet-stream",
        icon=":material/download:",
        key="export_npz",
    )


def import_ui(store: FeedbackStore) -> None:
    """Add the digits of an mnist.npz-layout file to the collection."""
    st.markdown("**Import**")
    upload = st.file_uploader(
        "An mnist.npz-layout file (x_train, y_train, x_test, y_test)",
        key="import_npz",
        help="Pictures already in the collection with the same label are skipped.",
    )
    if upload is None or not st.button("Import its digits", key="import_confirmed"):
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.npz"  # a fixed name: the user's file name is never a path
        path.write_bytes(upload.getvalue())
        try:
            added = import_npz(path, store)
        except (DataUnavailable, FeedbackError) as exc:
            st.error(str(exc).replace(str(path), upload.name), icon=":material/error:")
            return
    st.success(f"Added {digit_count(added)}.", icon=":material/task_alt:")
