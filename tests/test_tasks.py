"""The table of models (mimo.tasks): what it says matches the models that are built, trained,
evaluated and served, and everything reads its names and words from it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mimo.tasks import HEADS, METRIC_TITLES, MODEL_HEADS, SIGMOID, TASKS, pack, task
from tests.support import ROOT

BATCH = 8


@pytest.fixture(scope="module")
def built():
    """A fresh model of every task, built through the table's builder reference."""
    return {name: t.build() for name, t in TASKS.items()}


def _evaluation_split(t, mnist_small):
    """BATCH test digits, their labels and the task's fixed paired values."""
    from mimo.train.pipelines import fixed_pairs

    pairs = fixed_pairs(BATCH, seed=1)
    return mnist_small.x_test[:BATCH], mnist_small.y_test[:BATCH], t.paired(pairs)


# -- the table itself -----------------------------------------------------------------------


def test_the_table_lists_the_two_models_under_their_own_names():
    from mimo.config import MODEL_NAMES

    assert list(TASKS) == ["color", "sum"] == list(MODEL_NAMES)
    assert all(t.name == name and task(name) is t for name, t in TASKS.items())
    assert MODEL_HEADS == {"color": ("digit", "color"), "sum": ("digit", "sum")}
    with pytest.raises(KeyError, match="color, sum"):
        task("colour")


def test_the_words_are_those_the_pages_always_showed():
    from mimo.runs.view import HEAD_TITLES, MODEL_TITLES

    assert MODEL_TITLES == {
        "color": "Colour model (digit + colour)",
        "sum": "Sum model (digit + sum)",
    }
    assert HEAD_TITLES == {"digit": "Digit", "color": "Colour", "sum": "Sum"}
    assert [h.label for h in TASKS["color"].heads] == ["Digit", "Color"]  # the Predict card
    assert METRIC_TITLES == {
        "digit_accuracy": "Digit accuracy",
        "color_accuracy": "Colour accuracy",
        "sum_accuracy": "Sum accuracy",
        "consistency": "Consistency (sum = digit + number)",
    }
    assert [t.title for t in TASKS.values()] == ["Colour model", "Sum model"]


def test_a_head_shared_by_models_is_one_head():
    for t in TASKS.values():
        for head in t.heads:
            assert HEADS[head.name] is head
    assert HEADS["color"].labels == ("red", "green") and HEADS["sum"].labels[-1] == "18"
    assert {h.name: h.loss for h in HEADS.values()} == {
        "digit": "sparse_categorical_crossentropy",
        "color": "binary_crossentropy",
        "sum": "categorical_crossentropy",
    }


def test_run_ids_are_accepted_for_every_model_and_no_other_name():
    from mimo.runs.registry import RUN_ID_PATTERN, model_of

    for name in TASKS:
        run_id = f"{name}-20260101-120000-abc"
        assert RUN_ID_PATTERN.fullmatch(run_id) and model_of(run_id) == name
    for other in ("colour", "sums", "digit", "color|sum"):
        assert not RUN_ID_PATTERN.fullmatch(f"{other}-20260101-120000-abc")


def test_the_table_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys, mimo.tasks, mimo.config, mimo.runs.view, mimo.app.plots.probabilities\n"
        "t = mimo.tasks.TASKS['sum']\n"
        "assert t.builder and t.training_encoding\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- heads: probabilities and decisions ------------------------------------------------------


def test_a_sigmoid_head_gives_two_classes_and_decides_green_from_one_half():
    head = HEADS["color"]
    assert head.activation == SIGMOID and head.units == 1
    probs = head.probabilities(np.array([[0.2], [0.5], [0.9]], np.float32))
    np.testing.assert_allclose(probs, [[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]], rtol=1e-6)
    chosen, confidence = head.decide(probs)
    assert chosen.tolist() == [0, 1, 1]
    np.testing.assert_allclose(confidence, [0.8, 0.5, 0.9], rtol=1e-6)
    assert [head.value(c) for c in chosen] == ["red", "green", "green"]


def test_a_softmax_head_picks_its_likeliest_class():
    head = HEADS["sum"]
    probs = np.eye(19)[[3, 18]] * 0.9 + 0.1 / 19
    chosen, confidence = head.decide(head.probabilities(probs))
    assert chosen.tolist() == [3, 18] and head.value(chosen[1]) == 18
    np.testing.assert_allclose(confidence, probs.max(axis=1))


# -- the table against the models ------------------------------------------------------------


@pytest.mark.parametrize("name", list(TASKS))
def test_each_models_heads_and_inputs_are_those_of_its_built_model(built, name, mnist_small):
    model, t = built[name], TASKS[name]
    assert sorted(model.output_names) == sorted(t.head_names)
    assert {i.name: tuple(i.shape[1:]) for i in model.inputs} == t.input_shapes()
    inputs, _ = t.evaluation_arrays(*_evaluation_split(t, mnist_small))
    outputs = model(inputs, training=False)
    for head in t.heads:
        assert tuple(outputs[head.name].shape) == (BATCH, head.units)
        probs = head.probabilities(np.asarray(outputs[head.name]))
        assert probs.shape == (BATCH, head.classes)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", list(TASKS))
def test_evaluation_targets_are_what_each_heads_loss_takes(built, name, mnist_small):
    from mimo.models import compile_model

    t = TASKS[name]
    images, labels, paired = _evaluation_split(t, mnist_small)
    inputs, targets = t.evaluation_arrays(images, labels, paired)
    assert list(targets) == list(t.head_names)
    for head in t.heads:
        truth = head.truth(labels.astype(np.int64), paired)
        expected = np.eye(head.classes)[truth] if head.one_hot_targets else truth
        np.testing.assert_array_equal(targets[head.name], expected)
    model = compile_model(built[name], 1e-3)  # each head's loss and metric, from the table
    losses = model.test_on_batch(inputs, targets, return_dict=True)
    assert all(np.isfinite(v) for v in losses.values())
    assert {f"{h}_accuracy" for h in t.head_names} <= set(losses)


@pytest.mark.parametrize("name", list(TASKS))
def test_a_training_batch_fits_the_model_and_pairs_every_digit(built, name, mnist_small):
    from mimo.train.pipelines import training_dataset

    t = TASKS[name]
    x, y = mnist_small.x_train[:32], mnist_small.y_train[:32]
    inputs, targets = next(iter(training_dataset(name, x, y, 16, seed=0, augment=False)))
    flat = inputs if isinstance(inputs, dict) else {"image": inputs}
    assert {k: tuple(v.shape[1:]) for k, v in flat.items()} == t.input_shapes()
    outputs = built[name](inputs, training=False)
    for head in t.heads:
        target = np.asarray(targets[head.name])
        classes = target.argmax(axis=1) if head.one_hot_targets else target
        assert classes.min() >= 0 and classes.max() < head.classes
        assert tuple(outputs[head.name].shape) == (16, head.units)
    if t.second_input:  # the sum: digit + the number fed in
        numbers = np.asarray(flat[t.second_input]).argmax(axis=1)
        sums = np.asarray(targets["sum"]).argmax(axis=1)
        np.testing.assert_array_equal(sums, np.asarray(targets["digit"]) + numbers)


@pytest.mark.parametrize("name", list(TASKS))
def test_serving_inputs_of_a_prepared_digit_fit_the_model(built, name, mnist_small):
    from mimo.serve.preprocess import prepare

    t = TASKS[name]
    inputs = t.serving_inputs(prepare(mnist_small.x_test[0]), 7)
    assert {k: v.shape for k, v in inputs.items()} == t.input_shapes()
    if t.second_input:
        assert inputs[t.second_input].argmax() == 7
    batch = pack({k: v[None] for k, v in inputs.items()})
    outputs = built[name](batch, training=False)
    assert sorted(outputs) == sorted(t.head_names)
