"""Who may save digits, and how often: the deployment's switch and the per-session rate limit."""

from __future__ import annotations

import pytest

from mimo.app.access import retrain_access
from mimo.app.feedback_access import (
    LOCKED,
    OFF,
    OPEN,
    SAVES_PER_MINUTE,
    SaveRateLimit,
    feedback_access,
    saves_per_minute,
)

OPEN_RETRAIN = retrain_access(env={})
LOCKED_RETRAIN = retrain_access(env={"MIMO_RETRAIN_PASSWORD": "s3cret"})


@pytest.mark.parametrize("value", [None, "on", "1", "yes", " On "])
def test_saving_is_open_unless_the_deployment_says_otherwise(value):
    env = {} if value is None else {"MIMO_FEEDBACK": value}
    assert feedback_access(OPEN_RETRAIN, env).mode == OPEN


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "disabled"])
def test_saving_can_be_switched_off(value):
    policy = feedback_access(OPEN_RETRAIN, {"MIMO_FEEDBACK": value})
    assert policy.mode == OFF
    assert "switched off" in policy.reason


def test_saving_behind_the_retraining_password_uses_that_password():
    policy = feedback_access(LOCKED_RETRAIN, {"MIMO_FEEDBACK": "password"})
    assert policy.mode == LOCKED and policy.needs_password
    assert policy.check_password("s3cret")
    assert not policy.check_password("guess") and not policy.check_password(None)
    assert not feedback_access(OPEN_RETRAIN, {}).check_password("s3cret")


def test_a_password_without_a_retraining_password_or_an_unknown_word_fails_closed():
    no_password = feedback_access(OPEN_RETRAIN, {"MIMO_FEEDBACK": "password"})
    assert no_password.mode == OFF and "has none" in no_password.reason
    unknown = feedback_access(OPEN_RETRAIN, {"MIMO_FEEDBACK": "maybe"})
    assert unknown.mode == OFF and "'maybe'" in unknown.reason


@pytest.mark.parametrize(
    ("value", "limit"), [(None, SAVES_PER_MINUTE), ("5", 5), ("0", SAVES_PER_MINUTE), ("x", 30)]
)
def test_the_rate_limit_comes_from_the_environment_when_it_makes_sense(value, limit):
    env = {} if value is None else {"MIMO_FEEDBACK_PER_MINUTE": value}
    assert saves_per_minute(env) == limit


def test_a_session_that_saves_too_often_waits_until_its_oldest_save_is_a_minute_old():
    now = [1000.0]
    limit = SaveRateLimit(3, clock=lambda: now[0])
    for _ in range(3):
        assert limit.refusal() is None
        limit.record()
        now[0] += 10
    refusal = limit.refusal()  # 3 saves at 1000, 1010, 1020; it is 1030
    assert refusal is not None and "3 digits saved in a minute" in refusal and "30 s" in refusal
    now[0] = 1060.0  # the first save is a minute old
    assert limit.refusal() is None
