"""What people do with runs from the Dashboards page: make a run active (after a
confirmation), roll back to the run that was active before, give a run a note and tags, and
delete a run that is not active (after a confirmation).

The registry does the work (mimo.runs.registry: checked ids, a lock, atomic writes, the
activation history). The retraining lock covers every action here (mimo.app.unlock). The
Predict page reads the active runs on every rerun, so a change reaches it at its next
interaction, without a restart.
"""

from __future__ import annotations

import streamlit as st

from mimo.app import access
from mimo.app.unlock import access_policy, unlock_ui
from mimo.runs.notes import MAX_NOTE_CHARS, RunNotes
from mimo.runs.registry import Registry, RegistryError
from mimo.tasks import task

PENDING = "dash_pending"  # session state: the action waiting for its confirmation
FLASH = "dash_flash"  # session state: (kind, message) of the last action, shown after its rerun
HISTORY_SHOWN = 3  # earlier active runs listed under the buttons


def run_picker_key(model: str) -> str:
    """The session-state key of the page's run picker for a model (reset after a delete)."""
    return f"dash_run_{model}"


def flash_ui() -> None:
    """The outcome of the last action, once."""
    flash = st.session_state.pop(FLASH, None)
    if flash:
        kind, message = flash
        (st.success if kind == "success" else st.error)(message)


def run_actions_ui(registry: Registry, model: str, run_id: str, notes: RunNotes) -> None:
    pending = st.session_state.get(PENDING)
    with st.expander(
        "Manage runs: make active, roll back, note and tags, delete", pending is not None
    ):
        policy = access_policy()
        if policy.mode == access.OFF:
            st.info(f"Changing the registry is switched off, as retraining is: {policy.reason}")
            return
        if not unlock_ui(policy, "Changing the registry", prefix="dash"):
            return
        active = registry.active_ids().get(model)
        previous = registry.previous_active(model)
        title = task(model).title.lower()
        first, second, third = st.columns(3)
        if first.button(
            "Make this run active",
            key="dash_activate",
            disabled=run_id == active,
            help="Already the active run." if run_id == active else f"The Predict page's {title}.",
        ):
            _ask("activate", run_id, model)
        if second.button(
            f"Roll back to {previous}" if previous else "Roll back",
            key="dash_rollback",
            disabled=previous is None,
            help="Make the run that was active before the active one again."
            if previous
            else "No earlier active run is recorded.",
        ):
            _ask("rollback", previous, model)
        if third.button(
            "Delete this run",
            key="dash_delete",
            disabled=run_id == active,
            help="The active run cannot be deleted; make another one active first."
            if run_id == active
            else "Remove the run and its files for good.",
        ):
            _ask("delete", run_id, model)
        confirmation_ui(registry)
        history_ui(registry, model)
        notes_form_ui(registry, run_id, notes)


def _ask(action: str, run_id: str, model: str) -> None:
    st.session_state[PENDING] = {"action": action, "run_id": run_id, "model": model}
    st.rerun()


# Each action's question before it is done, and its confirming button.
QUESTIONS = {
    "activate": (
        "Make {run_id} the active {title}? The Predict page uses it from its next interaction.",
        "Yes, make it active",
    ),
    "rollback": (
        "Roll the {title} back to {run_id}, the run active before? The Predict page uses it "
        "from its next interaction.",
        "Yes, roll back",
    ),
    "delete": (
        "Delete {run_id} and all its files for good? This cannot be undone.",
        "Yes, delete it",
    ),
}


def confirmation_ui(registry: Registry) -> None:
    """The pending action's question, with Confirm and Cancel."""
    pending = st.session_state.get(PENDING)
    if not pending or pending.get("action") not in QUESTIONS:
        return
    question, yes = QUESTIONS[pending["action"]]
    title = task(pending["model"]).title.lower()
    st.warning(question.format(run_id=pending["run_id"], title=title))
    left, right = st.columns(2)
    if left.button(yes, type="primary", key="dash_confirm"):
        st.session_state.pop(PENDING, None)
        st.session_state[FLASH] = perform(registry, pending)
        st.rerun()
    if right.button("Cancel", key="dash_cancel"):
        st.session_state.pop(PENDING, None)
        st.rerun()


def perform(registry: Registry, pending: dict) -> tuple[str, str]:
    """Do a confirmed action; (kind, message) for the page."""
    action, run_id, model = pending["action"], pending["run_id"], pending["model"]
    title = task(model).title.lower()
    try:
        if action == "activate":
            registry.activate(run_id)
            return "success", f"{run_id} is now the active {title}."
        if action == "rollback":
            run = registry.rollback(model)
            return "success", f"Rolled back: {run.run_id} is the active {title} again."
        registry.delete(run_id)
        st.session_state.pop(run_picker_key(model), None)  # the picker starts over
        return "success", f"Deleted {run_id}."
    except RegistryError as exc:
        return "error", f"Nothing was changed: {exc}."


def history_ui(registry: Registry, model: str) -> None:
    entries = registry.activation_history(model)[:-1][::-1][:HISTORY_SHOWN]
    if entries:
        earlier = "; ".join(f"{e['run_id']} (from {e.get('activated', '?')})" for e in entries)
        st.caption(f"Active before, newest first: {earlier}.")


def notes_form_ui(registry: Registry, run_id: str, notes: RunNotes) -> None:
    with st.form(f"dash_notes_{run_id}"):
        note = st.text_area(
            "Note", value=notes.note, max_chars=MAX_NOTE_CHARS, key=f"dash_note_{run_id}"
        )
        tags = st.text_input(
            "Tags",
            value=" ".join(notes.tags),
            key=f"dash_tags_{run_id}",
            help="Short words, separated by spaces or commas: baseline, lr-sweep.",
        )
        saved = st.form_submit_button("Save the note and tags")
    if saved:
        try:
            registry.annotate(run_id, note, tags)
        except RegistryError as exc:
            st.error(f"Not saved: {exc}.")
            return
        st.session_state[FLASH] = ("success", f"Saved the note and tags of {run_id}.")
        st.rerun()
