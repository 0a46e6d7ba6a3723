"""Per-class precision and recall of a head, from its confusion matrix (rows: the true class,
columns: the prediction).

Recall: of the examples of a class, the share the head recognised. Precision: of the answers
naming a class, the share that were right. A class with no examples, or never predicted, has
no recall or precision (NaN), not 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassScores:
    support: np.ndarray  # examples of each class (row totals)
    predicted: np.ndarray  # answers naming each class (column totals)
    right: np.ndarray  # the diagonal
    precision: np.ndarray  # right / predicted, NaN where never predicted
    recall: np.ndarray  # right / support, NaN where no examples

    @property
    def missed(self) -> np.ndarray:
        """Examples of each class given another answer."""
        return self.support - self.right

    @property
    def false_alarms(self) -> np.ndarray:
        """Answers naming each class that were wrong."""
        return self.predicted - self.right


def class_scores(matrix) -> ClassScores:
    counts = np.asarray(matrix, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {counts.shape}")
    right = np.diag(counts)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, right / np.maximum(predicted, 1), np.nan)
        recall = np.where(support > 0, right / np.maximum(support, 1), np.nan)
    return ClassScores(support, predicted, right, precision, recall)
