"""Comparing runs: their test metrics side by side, whether the numbers can be compared, and
how their settings differ.

One implementation behind both pages that compare runs: the Retrain page (a finished job against
the active run of its model) and the Dashboards page (any number of runs in a table). The rows
are the accuracy of every head the runs' models have, then every other test metric any of them
recorded (consistency, ...), one value per run, None where a run has none. Runs tested on
different test sets (another data source or size) get a note saying that the numbers are not
strictly comparable. The settings diff lists every field of the runs' config.json files and
says which differ. Nothing here imports Streamlit or TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mimo.runs import weights as loss_weights
from mimo.runs.registry import Registry, RegistryError
from mimo.runs.view import (
    MODEL_TITLES,
    RunView,
    count,
    data_rows,
    epochs_trained,
    errors_text,
    percent,
    timing_rows,
)
from mimo.tasks import HEADS, MODEL_HEADS

TEST_SET_SIZE = "n"  # in the test metrics: the number of test images, not a metric to compare
ACCURACY_SUFFIX = "_accuracy"  # a head's accuracy in the test metrics: "digit_accuracy"
# config.json's fields as the settings diff names them, in this order; other fields follow.
SETTING_TITLES = {
    "model": "Model",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "learning_rate": "Learning rate (peak)",
    "train_size": "Training-set size",
    "augment": "Augmentation",
    "elastic_prob": "Elastic-distortion probability",
    "digit_label_smoothing": "Digit label smoothing",
    "ema_fraction": "Weight average (EMA) fraction",
    "bn_recalibration_batches": "Batch-norm recalibration batches",
    "seed": "Seed",
    "data_path": "Data file",
    "allow_download": "Download allowed",
    "init_from": "Fine-tuned from",
    "loss_weights": "Loss weights",
    "my_digits": "Include my digits",
    "my_digits_weight": "Weight of my digits",
    "canvas_renders": "Canvas renders",
}
RETIRED_SETTINGS = ("extra",)  # written by earlier versions; never used
NONE_WORDS = {"train_size": "all", "data_path": "default chain"}  # what None means, else "none"
NOT_RECORDED = "not recorded"  # a field a run's config.json lacks (written before it existed)
# The Dashboards table's row titles (the Retrain page's metrics: mimo.tasks.METRIC_TITLES).
TABLE_TITLES = {
    **{f"{name}_accuracy": f"{head.title} accuracy" for name, head in HEADS.items()},
    "consistency": "Consistency",
}


@dataclass(frozen=True)
class RunFigures:
    """What is compared of one run."""

    run_id: str
    model: str
    metrics: dict  # its test metrics (metrics.json, or run.json's test_metrics); {} if unknown
    info: dict  # its run.json; {} if unknown

    @property
    def test_set(self) -> tuple:
        """(data source, number of test images): runs are comparable when these agree."""
        data = self.info.get("data")
        source = data.get("source") if isinstance(data, dict) else None
        n = self.metrics.get(TEST_SET_SIZE)
        return (source if isinstance(source, str) else None, n if isinstance(n, int) else None)

    def test_set_words(self) -> str:
        source, n = self.test_set
        source = source or "unknown data"
        return f"{n:,} {source} images" if isinstance(n, int) else source

    def data_words(self) -> str:
        """The data it was trained and tested on, as run.json describes it."""
        data = self.info.get("data")
        described = data.get("description") if isinstance(data, dict) else None
        return str(described or self.test_set[0] or "unknown data")


@dataclass(frozen=True)
class MetricRow:
    metric: str  # e.g. "digit_accuracy"
    values: tuple[float | None, ...]  # one per run, in the order compared

    @property
    def change(self) -> float | None:
        """The first run's value minus the second's; None when either is missing."""
        if len(self.values) < 2 or None in self.values[:2]:
            return None
        return self.values[0] - self.values[1]


@dataclass(frozen=True)
class Comparison:
    runs: tuple[RunFigures, ...]
    rows: tuple[MetricRow, ...]
    note: str | None  # set when the runs were tested on different test sets


def compare(runs: Sequence[RunFigures]) -> Comparison:
    """The runs' test metrics side by side (see the module docstring)."""
    runs = tuple(runs)
    names = [  # accuracies first, in the order of mimo.tasks.HEADS (digit first)
        f"{head}_accuracy" for head in HEADS if any(head in MODEL_HEADS[r.model] for r in runs)
    ]
    for run in runs:
        names += [
            name
            for name, value in run.metrics.items()
            if name not in names and name != TEST_SET_SIZE and _number(value) is not None
        ]
    rows = tuple(
        MetricRow(name, tuple(_number(run.metrics.get(name)) for run in runs)) for name in names
    )
    note = None
    if len({run.test_set for run in runs}) > 1:
        note = (
            "The runs were tested on different test sets "
            f"({' against '.join(run.test_set_words() for run in runs)}), "
            "so the numbers are not strictly comparable."
        )
    return Comparison(runs, rows, note)


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------------------------
# The Retrain page: a new run against the active one


def against_active(registry: Registry, run_id: str) -> Comparison:
    """The run beside the active run of its model; the run alone when there is no other active
    run (none, a damaged active.json, or the run is itself the active one)."""
    run = registry.run(run_id)
    runs = [RunFigures(run.run_id, run.model, run.info.get("test_metrics") or {}, run.info)]
    try:
        active = registry.active_run(run.model)
    except RegistryError:
        active = None
    if active is not None and active.run_id != run.run_id:
        metrics = active.info.get("test_metrics") or {}
        runs.append(RunFigures(active.run_id, active.model, metrics, active.info))
    return compare(runs)


def different_test_sets(comparison: Comparison) -> str | None:
    """For a new run beside the active one (against_active): why their numbers are not set
    against each other, and how to compare them; None when they share their test set."""
    if comparison.note is None or len(comparison.runs) < 2:
        return None
    new, active = comparison.runs[:2]
    return (
        f"Not compared with the active run {active.run_id}: each run is tested on the test split "
        f"of the data it trained on, and this run was tested on {new.test_set_words()} "
        f"({new.data_words()}), the active run on {active.test_set_words()} "
        f"({active.data_words()}). Different test sets differ by more than the models do, so "
        "no change is shown. To compare the two, train on the active run's data (the training "
        "data choice below), or test both on one file with `python -m mimo evaluate RUN "
        "--data FILE`."
    )


# ---------------------------------------------------------------------------------------------
# The Dashboards page: a table of runs


def comparison_table(views: list[RunView]) -> dict[str, list[str]]:
    """Row title -> one text value per run, for a side-by-side table."""
    comparison = compare([RunFigures(v.run_id, v.model, v.metrics or {}, v.info) for v in views])
    rows: dict[str, list[str]] = {"Model": [MODEL_TITLES[v.model] for v in views]}
    rows["Created"] = [v.created for v in views]
    for row in comparison.rows:
        rows[TABLE_TITLES.get(row.metric, row.metric)] = [percent(x) for x in row.values]
        if row.metric.endswith(ACCURACY_SUFFIX):
            n = [(v.metrics or {}).get(TEST_SET_SIZE) for v in views]
            title = f"{TABLE_TITLES.get(row.metric, row.metric).removesuffix(' accuracy')} errors"
            rows[title] = [
                errors_text(x, size) or "—" for x, size in zip(row.values, n, strict=True)
            ]
    rows["Test images"] = [count((v.metrics or {}).get(TEST_SET_SIZE)) for v in views]
    rows["Epochs"] = [count(epochs_trained(v)) for v in views]
    rows["Training images used"] = [data_rows(v.info)["Training images used"] for v in views]
    rows["Parameters"] = [count(v.info.get("params")) for v in views]
    rows["Training time"] = [timing_rows(v.info)["Training"] for v in views]
    return rows


# ---------------------------------------------------------------------------------------------
# Settings side by side


@dataclass(frozen=True)
class SettingsDiff:
    rows: dict[str, list[str]]  # setting title -> one text per run
    differing: frozenset[str]  # the titles whose runs do not all agree


def _with_weights(config: dict) -> dict:
    """The config with its loss weights filled in (all 1 for runs from before them)."""
    if config.get("model") not in MODEL_HEADS:
        return config
    return {**config, "loss_weights": loss_weights.of_config(config["model"], config)}


def setting_text(key: str, value) -> str:
    if key == "loss_weights" and isinstance(value, dict):
        return loss_weights.words(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return NONE_WORDS.get(key, "none")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def settings_diff(configs: Sequence[dict | None]) -> SettingsDiff:
    """Every field of the runs' training configurations (one config.json each; None when a run
    has none), one text per run, and which fields differ."""
    configs = [_with_weights(c) if isinstance(c, dict) else {} for c in configs]
    keys = [k for k in SETTING_TITLES if any(k in c for c in configs)]
    keys += sorted({k for c in configs for k in c} - set(keys) - set(RETIRED_SETTINGS))
    rows, differing = {}, set()
    for key in keys:
        title = SETTING_TITLES.get(key, key)
        texts = [setting_text(key, c[key]) if key in c else NOT_RECORDED for c in configs]
        rows[title] = texts
        if len(set(texts)) > 1:
            differing.add(title)
    return SettingsDiff(rows, frozenset(differing))
