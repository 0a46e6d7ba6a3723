"""The runs of a registry as `python -m mimo runs` lists them: a table for people, or one JSON
document with every run's settings (loss weights included), data and test metrics.

The JSON document:

    {"active": {"color": "<run id>", "sum": "<run id>"},
     "runs": [{"run_id", "model", "active", "created", "loss_weights": {head: weight},
               "single_task": bool, "config": {...config.json, every field of this version
               (mimo.train.config.complete_settings), loss weights filled in},
               "data": {...}, "test_metrics": {...}, "tags": [...]}, ...]}

A run whose config.json cannot be read gets "config": null and its weights as for old runs
(all 1). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from mimo.runs import artifacts
from mimo.runs import weights as loss_weights
from mimo.runs.notes import read_notes
from mimo.runs.registry import Registry, Run
from mimo.runs.view import read_run_info
from mimo.train.config import complete_settings

NO_CONFIG = None  # "config" of a run whose config.json is missing or unreadable


def _config(run: Run) -> dict | None:
    try:
        config = run.read_json(artifacts.CONFIG)
    except (OSError, ValueError):
        return NO_CONFIG
    return config if isinstance(config, dict) else NO_CONFIG


def describe(run: Run, active: bool) -> dict:
    """One run as the JSON document lists it."""
    info = read_run_info(run.path)
    config = _config(run)
    weights = loss_weights.of_config(run.model, config)
    if config is not None:
        config = complete_settings(config)
        config["loss_weights"] = weights
    return {
        "run_id": run.run_id,
        "model": run.model,
        "active": active,
        "created": info.get("created"),
        "loss_weights": weights,
        "single_task": bool(loss_weights.heads_off(weights)),
        "config": config,
        "data": info.get("data") if isinstance(info.get("data"), dict) else None,
        "test_metrics": info.get("test_metrics") or {},
        "tags": list(read_notes(run.path).tags),
    }


def document(registry: Registry) -> dict:
    """Every listed run, in the registry's order, as one JSON-ready document."""
    active_ids = registry.active_ids()
    active = set(active_ids.values())
    return {
        "active": dict(active_ids),
        "runs": [describe(run, run.run_id in active) for run in registry.list_runs()],
    }


def table(registry: Registry) -> list[str]:
    """One line per run: '*' for an active run, its id, test metrics and loss weights."""
    lines = []
    for row in document(registry)["runs"]:
        metrics = row["test_metrics"]
        figures = " ".join(
            f"{k}={v:.4f}" for k, v in metrics.items() if k != "n" and isinstance(v, (int, float))
        )
        weights = f"  loss weights {loss_weights.flag(row['loss_weights'])}"
        lines.append(f"{'*' if row['active'] else ' '} {row['run_id']:<40} {figures}{weights}")
    return lines
