"""My digits: the digits saved from the Predict page, how the active models do on them, and the
collection as a file to train with.

The gallery shows every saved digit with its label, both models' answers when it was saved and
the active models' answers now; relabel or delete one, or delete them all. Export the collection
as an mnist.npz-layout file (`python -m mimo train --data FILE` reads it), or import such a
file. The store (mimo.feedback.store) is a SQLite file by default, PostgreSQL when
MIMO_DATABASE_URL says so; when it cannot be used the page says why, in one sentence. A
deployment that switched saving off, or locked it with the retraining password, does the same
here (mimo.app.feedback_access).
"""

from __future__ import annotations

import streamlit as st

from mimo.app.collection_ui import (
    collection_scores,
    delete_all_dialog,
    export_ui,
    gallery_ui,
    import_ui,
    scores_ui,
)
from mimo.app.feedback_access import OFF, feedback_access
from mimo.app.feedback_ui import open_store
from mimo.app.support import ModelsUnavailable, load_predictor
from mimo.app.unlock import access_policy, unlock_ui
from mimo.feedback.errors import FeedbackError
from mimo.feedback.store import arrays_of

st.set_page_config(page_title="My digits · mimo", page_icon="🗂️", layout="wide")


def active_scores_ui(arrays):
    """The active models' answers on every row (None when the models cannot be loaded)."""
    try:
        predictor = load_predictor()
    except ModelsUnavailable as exc:
        st.warning(f"{exc} The gallery shows the saved answers only.", icon=":material/warning:")
        return None
    return collection_scores(predictor, arrays)


def my_digits_page() -> None:
    st.title(":material/collections: My digits", anchor=False)
    st.caption(
        "The digits you saved under the Predict page's answers. Retrain with them on the "
        "Retrain page (Include my digits)."
    )
    policy = feedback_access(access_policy())  # the same rule as saving: off, locked or open
    if policy.mode == OFF:
        st.info(policy.reason, icon=":material/block:")
        return
    if policy.needs_password and not unlock_ui(policy, "My digits", prefix="my_digits"):
        return
    try:
        store = open_store()
        examples = store.examples()  # newest first, as the gallery shows them
    except FeedbackError as exc:
        st.error(str(exc), icon=":material/cloud_off:")
        return
    arrays = arrays_of(examples)
    scores = active_scores_ui(arrays) if len(arrays.ids) else None
    collection, evaluation, exchange = st.tabs(["Collection", "Active models on it", "File"])
    with collection:
        gallery_ui(store, examples, arrays, scores)
        if len(arrays.ids) and st.button("Delete all…", icon=":material/delete_forever:"):
            delete_all_dialog(store, len(arrays.ids))
    with evaluation:
        if scores:
            scores_ui(scores)
        else:
            st.info("Save some digits first: the active models are scored on them here.")
    with exchange:
        export_ui(arrays)
        import_ui(store)


my_digits_page()
