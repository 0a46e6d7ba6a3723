"""How a model does on the collected digits: its answer per row and head, accuracy per head, and
confusion matrices, from one pass over the collection.

The collection keeps each digit as the models saw it when it was saved: the colour model reads
the picture in its own ink (rgb), the sum model the grey picture with the row's number. The
colour head is scored only on rows whose ink was red or green; the digit and sum heads on every
row. The My digits page, the trainer (held-back rows) and the tests share this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimo.encoding import COLOR_NAMES
from mimo.tasks import task
from mimo.train.evaluation import confusion_matrices, head_predictions, predict_batches

NO_INK = -1  # a row whose ink was neither red nor green: no colour truth


@dataclass(frozen=True)
class CollectionScores:
    """One model on a set of collected rows."""

    model: str
    predicted: dict  # head -> (N,) the predicted class per row
    confidence: dict  # head -> (N,) its probability
    truth: dict  # head -> (N,) the true class per row (NO_INK where not known)
    scored: dict  # head -> (N,) bool: the rows the head is scored on
    accuracy: dict  # head -> accuracy over its scored rows (None: no row to score)
    counts: dict  # head -> how many rows it was scored on
    confusion: dict  # head -> confusion matrix (lists), over its scored rows; none if no rows


def ink_indices(inks) -> np.ndarray:
    """Each row's ink as the colour head's class (0 red, 1 green), NO_INK where neither."""
    index = {name: i for i, name in enumerate(COLOR_NAMES)}
    return np.asarray([index.get(ink, NO_INK) for ink in inks], np.int64)


def model_inputs(model_name: str, arrays) -> dict:
    """The model's inputs for collected rows (a CollectionArrays): its picture as it was saved,
    and, for the sum model, the row's number as the one-hot second input."""
    model_task = task(model_name)
    pictures = arrays.rgb if model_task.serving_image == "rgb" else arrays.grey[..., None]
    image = pictures.astype(np.float32) / 255.0
    return model_task.inputs(image, np.asarray(arrays.numbers, np.int64))


def score_collection(model_name: str, model, arrays) -> CollectionScores:
    """Run `model` (a Keras model of `model_name`) over collected rows and score every head."""
    model_task = task(model_name)
    digits = np.asarray(arrays.labels, np.int64)
    inks = ink_indices(arrays.inks)
    numbers = np.asarray(arrays.numbers, np.int64)
    if len(digits) == 0:
        empty = {h: np.zeros(0, np.int64) for h in model_task.head_names}
        return CollectionScores(
            model_name,
            empty,
            empty,
            empty,
            {h: np.zeros(0, bool) for h in empty},
            dict.fromkeys(empty),
            dict.fromkeys(empty, 0),
            {},
        )
    predicted = head_predictions(
        model_name, predict_batches(model, model_inputs(model_name, arrays))
    )
    truth, scored = {}, {}
    for head in model_task.heads:
        if head.inks:  # the colour head: the ink it was drawn in, where that is red or green
            truth[head.name], scored[head.name] = inks, inks != NO_INK
        else:  # the digit, and digit + number
            truth[head.name] = head.truth(digits, numbers).astype(np.int64)
            scored[head.name] = np.ones(len(digits), bool)
    accuracy, counts = {}, {}
    for name, (pred, _) in predicted.items():
        rows = scored[name]
        counts[name] = int(rows.sum())
        accuracy[name] = float(np.mean(pred[rows] == truth[name][rows])) if rows.any() else None
    with_rows = [h for h in predicted if counts[h]]  # a head with no row to score has no matrix
    confusion = confusion_matrices(
        model_name,
        {h: truth[h][scored[h]] for h in with_rows},
        {h: (predicted[h][0][scored[h]], predicted[h][1][scored[h]]) for h in with_rows},
    )
    return CollectionScores(
        model=model_name,
        predicted={h: np.asarray(p) for h, (p, _) in predicted.items()},
        confidence={h: np.asarray(c) for h, (_, c) in predicted.items()},
        truth=truth,
        scored=scored,
        accuracy=accuracy,
        counts=counts,
        confusion=confusion,
    )
