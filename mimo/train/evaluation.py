"""Test metrics per head, head consistency, confusion matrices, prediction samples, and every
test example's predictions (mimo.runs.examples), from one pass of the model over the test split.

Everything here works on arrays, so it serves training, `python -m mimo evaluate`, the
completion of older runs (mimo.train.backfill) and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix

from mimo.runs import examples
from mimo.tasks import DIGIT, task
from mimo.train.pipelines import EvalPairs, evaluation_arrays

EVAL_BATCH = 512
SAMPLE_SIZE = 120
SAMPLE_MISTAKES = 60
SAMPLE_SEED = 7


def predict_batches(model, inputs, batch_size: int = EVAL_BATCH) -> dict:
    """Run the model over numpy inputs (array or dict of arrays) and return numpy outputs."""
    n = len(inputs["image"]) if isinstance(inputs, dict) else len(inputs)
    chunks = []
    for start in range(0, n, batch_size):
        if isinstance(inputs, dict):
            batch = {k: v[start : start + batch_size] for k, v in inputs.items()}
        else:
            batch = inputs[start : start + batch_size]
        chunks.append({k: np.asarray(v) for k, v in model(batch, training=False).items()})
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def head_predictions(model_name: str, outputs: dict) -> dict:
    """Predicted class and its confidence for every head."""
    return {
        head.name: head.decide(head.probabilities(outputs[head.name]))
        for head in task(model_name).heads
    }


def true_labels(model_name: str, labels: np.ndarray, pairs: EvalPairs) -> dict:
    model_task = task(model_name)
    digits = labels.astype(np.int64)
    paired = model_task.paired(pairs).astype(np.int64)
    return {head.name: head.truth(digits, paired) for head in model_task.heads}


@dataclass
class Evaluation:
    metrics: dict  # metrics.json
    confusion: dict  # confusion.json
    sample: dict  # samples.npz
    examples: dict  # predictions.npz (mimo.runs.examples.build)


def evaluate_model(
    model, model_name: str, images: np.ndarray, labels: np.ndarray, pairs: EvalPairs
):
    """Evaluate on fixed pairs; returns (metrics, confusion matrices, prediction sample)."""
    done = evaluate_in_full(model, model_name, images, labels, pairs)
    return done.metrics, done.confusion, done.sample


def evaluate_in_full(
    model,
    model_name: str,
    images: np.ndarray,
    labels: np.ndarray,
    pairs: EvalPairs,
    data: dict | None = None,
    trained_heads=None,
) -> Evaluation:
    """Everything a run records about its test split. data: the test data's source and
    description (and "as_evaluated"), recorded with the per-example predictions; trained_heads:
    the heads with a loss weight above 0 (default: all), whose mistakes are pictured."""
    model_task = task(model_name)
    inputs, _ = evaluation_arrays(model_name, images, labels, pairs)
    outputs = predict_batches(model, inputs)
    predicted = head_predictions(model_name, outputs)
    truth = true_labels(model_name, labels, pairs)
    metrics = {"n": int(len(labels))}
    for head, (pred, _) in predicted.items():
        metrics[f"{head}_accuracy"] = float(np.mean(pred == truth[head]))
    if model_task.consistent_head:
        head = model_task.head(model_task.consistent_head)
        follows = head.truth(predicted[DIGIT.name][0], model_task.paired(pairs))
        metrics["consistency"] = consistency(predicted[head.name][0], follows)
    confusion = confusion_matrices(model_name, truth, predicted)
    sample = prediction_sample(model_name, images, truth, predicted, pairs)
    rows = {model_task.pairing.sample_key: model_task.paired(pairs)}
    for head, (pred, conf) in predicted.items():
        rows.update({f"{head}_true": truth[head], f"{head}_pred": pred, f"{head}_confidence": conf})
    per_example = examples.build(model_name, rows, images, data or {}, trained_heads)
    return Evaluation(metrics, confusion, sample, per_example)


def consistency(predicted, follows) -> float:
    """How often the heads agree: a head's answer is what follows from the predicted digit
    (for the sum model: predicted sum = predicted digit + number), right or wrong."""
    return float(np.mean(np.asarray(predicted) == np.asarray(follows)))


def confusion_matrices(model_name: str, truth: dict, predicted: dict) -> dict:
    model_task = task(model_name)
    return {
        head: confusion_matrix(
            truth[head], pred, labels=np.arange(model_task.head(head).classes)
        ).tolist()
        for head, (pred, _) in predicted.items()
    }


def prediction_sample(model_name, images, truth, predicted, pairs, size=SAMPLE_SIZE) -> dict:
    """A fixed random sample of test predictions plus up to SAMPLE_MISTAKES mistakes."""
    rng = np.random.default_rng(SAMPLE_SEED)
    wrong = np.zeros(len(images), bool)
    for head, (pred, _) in predicted.items():
        wrong |= pred != truth[head]
    mistakes = np.flatnonzero(wrong)[:SAMPLE_MISTAKES]
    random_pick = rng.choice(len(images), size=min(size, len(images)), replace=False)
    index = np.unique(np.concatenate([random_pick, mistakes]))
    model_task = task(model_name)
    sample = {"index": index, "image": images[index].astype(np.uint8)}
    sample[model_task.pairing.sample_key] = model_task.paired(pairs)[index]
    for head, (pred, conf) in predicted.items():
        sample[f"{head}_true"] = truth[head][index]
        sample[f"{head}_pred"] = pred[index]
        sample[f"{head}_confidence"] = conf[index].astype(np.float32)
    return sample
