"""Why each model answered: an attribution map per head, the sum model's image/number split,
the feature maps of each residual block, and the colour model's recolour check.

Attributions are integrated gradients (Sundararajan et al., 2017), computed with
`tf.GradientTape` on the loaded Keras model: the gradient of the head's answer (the probability
of its predicted class) averaged along the straight path from a baseline to the input, times
the input's distance from the baseline. The baseline is what the models see as "nothing": a
black image and, for the sum model's number input, all zeros. By the completeness property the
attributions add up to the answer's change from the baseline, so the share of it that goes
through the image and through the number says how much each input carried the sum.

Every head of a model is explained in one call of one `tf.function` per model, traced once with
fixed input shapes. The answers of these models jump over a short stretch of the path (the
colour model's close to the black baseline), where evenly spaced points miss most of the
change; so a forward-only probe of the path first finds where each answer moves, the points
are packed there (narrow cells where an answer changes fast, wide ones where it stays put), and
one forward pass over them under a persistent tape gives every head's gradient. The result is
still integrated gradients, summed on uneven cells. The gradients go through a copy of the model
whose convolutions pass their input gradient back as a forward convolution: the same numbers,
faster on a CPU. `python -m bench.explain` measures the time and how closely the attributions
add up (their completeness error) for several step counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimo.serve.fast_gradients import with_fast_input_gradients
from mimo.tasks import pack

# Points on the path from the baseline to the input, in one batch: the fewest whose median
# completeness error on real test digits stays small (python -m bench.explain measures it).
# With the sharper 99.5% models, 16 left the sum model's digit head at an 8-10% median error;
# 24 bring it to 6%, for about 19 ms more per drawing (both models).
IG_STEPS = 24
# Even segments of the path whose ends the forward-only probe evaluates to find where the
# answers change (_path_cells).
PROBE_SEGMENTS = 16
PATH_FLOOR = 0.15  # the share of the points spread evenly, wherever the answers change
CHANGE_EPSILON = 1e-12  # keeps a head whose answer never changes out of the division
BLOCK_OUTPUT_SUFFIX = "_out"  # the residual blocks' output layers (mimo.models)
FEATURE_MAPS_PER_BLOCK = 8  # the most active channels of each block, for the "inside" view
COMPLETENESS_FLOOR = 1e-6  # below this change from the baseline, errors are measured absolutely

# The heatmap: signed attribution drawn over a dimmed grey copy of the input.
HEATMAP_ROBUST_PERCENTILE = 99  # of |attribution|: the value drawn at full strength
HEATMAP_DIM = 0.35  # the input's brightness under the colours, so the digit stays visible
HEATMAP_WARM = (255, 96, 32)  # positive evidence: pushes towards the answer
HEATMAP_COOL = (32, 144, 255)  # negative evidence: pushes away from it

SPLIT_DECIMALS = 1  # split_percent's precision: one decimal, so tenths of a percent
SPLIT_TOTAL_UNITS = 100 * 10**SPLIT_DECIMALS  # 100.0 % in tenths


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


class Explainer:
    """Integrated gradients and feature maps for one loaded model, each one `tf.function`
    traced once, at construction (so the first explanation is as fast as the next)."""

    def __init__(self, model, steps: int = IG_STEPS):
        self.model = model
        self.steps = steps
        self.heads = tuple(model.output)  # the output dict's names, in the model's order
        self.input_shapes = {t.name: tuple(t.shape[1:]) for t in model.inputs}
        self._integrated = _integrated_gradients_function(
            with_fast_input_gradients(model), self.heads, self.input_shapes, steps
        )
        self._block_names = _block_names(model)
        self._features = _feature_function(model, self._block_names, self.input_shapes)
        self._warm_up()

    def _warm_up(self) -> None:
        zeros = {name: np.zeros(shape, np.float32) for name, shape in self.input_shapes.items()}
        self.attribute_heads(zeros, dict.fromkeys(self.heads, 0))
        self._features({name: value[None] for name, value in zeros.items()})

    @property
    def traces(self) -> int:
        """How many times the integrated-gradients function was traced (once, unless a caller
        passed inputs of another shape)."""
        return self._integrated.experimental_get_tracing_count()

    def attribute_heads(
        self, inputs: dict[str, np.ndarray], classes: dict[str, int]
    ) -> dict[str, dict[str, np.ndarray]]:
        """{head: {input name: attribution, the input's shape without the batch axis}} for
        every head at once, each for its class in `classes` (a head left out: class 0)."""
        values = {name: np.asarray(inputs[name], np.float32) for name in self.input_shapes}
        indices = np.array([classes.get(head, 0) for head in self.heads], np.int32)
        result = self._integrated(values, indices)
        return {
            head: {name: np.asarray(value) for name, value in maps.items()}
            for head, maps in result.items()
        }

    def attribute(self, inputs: dict[str, np.ndarray], head: str, class_index: int) -> dict:
        """{input name: attribution} for one head's class (the other heads ride along)."""
        return self.attribute_heads(inputs, {head: class_index})[head]

    def answers(self, inputs: dict[str, np.ndarray], classes: dict[str, int]) -> dict:
        """{head: the probability of its class in `classes`} for one input (no batch axis)."""
        batch = {name: np.asarray(inputs[name], np.float32)[None] for name in self.input_shapes}
        outputs = self.model(pack(batch), training=False)
        return {
            head: float(_class_probability(outputs[head], np.int32(index))[0])
            for head, index in classes.items()
        }

    def feature_maps(self, model_input) -> list[BlockFeatures]:
        """Each residual block's output for one input: its FEATURE_MAPS_PER_BLOCK most active
        channels, each scaled to [0, 1]."""
        if not isinstance(model_input, dict):  # a one-input model's array alone
            model_input = {next(iter(self.input_shapes)): model_input}
        batch = {
            name: np.asarray(model_input[name], np.float32)[None] for name in self.input_shapes
        }
        outputs = self._features(batch)
        return [
            _strongest_channels(name, np.asarray(activation)[0])
            for name, activation in zip(self._block_names, outputs, strict=True)
        ]


def _integrated_gradients_function(model, heads, input_shapes, steps: int):
    """tf.function(inputs dict without the batch axis, class index per head) ->
    {head: {input name: integrated gradients}}.

    A forward pass over a coarse probe of the path places the `steps` points where the answers
    change (_path_cells); then one forward pass over those points, under a persistent tape,
    gives one gradient per head.
    """
    import tensorflow as tf

    signature = [
        {name: tf.TensorSpec(shape, tf.float32, name=name) for name, shape in input_shapes.items()},
        tf.TensorSpec([len(heads)], tf.int32),
    ]

    def answers(outputs, classes):
        """(heads, rows): each head's probability of its class along a batch of points."""
        return [_class_probability(outputs[head], classes[k]) for k, head in enumerate(heads)]

    @tf.function(input_signature=signature)
    def integrated(inputs, classes):
        probe = tf.linspace(0.0, 1.0, PROBE_SEGMENTS + 1)
        along_probe = model(pack(_along(probe, inputs)), training=False)
        alphas, widths = _path_cells(tf.stack(answers(along_probe, classes)), steps)
        path = _along(alphas, inputs)  # the baseline is zeros: the path is alpha * input
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
            tape.watch(path)
            totals = [tf.reduce_sum(a) for a in answers(model(pack(path), training=False), classes)]
        result = {}
        for head, total in zip(heads, totals, strict=True):
            grads = tape.gradient(total, path, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            result[head] = {
                name: tf.tensordot(widths, grads[name], 1) * inputs[name] for name in path
            }
        return result

    return integrated


def _path_cells(probed, steps: int):
    """(midpoints, widths) of `steps` cells that cut [0, 1] where the answers change.

    probed: (heads, PROBE_SEGMENTS + 1) the answers at evenly spaced points of the path. Each
    probe segment gets each head's share of its change from the baseline, averaged over the
    heads, plus PATH_FLOOR spread evenly; the cells carry equal parts of that, so they are
    narrow where an answer moves fast and wide where it stays put. The midpoint rule on them
    (the weights are the widths) is the integral's Riemann sum.
    """
    import tensorflow as tf

    segments = PROBE_SEGMENTS
    change = tf.abs(probed[:, 1:] - probed[:, :-1])
    shares = change / (tf.reduce_sum(change, axis=1, keepdims=True) + CHANGE_EPSILON)
    mass = (1 - PATH_FLOOR) * tf.reduce_mean(shares, axis=0) + PATH_FLOOR / segments
    cumulative = tf.concat([[0.0], tf.cumsum(mass)], 0)
    cumulative /= cumulative[-1]
    quantiles = tf.linspace(0.0, 1.0, steps + 1)
    segment = tf.searchsorted(cumulative, quantiles, side="right") - 1
    segment = tf.clip_by_value(segment, 0, segments - 1)
    start = tf.gather(cumulative, segment)
    size = tf.gather(cumulative, segment + 1) - start
    edges = (tf.cast(segment, tf.float32) + (quantiles - start) / size) / segments
    return (edges[1:] + edges[:-1]) / 2, edges[1:] - edges[:-1]


def _along(alphas, inputs: dict) -> dict:
    """{input name: (points, *shape)}: each input scaled by each point of the path."""
    import tensorflow as tf

    return {
        name: tf.reshape(alphas, [-1] + [1] * len(value.shape)) * value[None]
        for name, value in inputs.items()
    }


def _class_probability(output, class_index):
    """The probability of `class_index` per row: softmax heads directly; the sigmoid colour
    head (one unit, the probability of green) as p for class 1 and 1 - p for class 0."""
    import tensorflow as tf

    if output.shape[-1] == 1:
        p_green = output[:, 0]
        return tf.where(class_index == 1, p_green, 1.0 - p_green)
    return tf.gather(output, class_index, axis=1)


# ---------------------------------------------------------------------------------------------
# Feature maps


def _block_names(model) -> list[str]:
    return [
        layer.name
        for layer in model.layers
        if layer.name.startswith("block") and layer.name.endswith(BLOCK_OUTPUT_SUFFIX)
    ]


def _feature_function(model, names, input_shapes):
    """tf.function(inputs dict with a batch of one) -> each block's output, traced once."""
    import keras
    import tensorflow as tf

    blocks = keras.Model(model.input, [model.get_layer(name).output for name in names])
    signature = [
        {
            name: tf.TensorSpec((1, *shape), tf.float32, name=name)
            for name, shape in input_shapes.items()
        }
    ]
    return tf.function(
        lambda inputs: blocks(pack(inputs), training=False), input_signature=signature
    )


def _strongest_channels(layer: str, maps: np.ndarray) -> BlockFeatures:
    """One block's (h, w, c) output as its most active channels, each scaled to [0, 1]."""
    strongest = np.argsort(maps.mean(axis=(0, 1)))[::-1][:FEATURE_MAPS_PER_BLOCK]
    chosen = np.moveaxis(maps[..., strongest], -1, 0)
    top = chosen.max(axis=(1, 2), keepdims=True)
    return BlockFeatures(layer, (chosen / np.maximum(top, 1e-6)).astype("f4"))


# ---------------------------------------------------------------------------------------------
# What the pages and the CLI ask for


def explain(
    explainer: Explainer, result, prepared, number: int
) -> tuple[list[HeadAttribution], dict[str, float]]:
    """Every head of one model's answer, each as a (28, 28) map over its image input (summed
    over the colour channels), and how much of its last head's answer (the colour, the sum)
    came through each input: {"image": share, "number": share}, adding up to 1 ({"image": 1.0}
    for a model with one input).

    result: the model's mimo.serve.predictor.ModelPrediction for `prepared` and `number`; the
    explainer holds that model.
    """
    inputs = result.task.serving_inputs(prepared, number)
    classes = {head: answer.index for head, answer in result.heads.items()}
    attributions = explainer.attribute_heads(inputs, classes)
    maps = [
        HeadAttribution(head, str(answer.value), attributions[head]["image"].sum(axis=-1))
        for head, answer in result.heads.items()
    ]
    return maps, input_split(attributions[maps[-1].head])


def input_split(attributions: dict[str, np.ndarray]) -> dict[str, float]:
    """Each input's share of the total absolute attribution."""
    magnitudes = {name: float(np.abs(value).sum()) for name, value in attributions.items()}
    total = sum(magnitudes.values())
    if total <= 0:
        return {name: 1.0 / len(magnitudes) for name in magnitudes}
    return {name: value / total for name, value in magnitudes.items()}


def split_percent(split: dict[str, float]) -> dict[str, float]:
    """A split as percentages with one decimal that add up to exactly 100.0: each share
    rounded down to a tenth, the tenths left over going to the largest remainders."""
    if not split:
        return {}
    weights = {name: max(float(share), 0.0) for name, share in split.items()}
    total = sum(weights.values())
    if total <= 0:
        weights, total = dict.fromkeys(split, 1.0), float(len(split))
    exact = {name: weight / total * SPLIT_TOTAL_UNITS for name, weight in weights.items()}
    units = {name: int(np.floor(value)) for name, value in exact.items()}
    left = SPLIT_TOTAL_UNITS - sum(units.values())
    for name in sorted(exact, key=lambda n: units[n] - exact[n])[:left]:
        units[name] += 1
    return {name: round(units[name] / 10**SPLIT_DECIMALS, SPLIT_DECIMALS) for name in split}


def attribution_heatmap(pixels: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(28, 28, 3) uint8: a signed attribution map drawn over the input the model saw.

    Positive evidence is warm, negative cool, each as strong as |attribution| relative to a
    robust maximum (the HEATMAP_ROBUST_PERCENTILE-th percentile, so one hot pixel does not wash
    out the rest), over a dimmed grey copy of the input so the digit's shape stays visible.
    seen: (28, 28), (28, 28, 1) or (28, 28, 3) in [0, 1].
    """
    pixels = np.asarray(pixels, np.float32)
    grey = np.asarray(seen, np.float32)
    grey = grey.max(axis=-1) if grey.ndim == 3 else grey
    base = np.repeat((np.clip(grey, 0, 1) * HEATMAP_DIM)[..., None], 3, axis=-1)
    scale = float(np.percentile(np.abs(pixels), HEATMAP_ROBUST_PERCENTILE))
    if not np.isfinite(scale) or scale <= 0:
        return np.round(base * 255).astype(np.uint8)
    strength = np.clip(pixels / scale, -1.0, 1.0)[..., None]
    colour = np.where(strength > 0, HEATMAP_WARM, HEATMAP_COOL).astype(np.float32) / 255
    drawn = base * (1 - np.abs(strength)) + colour * np.abs(strength)
    return np.round(np.clip(drawn, 0, 1) * 255).astype(np.uint8)


def completeness_error(
    explainer: Explainer,
    inputs: dict[str, np.ndarray],
    classes: dict[str, int],
    attributions: dict[str, dict[str, np.ndarray]],
) -> dict[str, float]:
    """{head: how far its attributions' sum is from its answer's change from the baseline},
    relative to that change: 0 for exact integrated gradients, more for fewer path steps."""
    at_input = explainer.answers(inputs, classes)
    baseline = {
        name: np.zeros_like(np.asarray(value, np.float32)) for name, value in inputs.items()
    }
    at_baseline = explainer.answers(baseline, classes)
    errors = {}
    for head in classes:
        change = at_input[head] - at_baseline[head]
        total = sum(float(value.sum()) for value in attributions[head].values())
        errors[head] = abs(total - change) / max(abs(change), COMPLETENESS_FLOOR)
    return errors


def recolored(prepared_rgb: np.ndarray) -> np.ndarray:
    """The same drawing in the other ink: red and green channels swapped."""
    return np.ascontiguousarray(prepared_rgb[..., [1, 0, 2]])


__all__ = [
    "Explainer",
    "HeadAttribution",
    "BlockFeatures",
    "explain",
    "input_split",
    "split_percent",
    "attribution_heatmap",
    "completeness_error",
    "recolored",
]
