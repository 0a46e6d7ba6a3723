"""The files inside a run directory: their names, and how to write and read them.

model.keras          the trained model (Keras 3 format)
config.json          the training configuration
history.json         per epoch, per head, train and validation: {"epoch": [...], "<metric>": [...]}
training_history.log the same as CSV, like the original sum project's log
metrics.json         test metrics per head (+ consistency for the sum model)
confusion.json       confusion matrices: digit, color or sum
samples.npz          a sample of test predictions for the dashboards' grids
architecture.txt     model.summary()
architecture.json    the model's Keras config
progress.jsonl       progress events written while training (mimo.train.trainer writes them,
                     read_progress below reads them for the Retrain page)
run.json             written last: id, model, data source, sizes, timings, status
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

CONFIG = "config.json"
HISTORY = "history.json"
HISTORY_CSV = "training_history.log"
METRICS = "metrics.json"
CONFUSION = "confusion.json"
SAMPLES = "samples.npz"
ARCHITECTURE_TXT = "architecture.txt"
ARCHITECTURE_JSON = "architecture.json"
PROGRESS = "progress.jsonl"
RUN_INFO = "run.json"


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
    with np.load(Path(folder) / SAMPLES, allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


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
