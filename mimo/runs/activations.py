"""Which runs were active before, per model: the history behind "roll back".

The registry keeps it in activations.json beside active.json:

    {"color": [{"run_id": "<run id>", "activated": "2026-12-02 13:31:07"}, ...], "sum": [...]}

oldest first; the last entry is the run that is active now. Making a run active pushes it;
rolling back pops the active run and makes the entry below it active again. The history is a
record, not the truth: active.json says which run is active. When the two disagree (active.json
edited by hand, a crash between the two writes) the active run counts as the top of the
history. A missing or damaged file reads as an empty history. The functions here only read and
reshape the history; mimo.runs.registry writes it, under its lock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

HISTORY_FILE = "activations.json"
MAX_ENTRIES = 50  # per model: older entries are dropped


def read_history(root: Path) -> dict[str, list[dict]]:
    """{model: entries}, only well-formed entries kept; {} for a missing or damaged file."""
    try:
        with open(Path(root) / HISTORY_FILE, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    history = {}
    for model, entries in data.items():
        if isinstance(model, str) and isinstance(entries, list):
            history[model] = [
                e for e in entries if isinstance(e, dict) and isinstance(e.get("run_id"), str)
            ]
    return history


def entry(run_id: str) -> dict:
    return {"run_id": run_id, "activated": time.strftime("%Y-%m-%d %H:%M:%S")}


def reconciled(entries: list[dict], active_id: str | None) -> list[dict]:
    """The history with the active run on top (see the module docstring)."""
    entries = list(entries)
    if active_id is not None and (not entries or entries[-1]["run_id"] != active_id):
        entries.append(entry(active_id))
    return entries


def pushed(entries: list[dict], active_id: str | None, run_id: str) -> list[dict]:
    """The history after `run_id` is made active over `active_id`."""
    entries = reconciled(entries, active_id)
    if not entries or entries[-1]["run_id"] != run_id:
        entries.append(entry(run_id))
    return entries[-MAX_ENTRIES:]


def rollback_target(entries: list[dict], active_id: str | None, exists) -> tuple[str, list]:
    """(the run to make active again, the history after it is), skipping runs that no longer
    exist (`exists(run_id)` says). ValueError when there is none."""
    entries = reconciled(entries, active_id)
    below = entries[:-1]
    while below:
        candidate = below[-1]["run_id"]
        if candidate != active_id and exists(candidate):
            return candidate, below
        below = below[:-1]
    raise ValueError("there is no earlier active run to roll back to")
