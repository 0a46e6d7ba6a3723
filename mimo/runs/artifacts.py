"""The files inside a run directory: their names, and how to write and read them.

model.keras          the trained model (Keras 3 format)
config.json          the training configuration
history.json         per epoch, per head, train and validation: {"epoch": [...], "<metric>": [...]}
training_history.log the same as CSV, like the original sum project's log
metrics.json         test metrics per head (+ consistency for the sum model)
confusion.json       confusion matrices: digit, color or sum
samples.npz          a sample of test predictions (runs from before predictions.npz)
predictions.npz      every test example's truth and predictions, with the pictures of a random
                     sample and of every mistake (mimo.runs.examples)
embedding.npz        penultimate-layer features of the random sample, reduced to 2-D with PCA
                     and t-SNE (mimo.runs.embedding)
agreement.json       per epoch, the cosine and norm ratio of the heads' gradients on the shared
                     trunk (mimo.runs.agreement); runs from before it have none
notes.json           a note and tags people gave the run (mimo.runs.notes); not written by training
architecture.txt     model.summary()
architecture.json    the model's Keras config
progress.jsonl       progress events written while training (mimo.train.trainer writes them,
                     read_progress below reads them for the Retrain page)
run.json             written last: id, model, data source, sizes, timings, status
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

CONFIG = "config.json"
HISTORY = "history.json"
HISTORY_CSV = "training_history.log"
METRICS = "metrics.json"
CONFUSION = "confusion.json"
SAMPLES = "samples.npz"
PREDICTIONS = "predictions.npz"
EMBEDDING = "embedding.npz"
AGREEMENT = "agreement.json"
NOTES = "notes.json"
ARCHITECTURE_TXT = "architecture.txt"
ARCHITECTURE_JSON = "architecture.json"
PROGRESS = "progress.jsonl"
RUN_INFO = "run.json"
FILE_MODE = 0o644  # of the files written here, as open() would make them under a usual umask

# A count at the end of model.summary(): " Total params: 1,368,045 (5.22 MB)".
SUMMARY_COUNT = re.compile(r"^\s*(Total|Trainable|Non-trainable|Optimizer) params: ([\d,]+)")


def write_json(folder: Path, name: str, data) -> None:
    with open(Path(folder) / name, "w") as f:
        json.dump(data, f, indent=2)


def read_json(folder: Path, name: str):
    with open(Path(folder) / name) as f:
        return json.load(f)


def write_history(folder: Path, history: dict) -> None:
    """history: {"epoch": [0, 1, ...], "loss": [...], "val_loss": [...], ...}."""
    write_json(folder, HISTORY, history)
    keys = list(history)
    with open(Path(folder) / HISTORY_CSV, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        writer.writerows(zip(*(history[k] for k in keys), strict=True))


def write_samples(folder: Path, sample: dict) -> None:
    np.savez_compressed(Path(folder) / SAMPLES, **sample)


def read_samples(folder: Path) -> dict:
    return read_npz(folder, SAMPLES)


def read_npz(folder: Path, name: str) -> dict:
    """Every array of an .npz file (no pickled objects); FileNotFoundError when it is missing,
    ValueError when it is not an .npz archive."""
    try:
        with np.load(Path(folder) / name, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}
    except FileNotFoundError:
        raise
    except Exception:  # numpy raises several kinds for a file that is not an npz archive
        raise ValueError("not a valid .npz archive") from None


def write_npz_atomic(folder: Path, name: str, arrays: dict) -> None:
    """A compressed .npz written beside its place and renamed over it: a reader (another
    session's page) sees the old file or the new one, never half of one."""
    folder = Path(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes it private; run files are readable
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_progress(folder: Path) -> list[dict]:
    """All complete progress events so far; a partly written last line is ignored."""
    path = Path(folder) / PROGRESS
    if not path.is_file():
        return []
    events = []
    with open(path) as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def model_summary(text: str) -> str:
    """model.summary() with its totals about the model alone.

    Keras counts a trained model's optimizer state (Adam's moments, the weight average) in
    "Total params", three times the model's own weights. Here the total is the trainable plus
    the non-trainable weights, the figure every other place shows, and the optimizer's state
    gets a line of its own saying what it is. A summary without optimizer state is unchanged.
    """
    counts = {}
    for line in text.splitlines():
        found = SUMMARY_COUNT.match(line)
        if found:
            counts[found.group(1)] = int(found.group(2).replace(",", ""))
    if "Optimizer" not in counts or not {"Trainable", "Non-trainable"} <= counts.keys():
        return text
    weights = counts["Trainable"] + counts["Non-trainable"]
    lines = []
    for line in text.splitlines():
        found = SUMMARY_COUNT.match(line)
        kind = found.group(1) if found else None
        if kind == "Total":
            line = f" Total params: {weights:,} (the model's weights)"
        elif kind == "Optimizer":
            line = (
                f" Optimizer state: {counts['Optimizer']:,} values, saved with the model for "
                "further training; not part of the model"
            )
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")
