"""A run's embedding (embedding.npz): where the model puts test digits in its feature space.

The features are the outputs of the shared trunk's last layer (mimo.models.FEATURES_LAYER,
what every head reads) for the random sample of test digits whose pictures the run keeps
(mimo.runs.examples.SAMPLE_SIZE of them), reduced to two dimensions twice: PCA (linear; the
share of the variance each axis explains is kept) and t-SNE (neighbourhoods). Colours, truths
and pictures come from the run's predictions.npz through `index`.

Computed at the end of training (mimo.train.embedding) and, for a run from before this file
existed, once when it is first opened (mimo.train.backfill). Reading never imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimo.runs import artifacts

# The reductions kept, by key, with their names on the page.
METHODS = {"tsne": "t-SNE", "pca": "PCA"}
EXPLAINED = "pca_explained"  # the share of the features' variance on each PCA axis
LAYER = "layer"  # the layer the features came from


@dataclass(frozen=True)
class Embedding:
    index: np.ndarray  # test indices of the points, sorted
    coordinates: dict[str, np.ndarray]  # METHODS key -> (len(index), 2)
    explained: tuple[float, float]  # PCA's two axes
    layer: str


def build(index, coordinates: dict, explained, layer: str) -> dict[str, np.ndarray]:
    content = {"index": np.asarray(index, np.int32), LAYER: np.array(layer)}
    for key in METHODS:
        content[key] = np.asarray(coordinates[key], np.float32)
    content[EXPLAINED] = np.asarray(explained, np.float32)
    return content


def write(folder: Path, content: dict) -> None:
    artifacts.write_npz_atomic(folder, artifacts.EMBEDDING, content)


def read(folder: Path) -> Embedding:
    """The run's embedding.npz, checked: FileNotFoundError when missing, ValueError otherwise."""
    data = artifacts.read_npz(folder, artifacts.EMBEDDING)
    missing = [k for k in ("index", *METHODS) if k not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    index = np.asarray(data["index"]).reshape(-1).astype(np.int64)
    if len(index) == 0 or index.min() < 0 or (np.diff(index) <= 0).any():
        raise ValueError("'index' is not a sorted list of test examples")
    coordinates = {}
    for key in METHODS:
        points = np.asarray(data[key], np.float64)
        if points.shape != (len(index), 2) or not np.isfinite(points).all():
            raise ValueError(f"'{key}' is not one finite 2-D point per example")
        coordinates[key] = points
    explained = np.asarray(data.get(EXPLAINED, (np.nan, np.nan)), np.float64).reshape(-1)[:2]
    return Embedding(
        index=index,
        coordinates=coordinates,
        explained=(float(explained[0]), float(explained[1])),
        layer=str(data.get(LAYER, "")),
    )
