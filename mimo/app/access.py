"""Who may retrain from the app: open to all, locked behind a password, or switched off.

A public deployment sets one of these (the environment wins over Streamlit secrets):

    MIMO_RETRAIN=off              or in secrets.toml: retrain = "off"           -> switched off
    MIMO_RETRAIN_PASSWORD=<word>  or in secrets.toml: retrain_password = "..."  -> locked

Nothing set: open to every visitor. Anything unclear fails closed: an unrecognised MIMO_RETRAIN
value, or a secrets file that cannot be read (when the environment does not decide), switches
retraining off with a reason the page can show.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

OPEN = "open"
LOCKED = "password"
OFF = "off"

RETRAIN_ENV = "MIMO_RETRAIN"
PASSWORD_ENV = "MIMO_RETRAIN_PASSWORD"
RETRAIN_SECRET = "retrain"
PASSWORD_SECRET = "retrain_password"
SECRET_KEYS = (RETRAIN_SECRET, PASSWORD_SECRET)

OFF_WORDS = {"off", "0", "false", "no", "disabled"}
ON_WORDS = {"on", "1", "true", "yes", "open", "enabled", ""}


@dataclass(frozen=True)
class RetrainAccess:
    mode: str  # OPEN, LOCKED or OFF
    reason: str = ""  # why, in words, for the page
    password: str | None = field(default=None, repr=False)

    @property
    def needs_password(self) -> bool:
        return self.mode == LOCKED

    def check_password(self, attempt) -> bool:
        """True only for the right password, compared in constant time."""
        if self.mode != LOCKED or not self.password or not isinstance(attempt, str):
            return False
        return hmac.compare_digest(attempt.encode(), self.password.encode())


def retrain_access(
    secrets: Mapping | None = None, env: Mapping | None = None, secrets_error: str | None = None
) -> RetrainAccess:
    """The retraining policy from the environment (default os.environ) and Streamlit secrets.

    secrets_error: set when the deployment has a secrets file that could not be read.
    """
    env = os.environ if env is None else env
    secrets = secrets or {}

    switch = env.get(RETRAIN_ENV)
    if switch is not None:
        word = str(switch).strip().lower()
        if word in OFF_WORDS:
            return RetrainAccess(OFF, f"{RETRAIN_ENV}={switch} on this deployment.")
        if word not in ON_WORDS:
            return RetrainAccess(
                OFF, f"{RETRAIN_ENV} has an unrecognised value ({switch!r}); use on or off."
            )
    env_password = env.get(PASSWORD_ENV) or None
    if env_password is None and secrets_error:
        return RetrainAccess(OFF, f"the deployment's secrets cannot be read ({secrets_error}).")

    secret_switch = secrets.get(RETRAIN_SECRET)
    if secret_switch is not None and str(secret_switch).strip().lower() in OFF_WORDS:
        return RetrainAccess(OFF, "switched off in the deployment's secrets.")

    password = env_password
    if password is None and secrets.get(PASSWORD_SECRET) not in (None, ""):
        password = str(secrets[PASSWORD_SECRET])
    if password is not None:
        return RetrainAccess(LOCKED, "locked with a password on this deployment.", password)
    return RetrainAccess(OPEN)
