"""The embedding projector's data: a trained model's features for a sample of test digits,
reduced to two dimensions with PCA and t-SNE (scikit-learn). The file it becomes and how it is
read: mimo.runs.embedding.
"""

from __future__ import annotations

import numpy as np

from mimo.runs import embedding
from mimo.train.evaluation import EVAL_BATCH
from mimo.train.pipelines import EvalPairs, evaluation_arrays

TSNE_PERPLEXITY = 30.0  # neighbours each point weighs: scikit-learn's default
TSNE_PCA_DIMS = 50  # t-SNE reads the features' first principal components (faster, as usual)
REDUCTION_SEED = 0  # t-SNE's start: the same features give the same picture
# t-SNE's optimisation steps (scikit-learn's default is 1000). A trained trunk's features fall
# into clear clusters by 500 steps (the shipped colour run: a point's nearest neighbour is the
# same digit for 99.1% of 2,000 points, against 99.2% after 1000, in 2.2 s against 3.9 s);
# barely trained features, as in short runs, take several seconds more per 500 steps.
TSNE_STEPS = 500


def features(model, model_name: str, images, labels, pairs: EvalPairs) -> np.ndarray:
    """(N, width) outputs of the trunk's last layer (mimo.models.FEATURES_LAYER) for the test
    images with their fixed pairs, in inference mode."""
    import keras

    from mimo.models import FEATURES_LAYER

    extractor = keras.Model(model.input, model.get_layer(FEATURES_LAYER).output)
    inputs, _ = evaluation_arrays(model_name, images, labels, pairs)
    chunks = []
    for start in range(0, len(labels), EVAL_BATCH):
        if isinstance(inputs, dict):
            batch = {k: v[start : start + EVAL_BATCH] for k, v in inputs.items()}
        else:
            batch = inputs[start : start + EVAL_BATCH]
        chunks.append(np.asarray(extractor(batch, training=False)))
    return np.concatenate(chunks).astype(np.float64)


def reduce(points: np.ndarray) -> tuple[dict[str, np.ndarray], tuple[float, float]]:
    """({"pca": (N, 2), "tsne": (N, 2)}, the share of variance on PCA's two axes)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    points = np.asarray(points, np.float64)
    pca = PCA(n_components=2, random_state=REDUCTION_SEED).fit(points)
    dims = min(TSNE_PCA_DIMS, points.shape[1], len(points))
    compact = PCA(n_components=dims, random_state=REDUCTION_SEED).fit_transform(points)
    tsne = TSNE(
        n_components=2,
        perplexity=min(TSNE_PERPLEXITY, (len(points) - 1) / 3),
        init="pca",
        learning_rate="auto",
        max_iter=TSNE_STEPS,
        random_state=REDUCTION_SEED,
    ).fit_transform(compact)
    explained = tuple(float(v) for v in pca.explained_variance_ratio_[:2])
    return {"pca": pca.transform(points), "tsne": tsne}, explained


def compute(model, model_name: str, images, labels, pairs: EvalPairs, index) -> dict:
    """embedding.npz's content for the test examples at `index` (the run's random sample,
    mimo.runs.examples), whose images, labels and pairs are the test split's."""
    from mimo.models import FEATURES_LAYER

    index = np.asarray(index)
    chosen = EvalPairs(colors=pairs.colors[index], numbers=pairs.numbers[index])
    found = features(model, model_name, images[index], labels[index], chosen)
    coordinates, explained = reduce(found)
    return embedding.build(index, coordinates, explained, FEATURES_LAYER)
