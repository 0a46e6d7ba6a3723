"""A run's artifacts, loaded for the Dashboards page, with every problem turned into a message.

Nothing here imports Streamlit (or TensorFlow): the page caches these loaders and lays out what
they return. A missing or broken artifact never raises; it leaves its field None and adds one
sentence to `RunView.problems`, so the page can warn about it and still show everything else.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimo.runs import artifacts
from mimo.runs import weights as loss_weights
from mimo.runs.notes import RunNotes, read_notes
from mimo.runs.registry import RegistryError, model_of
from mimo.tasks import HEADS, TASKS, task

HEAD_TITLES = {name: head.title for name, head in HEADS.items()}  # "Colour"
PERCENT_DECIMALS = 2  # 99.32%: enough to tell runs of 10,000 test images apart
MODEL_TITLES = {name: t.label for name, t in TASKS.items()}  # "Colour model (digit + colour)"

# What the page loses when an artifact is missing or broken.
CONSEQUENCES = {
    artifacts.RUN_INFO: "the data source, sizes and timings cannot be shown",
    artifacts.CONFIG: "the training settings cannot be shown",
    artifacts.HISTORY: "the learning curves cannot be shown",
    artifacts.METRICS: "the test metrics cannot be shown",
    artifacts.CONFUSION: "the confusion matrices cannot be shown",
    artifacts.SAMPLES: "the sample predictions cannot be shown",
    artifacts.ARCHITECTURE_TXT: "the architecture summary cannot be shown",
}


@dataclass
class RunView:
    """Everything the dashboards show about one run; None where an artifact was unusable."""

    run_id: str
    model: str
    info: dict = field(default_factory=dict)
    config: dict | None = None
    history: dict | None = None
    metrics: dict | None = None
    confusion: dict | None = None
    samples: dict | None = None
    architecture: str | None = None  # model.summary(), totals about the model alone
    notes: RunNotes = field(default_factory=RunNotes)
    problems: list[str] = field(default_factory=list)

    @property
    def heads(self) -> tuple[str, ...]:
        return task(self.model).head_names

    @property
    def created(self) -> str:
        return str(self.info.get("created") or "unknown date")


# -------------------------------------------------------------------------------------------
# Loading


def artifact_fingerprint(run_dir: Path) -> tuple:
    """(name, size, mtime) of every file in a run directory: a cache key that changes with them."""
    try:
        entries = sorted(Path(run_dir).iterdir())
    except OSError:
        return ()
    stamp = []
    for path in entries:
        try:
            st = path.stat()
        except OSError:
            continue
        stamp.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(stamp)


def load_run_view(run_dir: Path, run_id: str) -> RunView:
    """Read and check every artifact the dashboards use. Never raises for a broken artifact."""
    model = model_of(run_id)
    view = RunView(run_id=run_id, model=model)
    heads = view.heads
    folder = Path(run_dir)

    def json_of(name):
        return artifacts.read_json(folder, name)

    view.info = _load(view, artifacts.RUN_INFO, lambda n: check_info(json_of(n))) or {}
    view.config = _load(view, artifacts.CONFIG, lambda n: check_dict(json_of(n)))
    view.history = _load(view, artifacts.HISTORY, lambda n: check_history(json_of(n), heads))
    fallback = _metrics_from_info(view.info, heads)
    view.metrics = _load(
        view,
        artifacts.METRICS,
        lambda n: check_metrics(json_of(n), heads),
        None if fallback is None else "the test metrics shown are those recorded in run.json",
    )
    if view.metrics is None:
        view.metrics = fallback
    view.confusion = _load(view, artifacts.CONFUSION, lambda n: check_confusion(json_of(n), heads))
    view.samples = _load(
        view, artifacts.SAMPLES, lambda n: check_samples(artifacts.read_samples(folder), model)
    )
    view.architecture = _load(
        view,
        artifacts.ARCHITECTURE_TXT,
        lambda n: artifacts.model_summary((folder / n).read_text()),
    )
    view.notes = read_notes(folder)
    return view


def _load(view: RunView, name: str, read, consequence: str | None = None):
    """Run one reader; on failure record a plain-language problem and return None."""
    consequence = consequence or CONSEQUENCES.get(name, "part of this run cannot be shown")
    try:
        return read(name)
    except FileNotFoundError:
        view.problems.append(f"{name} is missing from run {view.run_id}, so {consequence}.")
    except json.JSONDecodeError:
        view.problems.append(f"{name} in run {view.run_id} is not valid JSON, so {consequence}.")
    except Exception as exc:  # any unreadable or malformed file: report it, show the rest
        reason = str(exc) or type(exc).__name__
        view.problems.append(
            f"{name} in run {view.run_id} could not be read ({reason}), so {consequence}."
        )
    return None


def _metrics_from_info(info: dict, heads) -> dict | None:
    try:
        return check_metrics(info.get("test_metrics"), heads)
    except ValueError:
        return None


# -------------------------------------------------------------------------------------------
# Checks: each returns clean data or raises ValueError saying what is wrong.


def check_dict(data) -> dict:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def check_info(data) -> dict:
    data = check_dict(data)
    for key in ("data", "timings"):
        if key in data and not isinstance(data[key], dict):
            raise ValueError(f"'{key}' is not an object")
    return data


def _numbers(values, name: str) -> list[float]:
    if not isinstance(values, list):
        raise ValueError(f"'{name}' is not a list")
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' holds a value that is not a number") from None


def check_history(data, heads) -> dict:
    """{"epoch": [...], "<head>_loss": [...], ...}, every list as long as "epoch"."""
    data = check_dict(data)
    series = {key: _numbers(values, key) for key, values in data.items() if key != "epoch"}
    lengths = {len(v) for v in series.values()}
    if not series or lengths == {0}:
        raise ValueError("no epochs recorded")
    if len(lengths) != 1:
        raise ValueError("the metrics do not all have one value per epoch")
    n = lengths.pop()
    epochs = _numbers(data["epoch"], "epoch") if "epoch" in data else list(range(1, n + 1))
    if len(epochs) != n:
        raise ValueError("'epoch' does not match the number of recorded values")
    if not any(f"{head}_{m}" in series for head in heads for m in ("loss", "accuracy")):
        raise ValueError(f"no curves for the {' or '.join(heads)} heads")
    return {"epoch": [int(e) for e in epochs], **series}


def check_metrics(data, heads) -> dict:
    data = check_dict(data)
    clean = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ValueError(f"'{key}' is not a number")
        clean[key] = value
    for head in heads:
        value = clean.get(f"{head}_accuracy")
        if value is None:
            raise ValueError(f"no {head} accuracy")
        if not 0 <= value <= 1:
            raise ValueError(f"{head} accuracy {value} is not between 0 and 1")
    return clean


def check_confusion(data, heads) -> dict:
    data = check_dict(data)
    clean = {}
    for head in heads:
        if head not in data:
            raise ValueError(f"no {head} matrix")
        size = HEADS[head].classes
        try:
            matrix = np.asarray(data[head], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"the {head} matrix is not a table of numbers") from None
        if matrix.shape != (size, size):
            raise ValueError(f"the {head} matrix is {matrix.shape}, expected {size}x{size}")
        if (
            not np.isfinite(matrix).all()
            or (matrix < 0).any()
            or (matrix != np.round(matrix)).any()
        ):
            raise ValueError(f"the {head} matrix holds values that are not counts")
        clean[head] = matrix.astype(np.int64)
    return clean


def check_samples(data: dict, model: str) -> dict:
    model_task = task(model)
    heads = model_task.head_names
    extra = model_task.pairing.sample_key  # what each digit was paired with
    needed = ["image", extra] + [
        f"{h}_{part}" for h in heads for part in ("true", "pred", "confidence")
    ]
    missing = [k for k in needed if k not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    images = np.asarray(data["image"])
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images have shape {images.shape}, expected (N, 28, 28)")
    n = len(images)
    if any(len(np.asarray(data[k]).reshape(-1)) != n for k in needed[1:]):
        raise ValueError("the arrays do not all have one entry per image")
    clean = {k: np.asarray(data[k]).reshape(-1) for k in needed[1:]}
    classes = {extra: model_task.pairing.values}
    classes.update({f"{h}_{part}": HEADS[h].classes for h in heads for part in ("true", "pred")})
    for key, size in classes.items():
        values = clean[key]
        if not np.issubdtype(values.dtype, np.integer) or ((values < 0) | (values >= size)).any():
            raise ValueError(f"'{key}' holds values outside 0-{size - 1}")
    clean["image"] = images
    clean["index"] = np.asarray(data.get("index", np.arange(n))).reshape(-1)[:n]
    if len(clean["index"]) != n:
        clean["index"] = np.arange(n)
    return clean


# -------------------------------------------------------------------------------------------
# Words and tables for the page


def percent(value) -> str:
    """A share with two decimals ("99.32%"). Only exactly 1 shows as 100.00% and only exactly
    0 as 0.00%: 0.99998 is "99.99%", never a perfect score it is not."""
    if value is None:
        return "—"
    shown = round(100 * float(value), PERCENT_DECIMALS)
    step = 10.0**-PERCENT_DECIMALS
    if shown >= 100 and float(value) < 1:
        shown = 100 - step
    elif shown <= 0 < float(value):
        shown = step
    return f"{shown:.{PERCENT_DECIMALS}f}%"


def wrong_count(accuracy, n) -> int | None:
    """How many of n examples an accuracy leaves wrong; None when either is unknown."""
    if not isinstance(n, int) or isinstance(accuracy, bool):
        return None
    if not isinstance(accuracy, (int, float)):
        return None
    return int(round((1 - float(accuracy)) * n))


def errors_text(accuracy, n) -> str:
    """'68 of 10,000 wrong', or '' when unknown."""
    wrong = wrong_count(accuracy, n)
    return "" if wrong is None else f"{wrong:,} of {n:,} wrong"


def accuracy_summary(metrics: dict | None, model: str) -> str:
    """'digit 98.94%, colour 100.00%' or 'no test metrics'."""
    if not metrics:
        return "no test metrics"
    parts = []
    for head in task(model).head_names:
        value = metrics.get(f"{head}_accuracy")
        if value is not None:
            parts.append(f"{HEAD_TITLES[head].lower()} {percent(value)}")
    return ", ".join(parts) or "no test metrics"


def run_label(run_id: str, info: dict | None, active: bool, tags=(), config=None) -> str:
    """How a run appears in a picker: id, date, test accuracy, its loss weights when they are
    not all 1 (config: its config.json), its tags, and a star for the active run."""
    info = info or {}
    try:
        model = model_of(run_id)
    except RegistryError:
        return run_id
    metrics = info.get("test_metrics") if isinstance(info.get("test_metrics"), dict) else None
    created = str(info.get("created") or "unknown date")[:16]
    label = f"{run_id} · {created} · {accuracy_summary(metrics, model)}"
    weights = loss_weights.short(loss_weights.of_config(model, config))
    label += f" · {weights}" if weights else ""
    label += "".join(f" #{tag}" for tag in tags)
    return f"★ {label} (active)" if active else label


def read_run_info(run_dir: Path) -> dict:
    """run.json for labels; an empty dict if it cannot be read."""
    try:
        return check_info(artifacts.read_json(run_dir, artifacts.RUN_INFO))
    except Exception:  # a broken run.json only costs the label its details
        return {}


def seconds(value) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    value = float(value)
    if value < 59.95:
        return f"{value:.1f} s"
    if value < 3600 - 0.5:  # whole seconds, rounded once: 3,479.8 s is 57 min 60 s otherwise
        minutes, secs = divmod(round(value), 60)
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(round(value / 60), 60)
    return f"{hours} h {minutes:02d} min"


def count(value) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    return f"{int(value):,}"


def data_rows(info: dict) -> dict:
    """Data source and sizes from run.json, as label -> text."""
    data = info.get("data") if isinstance(info.get("data"), dict) else {}
    return {
        "Source": str(data.get("description") or data.get("source") or "—"),
        "Training images available": count(data.get("train")),
        "Training images used": count(data.get("train_used")),
        "Validation images": count(data.get("validation")),
        "Test images": count(data.get("test")),
    }


def timing_rows(info: dict) -> dict:
    timings = info.get("timings") if isinstance(info.get("timings"), dict) else {}
    return {
        "Loading data": seconds(timings.get("load_data_s")),
        "Training": seconds(timings.get("train_s")),
        "Evaluating": seconds(timings.get("evaluate_s")),
        "Total": seconds(timings.get("total_s")),
    }


def config_rows(config: dict | None) -> dict:
    config = config or {}
    train_size = config.get("train_size")
    return {
        "Epochs": count(config.get("epochs")),
        "Batch size": count(config.get("batch_size")),
        "Learning rate": str(config.get("learning_rate", "—")),
        "Training-set size": "all"
        if "train_size" in config and train_size is None
        else count(train_size),
        "Augmentation": {True: "on", False: "off"}.get(config.get("augment"), "—"),
        "Seed": count(config.get("seed")),
        "Loss weights": _weights_text(config),
    }


def _weights_text(config: dict) -> str:
    """'digit 1, colour 0 (digit only)'; all 1 for a run from before loss weights."""
    if config.get("model") not in TASKS:
        return "—"
    weights = loss_weights.of_config(config["model"], config)
    note = loss_weights.short(weights)
    return loss_weights.words(weights) + (f" ({note})" if note.endswith("only") else "")


def epochs_trained(view: RunView) -> int | None:
    if view.history:
        return len(view.history["epoch"])
    return None
