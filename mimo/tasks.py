"""The two models as data: one table, `TASKS`, that the rest of the package reads.

Each entry says what one model is: its name (on the command line, in run ids and in the
registry), its titles, its heads (classes, activation, how their targets are built), what each
digit is paired with at random (a colour to paint it in, a number to add), its inputs, how
training, evaluation and serving build those inputs and targets, and where its builder lives.
Training pipelines, evaluation, the predictor, the explanations, the run views and the pages
loop over the table instead of asking "which model is this?". Adding a model means one more
entry here, plus its builder (mimo.models) and its training encoding (mimo.train.pipelines).

This module stays light: it imports numpy and mimo.encoding, never TensorFlow or Keras (the
command line and the pages import it before TensorFlow). The builder and the training encoding
are named as "module:function" references and imported only when used.

    Colour model ("color"): the digit painted red or green, as RGB (28, 28, 3)
                            -> `digit` (softmax 10) and `color` (sigmoid 1: P(green)).
    Sum model ("sum"):      the grey digit (28, 28, 1) + a number 0-9, one-hot `number`
                            -> `digit` (softmax 10) and `sum` (softmax 19: digit + number).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from mimo.encoding import (
    COLOR_NAMES,
    NUM_DIGITS,
    NUM_NUMBERS,
    NUM_SUMS,
    colorize,
    grey_input,
    one_hot,
)

IMAGE_SIZE = 28
IMAGE_INPUT = "image"  # every model's first input: the digit's picture
SIGMOID, SOFTMAX = "sigmoid", "softmax"
DEFAULT_LOSS_WEIGHT = 1.0  # a head's loss weight when none is given (every run before them)
# The inks the colour model knows, as people pick them on the Predict page.
INK_HEX = {"red": "#FF4B4B", "green": "#21C354"}


def resolve(reference: str):
    """The object a "package.module:name" reference names, imported on first use."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def pack(inputs: Mapping):
    """What a model is called with: a one-input model takes its array alone, others the dict."""
    return next(iter(inputs.values())) if len(inputs) == 1 else dict(inputs)


# ---------------------------------------------------------------------------------------------
# Heads


# The true class of a head, from the digits and the values paired with them. Plain arithmetic,
# so they serve numpy arrays (evaluation) and tensors (training) alike.
def the_digit(digits, paired):
    return digits


def the_paired_value(digits, paired):
    return paired


def digit_plus_paired_value(digits, paired):
    return digits + paired


@dataclass(frozen=True)
class Head:
    """One output of a model."""

    name: str  # the output's name, and the prefix of its metrics ("digit_accuracy")
    title: str  # "Digit": as in "Digit accuracy", "Digit head", "Digit probabilities"
    classes: int
    truth: Callable  # (digits, paired values) -> the true class
    activation: str = SOFTMAX  # or SIGMOID: one unit, the probability of class 1
    one_hot_targets: bool = False  # trained on one-hot targets rather than class numbers
    class_names: tuple[str, ...] = ()  # the classes' names, when they are not their numbers
    class_colors: tuple[str, ...] = ()  # one colour per class (its ink), for probability bars
    card_label: str = ""  # its metric's label on the Predict page, if not the title

    @property
    def labels(self) -> tuple[str, ...]:
        """The classes as shown: their names, or their numbers."""
        return self.class_names or tuple(str(c) for c in range(self.classes))

    @property
    def label(self) -> str:
        return self.card_label or self.title

    @property
    def units(self) -> int:
        """The output layer's width."""
        return 1 if self.activation == SIGMOID else self.classes

    @property
    def loss(self) -> str:
        """The Keras loss that matches the activation and the targets."""
        if self.activation == SIGMOID:
            return "binary_crossentropy"
        if self.one_hot_targets:
            return "categorical_crossentropy"
        return "sparse_categorical_crossentropy"

    @property
    def inks(self) -> dict[str, str]:
        """Class name -> ink colour, for a head whose classes are inks; else empty."""
        return dict(zip(self.class_names, self.class_colors, strict=False))

    def value(self, index) -> int | str:
        """A class as predictions report it: its name, or its number."""
        return self.class_names[int(index)] if self.class_names else int(index)

    def probabilities(self, output) -> np.ndarray:
        """(N, classes) class probabilities from the head's outputs (N, units), in their dtype.

        A sigmoid head gives the probability p of class 1; its classes get 1 - p and p.
        """
        output = np.asarray(output)
        if self.activation == SIGMOID:
            p = output.reshape(len(output), -1)[:, 0]
            return np.stack([1 - p, p], axis=1)
        return output

    def decide(self, probabilities) -> tuple[np.ndarray, np.ndarray]:
        """(predicted class, its probability) per row of (N, classes) probabilities."""
        probabilities = np.asarray(probabilities)
        if self.activation == SIGMOID:  # class 1 from p = 0.5 on
            chosen = (probabilities[:, 1] >= 0.5).astype(np.int64)
        else:
            chosen = probabilities.argmax(axis=1)
        return chosen, probabilities[np.arange(len(chosen)), chosen]


DIGIT = Head("digit", "Digit", NUM_DIGITS, the_digit)
COLOR = Head(
    "color",
    "Colour",
    len(COLOR_NAMES),
    the_paired_value,
    activation=SIGMOID,
    class_names=COLOR_NAMES,
    class_colors=tuple(INK_HEX[name] for name in COLOR_NAMES),
    card_label="Color",
)
SUM = Head("sum", "Sum", NUM_SUMS, digit_plus_paired_value, one_hot_targets=True)


# ---------------------------------------------------------------------------------------------
# Models


@dataclass(frozen=True)
class Pairing:
    """What each digit is paired with at random: drawn afresh for every training batch, fixed
    (mimo.train.pipelines.fixed_pairs) for validation and test."""

    pairs_field: str  # the field of mimo.train.pipelines.EvalPairs that holds the fixed values
    sample_key: str  # its name in a run's sample predictions (samples.npz, predictions.npz)
    values: int  # how many values it takes: 0 .. values - 1
    description: str  # "the colour it was painted in", under the sample grid
    title: str = ""  # "Ink colour": the value as a choice on the page (colour the points by)
    value_names: tuple[str, ...] = ()  # the values' names, when they are not their numbers
    value_colors: tuple[str, ...] = ()  # one colour per value (its ink), when they have one

    def value_label(self, value) -> str:
        return self.value_names[int(value)] if self.value_names else str(int(value))


@dataclass(frozen=True)
class Task:
    """One model: everything the rest of the package needs to know about it."""

    name: str  # on the command line, in run ids and in the registry
    title: str  # "Colour model"
    noun: str  # "colour": the model named in a list of models
    heads: tuple[Head, ...]  # the outputs, digit first
    pairing: Pairing
    channels: int  # of the image input
    image: Callable  # (grey digits (N, 28, 28), paired values) -> image inputs (N, 28, 28, C)
    serving_image: str  # which picture of a prepared digit it reads ("rgb" or "grey")
    training_encoding: str  # -> fn(grey batch, seeds) -> (image batch, paired values), in TF
    builder: str  # -> fn() -> a fresh, uncompiled Keras model
    card_caption: str  # on its Predict card, after the title; {number} is the number picked
    sample_caption: tuple[str, str]  # a sample's truth and prediction lines, on the dashboards
    sample_truth: str  # a sample's truth, in its hover text
    second_input: str | None = None  # the paired value's one-hot input, when it is one
    consistent_head: str | None = None  # a head whose truth follows from the digit's (below)
    consistency_rule: str = ""  # how it follows, in words

    # -- names and words

    @property
    def label(self) -> str:
        """ "Colour model (digit + colour)": the model with its heads, in pickers and tables."""
        return f"{self.title} ({' + '.join(h.title.lower() for h in self.heads)})"

    @property
    def json_key(self) -> str:
        """Its key in a prediction's JSON ("color_model")."""
        return f"{self.name}_model"

    @property
    def head_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.heads)

    def head(self, name: str) -> Head:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(f"the {self.name} model has no {name!r} head")

    @property
    def inks(self) -> dict[str, str]:
        """The inks its heads name (the colour model's red and green); empty if none."""
        return {name: hex_ for head in self.heads for name, hex_ in head.inks.items()}

    @property
    def other_heads(self) -> tuple[Head, ...]:
        """The heads after the first (digit) one: the second task that shares the trunk."""
        return self.heads[1:]

    def loss_weights(self, given: Mapping | None = None) -> dict[str, float]:
        """Each head's loss weight, in head order: the `given` ones (a run's config), 1 for
        every head not named. A run from before loss weights existed has none: all 1.
        Values are passed through as given (TrainConfig.validate checks them)."""
        given = given if isinstance(given, Mapping) else {}
        return {name: given.get(name, DEFAULT_LOSS_WEIGHT) for name in self.head_names}

    # -- inputs and targets

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each input's shape, without the batch axis."""
        shapes = {IMAGE_INPUT: (IMAGE_SIZE, IMAGE_SIZE, self.channels)}
        if self.second_input:
            shapes[self.second_input] = (self.pairing.values,)
        return shapes

    def paired(self, pairs) -> np.ndarray:
        """Its values from a fixed evaluation pairing (an EvalPairs)."""
        return getattr(pairs, self.pairing.pairs_field)

    def inputs(self, image, paired, one_hot_fn=one_hot):
        """The model's input from the image inputs and the paired values (packed, see pack()).
        one_hot_fn: mimo.encoding.one_hot for numpy, tf.one_hot for tensors."""
        inputs = {IMAGE_INPUT: image}
        if self.second_input:
            inputs[self.second_input] = one_hot_fn(paired, self.pairing.values)
        return pack(inputs)

    def targets(self, digits, paired, one_hot_fn=one_hot) -> dict:
        """Each head's training target: its true class, one-hot where the head wants it."""
        targets = {}
        for head in self.heads:
            truth = head.truth(digits, paired)
            targets[head.name] = one_hot_fn(truth, head.classes) if head.one_hot_targets else truth
        return targets

    def evaluation_arrays(self, images, labels, paired):
        """(inputs, targets) as numpy for uint8 digits (N, 28, 28), their labels and paired
        values: clean black backgrounds, no augmentation."""
        digits = np.asarray(labels).astype(np.int64)
        paired = np.asarray(paired).astype(np.int64)
        return self.inputs(self.image(images, paired), paired), self.targets(digits, paired)

    def serving_inputs(self, prepared, number: int) -> dict[str, np.ndarray]:
        """Its inputs for one prepared digit (mimo.serve.preprocess), without the batch axis."""
        image = np.asarray(getattr(prepared, self.serving_image), np.float32)
        inputs = {IMAGE_INPUT: image[..., None] if image.ndim == 2 else image}
        if self.second_input:
            inputs[self.second_input] = one_hot([int(number)], self.pairing.values)[0]
        return inputs

    # -- code that needs TensorFlow, imported when used

    def build(self):
        """A fresh, uncompiled Keras model."""
        return resolve(self.builder)()

    @property
    def training_encoder(self) -> Callable:
        return resolve(self.training_encoding)


_MODELS = (
    Task(
        name="color",
        title="Colour model",
        noun="colour",
        heads=(DIGIT, COLOR),
        pairing=Pairing(
            "colors",
            "color_in",
            len(COLOR_NAMES),
            "the colour it was painted in",
            title="Ink colour",
            value_names=COLOR_NAMES,
            value_colors=tuple(INK_HEX[name] for name in COLOR_NAMES),
        ),
        channels=3,
        image=colorize,
        serving_image="rgb",
        training_encoding="mimo.train.pipelines:paint_in_random_colors",
        builder="mimo.models:build_color_model",
        card_caption="reads the digit in colour",
        sample_caption=("true {digit} {color}", "pred {digit} {color}"),
        sample_truth="digit {digit}, colour {color}",
    ),
    Task(
        name="sum",
        title="Sum model",
        noun="sum",
        heads=(DIGIT, SUM),
        pairing=Pairing("numbers", "number", NUM_NUMBERS, "the number added to it", title="Number"),
        channels=1,
        image=grey_input,
        serving_image="grey",
        training_encoding="mimo.train.pipelines:draw_random_numbers",
        builder="mimo.models:build_sum_model",
        card_caption="reads the digit in grey, adds {number}",
        sample_caption=("{digit} + {number} = {sum}", "pred {digit}, sum {sum}"),
        sample_truth="digit {digit}, number {number}, sum {sum}",
        second_input="number",
        consistent_head="sum",
        consistency_rule="sum = digit + number",
    ),
)
TASKS: dict[str, Task] = {t.name: t for t in _MODELS}  # in this order everywhere


def task(name: str) -> Task:
    """The model called `name`; KeyError naming the known models if there is none."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown model {name!r}; the models are {', '.join(TASKS)}") from None


# Views of the table, for code that wants one fact about every model or head.
HEADS: dict[str, Head] = {h.name: h for t in TASKS.values() for h in t.heads}  # digit first
MODEL_HEADS: dict[str, tuple[str, ...]] = {name: t.head_names for name, t in TASKS.items()}
INKS: dict[str, str] = {name: hex_ for t in TASKS.values() for name, hex_ in t.inks.items()}


def _metric_titles() -> dict[str, str]:
    titles = {f"{name}_accuracy": f"{head.title} accuracy" for name, head in HEADS.items()}
    for model in TASKS.values():
        if model.consistent_head:
            titles["consistency"] = f"Consistency ({model.consistency_rule})"
    return titles


# Titles of the test metrics a run records (metrics.json): "Digit accuracy", ...
METRIC_TITLES: dict[str, str] = _metric_titles()
