"""A run's loss weights per head, as its config.json records them, in numbers and in words.

A run trained before loss weights existed has none in its config: every head weighed 1
(mimo.tasks.Task.loss_weights). A head with weight 0 was switched off, so the run is single-task.
Used wherever a run is described: run labels and details on the Dashboards page, the settings
diff, `python -m mimo runs`.
"""

from __future__ import annotations

from collections.abc import Mapping

from mimo.tasks import HEADS, task


def of_config(model: str, config: Mapping | None) -> dict[str, float]:
    """Head -> loss weight for a run of `model` with this config.json (None or {}: all 1).
    A value that is not a number is left out, so it reads as the default."""
    given = (config or {}).get("loss_weights") if isinstance(config, Mapping) else None
    weights = task(model).loss_weights(given if isinstance(given, Mapping) else None)
    return {h: float(w) for h, w in weights.items() if _number(w)}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_default(weights: Mapping[str, float]) -> bool:
    """Every head weighs 1."""
    return all(w == 1 for w in weights.values())


def heads_off(weights: Mapping[str, float]) -> list[str]:
    """The heads switched off (weight 0)."""
    return [h for h, w in weights.items() if w == 0]


def words(weights: Mapping[str, float]) -> str:
    """'digit 1, colour 0.5'."""
    return ", ".join(f"{HEADS[h].title.lower()} {w:g}" for h, w in weights.items())


def short(weights: Mapping[str, float]) -> str:
    """A label's note: '' for the default, 'digit only' for a single-task run, else the
    weights ('weights digit 1, sum 0.5')."""
    if is_default(weights):
        return ""
    on = [h for h, w in weights.items() if w > 0]
    if len(on) == 1:
        return f"{HEADS[on[0]].title.lower()} only"
    return f"weights {words(weights)}"


def flag(weights: Mapping[str, float]) -> str:
    """The `--loss-weights` value that trains these weights: 'digit=1,color=0.5'."""
    return ",".join(f"{h}={w:g}" for h, w in weights.items())
