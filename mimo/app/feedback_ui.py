"""Correcting an answer where it is given: "Wrong? It's a …" under the Predict page's results.

Ten digit buttons, labelled 0 to 9, in `st.container(key="feedback")`: pressing N saves the
current input with true digit N to the collection (mimo.feedback.store), wrong answers and right
ones alike, and says how many digits the collection now holds. A store that cannot be opened or
written, a deployment that switched saving off, a session that saves too fast: each gets one
sentence here, and the predictions above stay as they are.
"""

from __future__ import annotations

import streamlit as st

from mimo.app.feedback_access import OFF, SaveRateLimit, feedback_access, saves_per_minute
from mimo.app.support import ink_color_name
from mimo.app.unlock import access_policy, unlock_ui
from mimo.encoding import NUM_DIGITS
from mimo.feedback.dataset import digit_count
from mimo.feedback.errors import DuplicateExample, FeedbackError, StoreUnavailable
from mimo.feedback.examples import new_example
from mimo.feedback.store import FeedbackStore, store_url

FEEDBACK_KEY = "feedback"
MY_DIGITS_PAGE = "app_pages/my_digits.py"
RATE_LIMIT_STATE = "feedback_rate_limit"  # session state: this session's SaveRateLimit


@st.cache_resource(show_spinner=False)
def _cached_store(url: str) -> FeedbackStore:
    """One store (and its connection pool) per database per server; a failure is not cached."""
    return FeedbackStore(url)


def open_store() -> FeedbackStore:
    """The deployment's feedback store. Raises StoreUnavailable with a sentence for the page."""
    return _cached_store(store_url())


def _rate_limit() -> SaveRateLimit:
    if RATE_LIMIT_STATE not in st.session_state:
        st.session_state[RATE_LIMIT_STATE] = SaveRateLimit(saves_per_minute())
    return st.session_state[RATE_LIMIT_STATE]


def digit_buttons_ui() -> int | None:
    """Ten buttons, 0 to 9; the digit pressed in this run, or None."""
    pressed = None
    with st.container(horizontal=True, gap="small", key="feedback-digits"):
        for digit in range(NUM_DIGITS):
            if st.button(str(digit), key=f"feedback-digit-{digit}"):
                pressed = digit
    return pressed


def feedback_ui(image_bytes: bytes, prepared, prediction, source: str, run_ids: dict) -> None:
    """Under the results: save the input with its true digit, or a sentence on why not."""
    with st.container(key=FEEDBACK_KEY, border=True):
        st.markdown("**Wrong? It's a …**")
        policy = feedback_access(access_policy())
        if policy.mode == OFF:
            st.caption(policy.reason)
            return
        if policy.needs_password and not unlock_ui(policy, "Saving digits", prefix="feedback"):
            return
        st.caption(
            "Press the true digit to keep this input in My digits; press the answer itself "
            "to keep a right one. Retrain with them later."
        )
        label = digit_buttons_ui()
        if label is not None:
            save_ui(label, image_bytes, prepared, prediction, source, run_ids)


def save_ui(label: int, image_bytes, prepared, prediction, source, run_ids) -> None:
    """Save the input with `label`, and say what happened."""
    refusal = _rate_limit().refusal()
    if refusal:
        st.warning(refusal, icon=":material/timer:")
        return
    example = new_example(
        label,
        image_bytes,
        prepared,
        prediction,
        source=source.lower(),
        ink=ink_color_name(prepared.ink_rgb),
        run_ids=run_ids,
    )
    try:
        saved = open_store().save(example)
    except DuplicateExample as exc:
        st.info(str(exc), icon=":material/check:")
        return
    except StoreUnavailable as exc:
        st.warning(
            f"Saving is unavailable. {exc} The predictions still work.",
            icon=":material/cloud_off:",
        )
        return
    except FeedbackError as exc:
        st.warning(str(exc), icon=":material/error:")
        return
    _rate_limit().record()
    if saved.relabelled_from is not None:
        done = f"Changed from {saved.relabelled_from} to {label}"
    else:
        done = f"Saved as {label}"
    st.success(f"{done} · {digit_count(saved.total)} in My digits", icon=":material/task_alt:")
    st.page_link(MY_DIGITS_PAGE, label="See My digits", icon=":material/collections:")
