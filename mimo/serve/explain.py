"""Why each model answered: an attribution map per head, the sum model's image/number split,
the feature maps of each residual block, and the colour model's recolour check.

Attributions are integrated gradients (Sundararajan et al., 2017), computed with
`tf.GradientTape` on the loaded Keras model: the gradient of the head's answer (the probability
of its predicted class) averaged along the straight path from a baseline to the input, times
the input's distance from the baseline. The baseline is what the models see as "nothing": a
black image and, for the sum model's number input, all zeros. By the completeness property the
attributions add up to the answer's change from the baseline, so the share of it that goes
through the image and through the number says how much each input carried the sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IG_STEPS = 32  # points on the path from the baseline to the input, in one batch
BLOCK_OUTPUT_SUFFIX = "_out"  # the residual blocks' output layers (mimo.models)
FEATURE_MAPS_PER_BLOCK = 8  # the most active channels of each block, for the "inside" view


@dataclass(frozen=True)
class HeadAttribution:
    head: str  # "digit", "color" or "sum"
    answer: str  # the head's predicted class, as shown on the page ("7", "green", "12")
    pixels: np.ndarray  # (28, 28) float32: signed attribution per input pixel


@dataclass(frozen=True)
class BlockFeatures:
    layer: str  # e.g. "block2_out"
    maps: np.ndarray  # (k, h, w) float32 in [0, 1]: the most active channels, each scaled


# ---------------------------------------------------------------------------------------------
# Integrated gradients


def _path_points(steps: int) -> np.ndarray:
    """Midpoints of `steps` equal segments of [0, 1] (the midpoint Riemann sum)."""
    return ((np.arange(steps, dtype=np.float32) + 0.5) / steps).astype(np.float32)


class Explainer:
    """Integrated gradients for one loaded model, one `tf.function` per head (traced once)."""

    def __init__(self, model, steps: int = IG_STEPS):
        import tensorflow as tf

        self.model = model
        self.steps = steps
        self._alphas = tf.constant(_path_points(steps))
        self._functions = {}
        self._feature_model = None

    def _gradient_function(self, head: str):
        """tf.function(inputs dict, class index) -> {input name: integrated gradients}."""
        import tensorflow as tf

        if head in self._functions:
            return self._functions[head]
        alphas = self._alphas
        model = self.model

        @tf.function(reduce_retracing=True)
        def integrated(inputs, class_index):
            # Baseline zeros: the path is alpha * input.
            path = {}
            for name, value in inputs.items():
                shape = tf.concat([[alphas.shape[0]], tf.ones(tf.rank(value) - 1, tf.int32)], 0)
                path[name] = tf.reshape(alphas, shape) * value
            with tf.GradientTape() as tape:
                tape.watch(path)
                out = model(path if len(path) > 1 else next(iter(path.values())), training=False)
                answer = _class_probability(out[head], class_index)
            grads = tape.gradient(answer, path, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return {name: tf.reduce_mean(grads[name], axis=0) * inputs[name][0] for name in path}

        self._functions[head] = integrated
        return integrated

    def attribute(self, inputs: dict[str, np.ndarray], head: str, class_index: int) -> dict:
        """{input name: attribution, the input's shape without the batch axis}."""
        batch = {name: np.asarray(value, np.float32)[None] for name, value in inputs.items()}
        result = self._gradient_function(head)(batch, np.int32(class_index))
        return {name: np.asarray(value) for name, value in result.items()}

    def feature_maps(self, model_input) -> list[BlockFeatures]:
        """Each residual block's output for one input: its FEATURE_MAPS_PER_BLOCK most active
        channels, each scaled to [0, 1]."""
        import keras

        names = _block_names(self.model)
        if self._feature_model is None:
            blocks = [self.model.get_layer(name).output for name in names]
            self._feature_model = keras.Model(self.model.input, blocks)
        batch = (
            {name: np.asarray(v, np.float32)[None] for name, v in model_input.items()}
            if isinstance(model_input, dict)
            else np.asarray(model_input, np.float32)[None]
        )
        outputs = self._feature_model(batch, training=False)
        features = []
        for name, activation in zip(names, outputs, strict=True):
            maps = np.asarray(activation)[0]  # (h, w, c)
            strongest = np.argsort(maps.mean(axis=(0, 1)))[::-1][:FEATURE_MAPS_PER_BLOCK]
            chosen = np.moveaxis(maps[..., strongest], -1, 0)
            top = chosen.max(axis=(1, 2), keepdims=True)
            features.append(BlockFeatures(name, (chosen / np.maximum(top, 1e-6)).astype("f4")))
        return features


def _block_names(model) -> list[str]:
    return [
        layer.name
        for layer in model.layers
        if layer.name.startswith("block") and layer.name.endswith(BLOCK_OUTPUT_SUFFIX)
    ]


def _class_probability(output, class_index):
    """The probability of `class_index` per row: softmax heads directly; the sigmoid colour
    head (one unit, the probability of green) as p for class 1 and 1 - p for class 0."""
    import tensorflow as tf

    if output.shape[-1] == 1:
        p_green = output[:, 0]
        return tf.where(class_index == 1, p_green, 1.0 - p_green)
    return tf.gather(output, class_index, axis=1)


# ---------------------------------------------------------------------------------------------
# What the pages and the CLI ask for


def explain(
    explainer: Explainer, result, prepared, number: int
) -> tuple[list[HeadAttribution], dict[str, float]]:
    """Every head of one model's answer, each as a (28, 28) map over its image input (summed
    over the colour channels), and how much of its last head's answer (the colour, the sum)
    came through each input: {"image": share, "number": share}, adding up to 1.

    result: the model's mimo.serve.predictor.ModelPrediction for `prepared` and `number`; the
    explainer holds that model.
    """
    inputs = result.task.serving_inputs(prepared, number)
    maps, attributions = [], {}
    for head, answer in result.heads.items():
        attributions = explainer.attribute(inputs, head, answer.index)
        pixels = attributions["image"].sum(axis=-1)
        maps.append(HeadAttribution(head, str(answer.value), pixels))
    return maps, input_split(attributions)


def input_split(attributions: dict[str, np.ndarray]) -> dict[str, float]:
    """Each input's share of the total absolute attribution."""
    magnitudes = {name: float(np.abs(value).sum()) for name, value in attributions.items()}
    total = sum(magnitudes.values())
    if total <= 0:
        return {name: 1.0 / len(magnitudes) for name in magnitudes}
    return {name: value / total for name, value in magnitudes.items()}


def recolored(prepared_rgb: np.ndarray) -> np.ndarray:
    """The same drawing in the other ink: red and green channels swapped."""
    return np.ascontiguousarray(prepared_rgb[..., [1, 0, 2]])


__all__ = [
    "Explainer",
    "HeadAttribution",
    "BlockFeatures",
    "explain",
    "input_split",
    "recolored",
]
