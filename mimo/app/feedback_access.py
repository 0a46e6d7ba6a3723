"""Who may save digits from the app, and how often: the deployment's switch and the per-session
rate limit. (How much the whole collection may hold is the store's own cap: MIMO_FEEDBACK_MAX_MB.)

A public deployment sets (the environment is read when the page runs):

    MIMO_FEEDBACK=off          -> saving is switched off (the Predict page says so)
    MIMO_FEEDBACK=password     -> saving is behind the retraining password (mimo.app.access)
    MIMO_FEEDBACK_PER_MINUTE=N -> at most N saves a minute per browser session (default below)

Nothing set: every visitor may save. Anything unclear fails closed: an unrecognised value, or
"password" on a deployment without a retraining password, switches saving off with a reason.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mimo.app.access import LOCKED, OFF, OFF_WORDS, ON_WORDS, OPEN, RetrainAccess

FEEDBACK_ENV = "MIMO_FEEDBACK"
PER_MINUTE_ENV = "MIMO_FEEDBACK_PER_MINUTE"
SAVES_PER_MINUTE = 30  # a person marking digits one by one stays well under this
PASSWORD_WORDS = {"password", "locked"}
WINDOW_S = 60.0  # the rate limit's sliding window


@dataclass(frozen=True)
class FeedbackAccess:
    mode: str  # OPEN, LOCKED (the retraining password) or OFF
    reason: str = ""  # why, in words, for the page
    retrain: RetrainAccess | None = field(default=None, repr=False)  # whose password, if LOCKED

    @property
    def needs_password(self) -> bool:
        return self.mode == LOCKED

    def check_password(self, attempt) -> bool:
        """True only for the retraining password (mimo.app.unlock's field asks for it)."""
        return (
            self.mode == LOCKED
            and self.retrain is not None
            and self.retrain.check_password(attempt)
        )


def feedback_access(retrain: RetrainAccess, env: Mapping | None = None) -> FeedbackAccess:
    """The saving policy from the environment (default os.environ); `retrain` is the
    deployment's retraining policy, whose password a locked deployment shares."""
    env = os.environ if env is None else env
    switch = env.get(FEEDBACK_ENV)
    word = "" if switch is None else str(switch).strip().lower()
    if word in OFF_WORDS:
        return FeedbackAccess(OFF, f"Saving digits is switched off on this deployment ({switch}).")
    if word in PASSWORD_WORDS:
        if not retrain.needs_password:
            return FeedbackAccess(
                OFF,
                f"{FEEDBACK_ENV}={switch} asks for the retraining password, but this deployment "
                "has none; saving digits is off.",
            )
        return FeedbackAccess(
            LOCKED, "Saving digits is locked with the retraining password.", retrain
        )
    if word not in ON_WORDS:
        return FeedbackAccess(
            OFF, f"{FEEDBACK_ENV} has an unrecognised value ({switch!r}); use on, off or password."
        )
    return FeedbackAccess(OPEN)


def saves_per_minute(env: Mapping | None = None) -> int:
    """The per-session limit: MIMO_FEEDBACK_PER_MINUTE if it is a positive whole number."""
    env = os.environ if env is None else env
    try:
        limit = int(env.get(PER_MINUTE_ENV, SAVES_PER_MINUTE))
    except (TypeError, ValueError):
        return SAVES_PER_MINUTE
    return limit if limit > 0 else SAVES_PER_MINUTE


class SaveRateLimit:
    """At most `per_minute` saves in any 60 seconds, for one session (kept in its state)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self._clock = clock
        self._saves: deque[float] = deque()

    def wait_s(self) -> float:
        """Seconds until the next save is allowed; 0 when it is allowed now."""
        now = self._clock()
        while self._saves and now - self._saves[0] >= WINDOW_S:
            self._saves.popleft()
        if len(self._saves) < self.per_minute:
            return 0.0
        return WINDOW_S - (now - self._saves[0])

    def refusal(self) -> str | None:
        """A message when this session has saved too often, else None."""
        wait = self.wait_s()
        if wait <= 0:
            return None
        return (
            f"That is {self.per_minute} digits saved in a minute, this deployment's limit. "
            f"Try again in {wait:.0f} s."
        )

    def record(self) -> None:
        """Count a save made now."""
        self._saves.append(self._clock())
