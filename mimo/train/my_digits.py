"""Training with the collected digits ("include my digits"), and what a run records about them.

The collection comes from the feedback store (mimo.feedback.store) and is split by
mimo.feedback.dataset: the rows to train on join the training split, each `weight` times, and
the held-back rows are never trained on. After training, the new model and the active run of
the same model are both scored on the held-back rows (mimo.feedback.scoring), so the Retrain
page can set the gain on the user's handwriting beside the change in MNIST test accuracy.

The run keeps it in run.json, under RECORD_KEY:

    "my_digits": {
        "used": rows trained on, "held_back": rows held back,
        "weight": times each row to train on is seen per epoch, "store": "sqlite" or "postgresql",
        "held_back_accuracy": {head: accuracy on the held-back rows, None when none is scored},
        "held_back_counts": {head: held-back rows scored (the colour head: red or green ink)},
        "active_run": {"run_id": ..., "held_back_accuracy": {...}}, or {"run_id": ...,
                      "problem": why it was not scored}, or None when no run was active
    }

and run.json's "data" has the counts too (DATA_KEY), from the start of training on.
Nothing here imports Streamlit; TensorFlow only when a model is scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mimo.feedback import dataset
from mimo.feedback.errors import FeedbackError

RECORD_KEY = "my_digits"  # in run.json: the record above
DATA_KEY = "my_digits"  # in run.json's "data" (and the progress "data" event): the counts


class MyDigitsUnavailable(FeedbackError):
    """The run was to include the collected digits, and cannot: the sentence says why."""


@dataclass(frozen=True)
class Collected:
    """The collection as training uses it."""

    parts: dataset.Split
    store_kind: str  # "sqlite" or "postgresql"

    def counts(self, weight: int) -> dict:
        used, held_back = self.parts.sizes
        return {"used": used, "held_back": held_back, "weight": weight, "store": self.store_kind}


def load(env: Mapping | None = None) -> Collected:
    """The collection in the store the environment names (FeedbackStore.from_environment),
    split; MyDigitsUnavailable when the store cannot be read or holds too few digits."""
    from mimo.feedback.store import FeedbackStore

    try:
        store = FeedbackStore.from_environment(env)
        try:
            arrays, kind = store.arrays(), store.kind
        finally:
            store.close()
        dataset.check_size(arrays, "train with")
    except FeedbackError as exc:
        raise MyDigitsUnavailable(f"The run cannot include your digits. {exc}") from None
    return Collected(dataset.split(arrays), kind)


def mix(images: np.ndarray, labels: np.ndarray, collected: Collected, weight: int):
    """(images, labels): the training split's, then every row to train on `weight` times."""
    mine, their_labels = dataset.repeated(collected.parts.training, weight)
    return (
        np.concatenate([np.asarray(images, np.uint8), mine]),
        np.concatenate([np.asarray(labels, np.uint8), their_labels]),
    )


# ---------------------------------------------------------------------------------------------
# The record


def held_back_scores(model, model_name: str, collected: Collected) -> dict:
    """{"held_back_accuracy": {head: ...}, "held_back_counts": {head: ...}} of `model`."""
    from mimo.feedback.scoring import score_collection

    scores = score_collection(model_name, model, collected.parts.held_back)
    return {"held_back_accuracy": dict(scores.accuracy), "held_back_counts": dict(scores.counts)}


def active_run_scores(registry, model_name: str, collected: Collected) -> dict | None:
    """The active run of the model, scored on the same held-back rows; None when none is active,
    a "problem" instead of scores when its model cannot be loaded."""
    from mimo.models import load_model
    from mimo.runs.registry import RegistryError

    run_id = registry.active_ids().get(model_name)
    if run_id is None:
        return None
    try:
        model = load_model(registry.run(run_id).model_path)
    except RegistryError as exc:
        return {"run_id": run_id, "problem": str(exc)}
    except Exception as exc:  # a damaged model file fails in many ways (zip, h5, Keras)
        return {"run_id": run_id, "problem": f"its model cannot be loaded ({exc})"}
    scores = held_back_scores(model, model_name, collected)
    return {"run_id": run_id, "held_back_accuracy": scores["held_back_accuracy"]}


def record(model, model_name: str, collected: Collected, weight: int, registry) -> dict:
    """run.json's RECORD_KEY entry for a model trained with the collection (see the docstring)."""
    return {
        **collected.counts(weight),
        **held_back_scores(model, model_name, collected),
        "active_run": active_run_scores(registry, model_name, collected),
    }


# ---------------------------------------------------------------------------------------------
# Reading it back (the Retrain page)


@dataclass(frozen=True)
class HeldBackRow:
    """One head on the held-back rows: the new run's accuracy, and the active run's."""

    head: str
    new: float | None
    active: float | None
    scored: int  # held-back rows the head was scored on

    @property
    def change(self) -> float | None:
        return None if self.new is None or self.active is None else self.new - self.active


def held_back_rows(info: Mapping) -> list[HeldBackRow]:
    """The heads' held-back accuracies recorded in a run.json (`info`); [] when the run did not
    include the collection."""
    entry = info.get(RECORD_KEY)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("held_back_accuracy"), Mapping):
        return []
    active = entry.get("active_run") if isinstance(entry.get("active_run"), Mapping) else {}
    active_accuracy = active.get("held_back_accuracy")
    active_accuracy = active_accuracy if isinstance(active_accuracy, Mapping) else {}
    counts = entry.get("held_back_counts")
    counts = counts if isinstance(counts, Mapping) else {}
    return [
        HeldBackRow(head, _number(new), _number(active_accuracy.get(head)), counts.get(head, 0))
        for head, new in entry["held_back_accuracy"].items()
    ]


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
