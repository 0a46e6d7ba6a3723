"""A run's gradient agreement (agreement.json): per epoch, how the heads' gradients on the shared
trunk relate, as mimo.train.agreement measures them.

    {"heads": ["digit", "sum"],      the model's heads, the first one the reference
     "batch_size": 256,              fixed validation examples measured on
     "trunk_weights": 339680,        trainable values in the shared trunk
     "epoch": [1, 2, ...],
     "norm": {"digit": [...], "sum": [...]},   each head's gradient norm per epoch
     "cosine": {"sum": [...]},       cosine similarity with the first head's gradient
     "norm_ratio": {"sum": [...]}}   its norm over the first head's (null when that is 0)

Runs trained before it was recorded have no such file. Reading never imports TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from mimo.runs import artifacts
from mimo.tasks import task


def empty(heads, batch_size: int, trunk_weights: int) -> dict:
    """A record with no epoch yet."""
    heads = list(heads)
    return {
        "heads": heads,
        "batch_size": int(batch_size),
        "trunk_weights": int(trunk_weights),
        "epoch": [],
        "norm": {h: [] for h in heads},
        "cosine": {h: [] for h in heads[1:]},
        "norm_ratio": {h: [] for h in heads[1:]},
    }


def append(record: dict, epoch: int, measured: dict) -> None:
    """Add one epoch's measurement ({"norm", "cosine", "norm_ratio"} by head) to the record."""
    record["epoch"].append(int(epoch))
    for part in ("norm", "cosine", "norm_ratio"):
        for head, values in record[part].items():
            values.append(measured[part][head])


def write(folder: Path, record: dict) -> None:
    artifacts.write_json(folder, artifacts.AGREEMENT, record)


@dataclass(frozen=True)
class Agreement:
    """A run's checked record (see the module docstring)."""

    heads: tuple[str, ...]
    batch_size: int
    epoch: list[int]
    norm: dict[str, list[float]]
    cosine: dict[str, list[float]]
    norm_ratio: dict[str, list[float | None]]

    @property
    def others(self) -> tuple[str, ...]:
        """The heads compared with the first one."""
        return self.heads[1:]


def _series(values, name: str, n: int, none_ok: bool = False) -> list:
    if not isinstance(values, list) or len(values) != n:
        raise ValueError(f"'{name}' does not have one value per epoch")
    clean = []
    for value in values:
        if value is None and none_ok:
            clean.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"'{name}' holds a value that is not a number")
        if not math.isfinite(value):
            raise ValueError(f"'{name}' holds a value that is not finite")
        clean.append(float(value))
    return clean


def read(folder: Path, model: str) -> Agreement:
    """The run's agreement.json, checked: FileNotFoundError when the run did not record it,
    ValueError (or JSONDecodeError) saying what is wrong otherwise."""
    data = artifacts.read_json(folder, artifacts.AGREEMENT)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    heads = tuple(task(model).head_names)
    if tuple(data.get("heads") or ()) != heads:
        raise ValueError(f"its heads are not the {model} model's ({', '.join(heads)})")
    epochs = data.get("epoch")
    if not isinstance(epochs, list) or not all(isinstance(e, int) for e in epochs):
        raise ValueError("'epoch' is not a list of epochs")
    n = len(epochs)
    parts = {}
    for part, names in (("norm", heads), ("cosine", heads[1:]), ("norm_ratio", heads[1:])):
        series = data.get(part)
        if not isinstance(series, dict):
            raise ValueError(f"'{part}' is not an object")
        parts[part] = {
            h: _series(series.get(h), f"{part}.{h}", n, none_ok=part == "norm_ratio") for h in names
        }
    if any(not -1.0001 <= c <= 1.0001 for values in parts["cosine"].values() for c in values):
        raise ValueError("a cosine similarity lies outside -1 to 1")
    batch = data.get("batch_size")
    return Agreement(
        heads=heads,
        batch_size=batch if isinstance(batch, int) else 0,
        epoch=list(epochs),
        **parts,
    )
