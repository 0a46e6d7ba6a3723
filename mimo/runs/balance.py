"""What training two tasks together does, from the runs' files: digit accuracy with a bootstrap
interval over the test set, the single-task / multi-task pairs of runs, and the points of the
trade-off between the digit head and the other head.

A single-task run has every head but the digit head switched off (loss weight 0); its
multi-task partner has them on (weight above 0), with every other setting the same (the digit
head's weight included). The interval resamples the test examples with replacement; for two runs
on the same test digits it resamples them together (a paired interval of the difference).
Nothing here imports Streamlit or TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimo.runs import weights as loss_weights
from mimo.runs.compare import RETIRED_SETTINGS, setting_text
from mimo.tasks import task

BOOTSTRAP_RESAMPLES = 2000  # resamples of the test set per interval
BOOTSTRAP_SEED = 0  # the same resamples on every call, so the figures do not flicker
BOOTSTRAP_CHUNK = 100  # resamples drawn at once: memory stays at CHUNK x N indices
CONFIDENCE = 0.95  # the intervals' coverage


@dataclass(frozen=True)
class Interval:
    """A share (accuracy, or a difference of accuracies) and its bootstrap interval."""

    value: float
    low: float
    high: float
    n: int  # test examples

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def bootstrap_mean(values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """The mean of per-example values with its CONFIDENCE percentile bootstrap interval."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(values)
    if n == 0:
        raise ValueError("no test examples to resample")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = []
    for start in range(0, resamples, BOOTSTRAP_CHUNK):
        size = min(BOOTSTRAP_CHUNK, resamples - start)
        means.append(values[rng.integers(0, n, (size, n))].mean(axis=1))
    means = np.concatenate(means)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(values.mean()), float(low), float(high), n)


def accuracy_interval(right: np.ndarray) -> Interval:
    """Accuracy from per-example right/wrong, with its interval."""
    return bootstrap_mean(np.asarray(right, dtype=np.float64))


def difference_interval(right_a: np.ndarray, right_b: np.ndarray) -> Interval:
    """B's accuracy minus A's on the same test examples, resampled together."""
    right_a, right_b = np.asarray(right_a, np.float64), np.asarray(right_b, np.float64)
    if right_a.shape != right_b.shape:
        raise ValueError("the two runs were not tested on the same examples")
    return bootstrap_mean(right_b - right_a)


# ---------------------------------------------------------------------------------------------
# Single-task and multi-task runs


def is_single_task(model: str, weights: Mapping[str, float]) -> bool:
    """The digit head on, every other head off."""
    first, *others = task(model).head_names
    return weights.get(first, 0) > 0 and all(weights.get(h) == 0 for h in others)


def is_multi_task(model: str, weights: Mapping[str, float]) -> bool:
    """Every head on."""
    return all(weights.get(h, 0) > 0 for h in task(model).head_names)


def _shared_settings(model: str, config: Mapping) -> dict:
    """The settings a pair must share: all but the other heads' weights (and retired keys)."""
    first = task(model).head_names[0]
    weights = loss_weights.of_config(model, config)
    shared = {k: v for k, v in config.items() if k not in RETIRED_SETTINGS}
    shared["loss_weights"] = {first: weights.get(first)}
    return shared


@dataclass(frozen=True)
class TaskPair:
    model: str
    single: str  # run id: the other heads off
    multi: str  # run id: every head on, the same settings otherwise


def find_pair(model: str, configs: Mapping[str, Mapping | None]) -> TaskPair | None:
    """The first single-task run (in the order given: the registry lists the newest first) that
    has a multi-task partner with the same settings, and that partner; None if there is none."""
    usable = {
        r: c for r, c in configs.items() if isinstance(c, Mapping) and c.get("model") == model
    }
    weights = {r: loss_weights.of_config(model, c) for r, c in usable.items()}
    for single, config in usable.items():
        if not is_single_task(model, weights[single]):
            continue
        shared = _shared_settings(model, config)
        for multi, other in usable.items():
            if is_multi_task(model, weights[multi]) and _shared_settings(model, other) == shared:
                return TaskPair(model, single, multi)
    return None


def partner_weights(model: str, config: Mapping | None) -> dict[str, float]:
    """The loss weights of the run that would pair with this one: the other heads off for a
    multi-task run, on (weight 1) for any other."""
    weights = loss_weights.of_config(model, config)
    first, *others = task(model).head_names
    off = is_multi_task(model, weights)
    return {first: weights.get(first) or 1.0, **{h: 0.0 if off else 1.0 for h in others}}


def train_command(config_path: Path, weights: Mapping[str, float]) -> str:
    """The command that trains a run with the settings of `config_path` and these weights."""
    path = Path(config_path)
    with contextlib.suppress(ValueError):  # on another drive: the full path
        path = Path(os.path.relpath(path))
    return f"python -m mimo train --config {path} --loss-weights {loss_weights.flag(weights)}"


# ---------------------------------------------------------------------------------------------
# The trade-off across runs


@dataclass(frozen=True)
class TradeoffPoint:
    run_id: str
    accuracies: dict[str, float]  # head -> test accuracy
    weights: dict[str, float]  # head -> loss weight
    settings: str  # the other settings, in words


# The settings named in a point's hover, in this order.
HOVER_SETTINGS = ("epochs", "learning_rate", "batch_size", "train_size", "augment", "seed")


def settings_words(config: Mapping | None) -> str:
    """'epochs 40, learning_rate 0.003, ...' from a config.json; '' without one."""
    if not isinstance(config, Mapping):
        return ""
    return ", ".join(
        f"{key.replace('_', ' ')} {setting_text(key, config[key])}"
        for key in HOVER_SETTINGS
        if key in config
    )


def tradeoff_points(
    model: str, runs: Sequence[tuple[str, Mapping | None, Mapping | None]]
) -> list[TradeoffPoint]:
    """One point per run that has every head's test accuracy. runs: (run id, test metrics,
    config.json) each."""
    heads = task(model).head_names
    points = []
    for run_id, metrics, config in runs:
        metrics = metrics if isinstance(metrics, Mapping) else {}
        accuracies = {h: metrics.get(f"{h}_accuracy") for h in heads}
        if not all(isinstance(a, (int, float)) for a in accuracies.values()):
            continue
        points.append(
            TradeoffPoint(
                run_id,
                {h: float(a) for h, a in accuracies.items()},
                loss_weights.of_config(model, config),
                settings_words(config),
            )
        )
    return points
