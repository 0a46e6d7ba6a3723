"""The retraining lock on the pages: the deployment's policy (mimo.app.access) read from the
environment and Streamlit secrets, and the password field that unlocks a session.

One lock covers everything that changes the registry from the app: training on the Retrain
page, and making runs active, rolling back, annotating and deleting runs on the Dashboards page.
Unlocking on either page unlocks both for the session.
"""

from __future__ import annotations

import streamlit as st

from mimo.app import access

UNLOCKED = "retrain_unlocked"  # session-state flag: this session gave the right password


def deployment_secrets() -> tuple[dict, str | None]:
    """The retraining secrets, and an error when a secrets file exists but cannot be read."""
    try:
        return {key: st.secrets[key] for key in access.SECRET_KEYS if key in st.secrets}, None
    except FileNotFoundError as exc:  # Streamlit's "no secrets" error subclasses it
        if getattr(exc, "error_id", None) == "no-secrets-found" or "No secrets" in str(exc):
            return {}, None
        return {}, str(exc)
    except Exception as exc:  # a broken secrets file must not break the page
        return {}, str(exc)


def access_policy() -> access.RetrainAccess:
    secrets, secrets_error = deployment_secrets()
    return access.retrain_access(secrets, secrets_error=secrets_error)


def unlock_ui(
    policy: access.RetrainAccess, what: str = "Retraining", prefix: str = "retrain"
) -> bool:
    """The password field of a locked deployment. True once this session is unlocked.

    what: what the lock keeps closed, for the message; prefix: of the widgets' keys, one per
    page ("retrain_password_attempt").
    """
    if not policy.needs_password or st.session_state.get(UNLOCKED):
        return True
    st.info(f"{what} is locked on this deployment. Enter the password to use it.")
    with st.form(f"{prefix}_unlock"):
        attempt = st.text_input("Password", type="password", key=f"{prefix}_password_attempt")
        submitted = st.form_submit_button("Unlock")
    if submitted:
        if policy.check_password(attempt):
            st.session_state[UNLOCKED] = True
            st.rerun()
        st.error("That password is not right.")
    return False
