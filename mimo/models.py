"""The two multi-task models (mimo.tasks describes them; its entries name these builders).

Both share one small convolutional trunk with ResNet-style skip connections:

    stem conv 32 -> residual block 32 -> max-pool -> residual block 64 -> max-pool
    -> residual block 128 -> global average + max pooling -> dense 128 -> dropout

Colour model: image (28, 28, 3) -> `digit` (softmax 10) and `color` (sigmoid 1).
Sum model:    image (28, 28, 1) + `number` one-hot (10)
              -> `digit` (softmax 10) and `sum` (softmax 19).

The sum head learns end-to-end. The original sum project fed the argmax of the digit head into
it, which passes no gradient. Here a trainable dense layer reads the outer product of the digit
probabilities (computed from the image features) and the one-hot number: one cell per (digit,
number) pair.
The sum loss flows back through the probabilities into the trunk, and because the head reads
the same digit belief as the digit head, the two heads stay consistent.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from mimo.tasks import COLOR, DIGIT, HEADS, IMAGE_INPUT, SUM, TASKS, Head, task

TRUNK_WIDTHS = (32, 64, 128)
DENSE_UNITS = 128
FEATURES_LAYER = "features"  # the trunk's last layer: the features every head reads
DROPOUT = 0.3
WEIGHT_DECAY = 1e-4
# Faster-moving batch-norm statistics than Keras's 0.99, so short runs also predict well.
BN_MOMENTUM = 0.9
# The sum head reads probabilities in [0, 1]; this scale lets its logits reach confident values
# within a short training run.
SUM_LOGIT_SCALE = 8.0


def _conv_bn(x, filters: int, name: str):
    """3x3 convolution (no bias, L2 weight decay) followed by batch normalisation."""
    x = layers.Conv2D(
        filters,
        3,
        padding="same",
        use_bias=False,
        kernel_regularizer=keras.regularizers.l2(WEIGHT_DECAY),
        name=f"{name}_conv",
    )(x)
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)


def _conv_bn_relu(x, filters: int, name: str):
    return layers.Activation("relu", name=f"{name}_relu")(_conv_bn(x, filters, name))


def _residual_block(x, filters: int, name: str):
    """Two 3x3 convolutions plus a skip connection (1x1 projection when widths differ)."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_proj_bn")(shortcut)
    y = _conv_bn_relu(x, filters, f"{name}_a")
    y = _conv_bn(y, filters, f"{name}_b")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def _trunk(image):
    """Shared feature extractor: image -> 128 features."""
    x = _conv_bn_relu(image, TRUNK_WIDTHS[0], "stem")
    x = _residual_block(x, TRUNK_WIDTHS[0], "block1")
    x = layers.MaxPooling2D(name="pool1")(x)
    x = _residual_block(x, TRUNK_WIDTHS[1], "block2")
    x = layers.MaxPooling2D(name="pool2")(x)
    x = _residual_block(x, TRUNK_WIDTHS[2], "block3")
    x = layers.Concatenate(name="pool_features")(
        [layers.GlobalAveragePooling2D(name="gap")(x), layers.GlobalMaxPooling2D(name="gmp")(x)]
    )
    x = layers.Dense(DENSE_UNITS, activation="relu", name=FEATURES_LAYER)(x)
    return layers.Dropout(DROPOUT, name="features_dropout")(x)


def _inputs(name: str) -> dict:
    """The Keras inputs of a model of the table, by name, image first."""
    return {key: keras.Input(shape, name=key) for key, shape in task(name).input_shapes().items()}


def _head(head: Head, x, **options):
    """A dense output layer as the table describes the head: its width, activation and name."""
    return layers.Dense(head.units, activation=head.activation, name=head.name, **options)(x)


def build_color_model() -> keras.Model:
    image = _inputs("color")["image"]
    features = _trunk(image)
    outputs = {DIGIT.name: _head(DIGIT, features), COLOR.name: _head(COLOR, features)}
    return keras.Model(image, outputs, name="color_model")


def build_sum_model() -> keras.Model:
    inputs = _inputs("sum")
    image, number = inputs["image"], inputs["number"]
    features = _trunk(image)
    digit = _head(DIGIT, features)

    # Sum head: which (digit, number) cell we are in, plus the raw features and number.
    pair = PairOuter(scale=SUM_LOGIT_SCALE, name="digit_number_pair")([digit, number])
    # Zero start: every (digit, number) cell begins neutral instead of with random logits, so
    # the head learns its table within a few epochs.
    sum_out = _head(SUM, pair, kernel_initializer="zeros")
    return keras.Model(inputs, {DIGIT.name: digit, SUM.name: sum_out}, name="sum_model")


@keras.saving.register_keras_serializable(package="mimo")
class PairOuter(layers.Layer):
    """Flattened outer product of two vectors, times a fixed scale: (B, m), (B, n) -> (B, m*n).

    A named layer rather than a Lambda, so the model loads in Keras safe mode.
    """

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        a, b = inputs
        outer = keras.ops.einsum("bi,bj->bij", a, b) * self.scale
        return keras.ops.reshape(outer, (-1, a.shape[-1] * b.shape[-1]))

    def compute_output_shape(self, input_shapes):
        (batch, m), (_, n) = input_shapes
        return (batch, m * n)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="mimo")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy with label smoothing (Keras's sparse loss has none).

    Same as one-hot targets (1 - s) * onehot + s / K: (1 - s) * CE(label) + s * mean_k(-log p_k).
    """

    def __init__(self, smoothing: float = 0.0, name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        ops = keras.ops
        log_p = ops.log(ops.clip(y_pred, keras.backend.epsilon(), 1.0))
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        picked = ops.sum(ops.one_hot(y_true, ops.shape(y_pred)[-1]) * log_p, axis=-1)
        return -(1.0 - self.smoothing) * picked - self.smoothing * ops.mean(log_p, axis=-1)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


# Per-head losses and accuracy metrics, as in the seeds: each head's loss follows from its
# activation and targets (mimo.tasks.Head.loss), and its accuracy from the loss.
ACCURACY_OF_LOSS = {
    "sparse_categorical_crossentropy": keras.metrics.SparseCategoricalAccuracy,
    "binary_crossentropy": keras.metrics.BinaryAccuracy,
    "categorical_crossentropy": keras.metrics.CategoricalAccuracy,
}
HEAD_LOSSES = {name: head.loss for name, head in HEADS.items()}
# The same losses as objects, which match a sigmoid head's (N, 1) output to (N,) targets.
LOSS_CLASSES = {
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
}
HEAD_ACCURACY = {name: ACCURACY_OF_LOSS[loss] for name, loss in HEAD_LOSSES.items()}
BUILDERS = {name: t.build for name, t in TASKS.items()}  # name -> fn() -> a fresh model


def head_losses(heads, digit_label_smoothing: float = 0.0, as_objects: bool = False) -> dict:
    """Each head's Keras loss, the digit head's label-smoothed when asked; as_objects: Loss
    instances (callable on their own) rather than names."""
    losses = {head: HEAD_LOSSES[head] for head in heads}
    if as_objects:
        losses = {head: LOSS_CLASSES[loss]() for head, loss in losses.items()}
    if digit_label_smoothing > 0 and DIGIT.name in losses:
        losses[DIGIT.name] = SmoothedSparseCrossentropy(digit_label_smoothing)
    return losses


def compile_model(
    model: keras.Model,
    learning_rate,
    ema_momentum: float | None = None,
    digit_label_smoothing: float = 0.0,
    loss_weights: dict[str, float] | None = None,
) -> keras.Model:
    """Adam, with each head's loss and an `accuracy` metric per head.

    ema_momentum: keep an exponential moving average of the weights; Keras's fit() copies it
    into the model when training ends (batch-norm statistics are not averaged: see
    mimo.train.trainer's recalibration). digit_label_smoothing: smooth the digit head's targets.
    loss_weights: head -> its loss's weight in the total (heads not named: 1); 0 turns a head
    off, so only the other heads train the trunk.
    """
    heads = list(model.output_names)
    weights = {head: float((loss_weights or {}).get(head, 1.0)) for head in heads}
    optimizer = (
        keras.optimizers.Adam(learning_rate, use_ema=True, ema_momentum=ema_momentum)
        if ema_momentum
        else keras.optimizers.Adam(learning_rate)
    )
    model.compile(
        optimizer=optimizer,
        loss=head_losses(heads, digit_label_smoothing),
        loss_weights=weights,
        metrics={head: [HEAD_ACCURACY[head](name="accuracy")] for head in heads},
    )
    return model


def trunk_variables(model: keras.Model) -> list:
    """The trainable weights of the shared trunk: every layer from the image input to
    FEATURES_LAYER, the part all heads read (the sum head through the digit probabilities)."""
    image = next(t for t in model.inputs if t.name.split(":")[0] == IMAGE_INPUT)
    trunk = keras.Model(image, model.get_layer(FEATURES_LAYER).output)
    return list(trunk.trainable_variables)


def transfer_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copy into `target` the weights of every layer `source` has under the same name, and
    return the names copied: every layer for a run of the same model; for the other model, the
    layers both share (the trunk and the digit head), so one task starts from what the other
    learned. A convolution that reads another number of channels (the stem: RGB in the colour
    model, grey in the sum model) takes the source's kernel summed over its input channels and
    shared out evenly: a grey digit then reads like white ink, one of the colour model's inks."""
    copied = []
    for layer in target.layers:
        weights = layer.get_weights()
        try:
            theirs = source.get_layer(layer.name).get_weights()
        except ValueError:  # no layer of that name
            continue
        if not weights or len(theirs) != len(weights):
            continue
        fitted = [_fitted(array, mine.shape) for array, mine in zip(theirs, weights, strict=True)]
        if all(array is not None for array in fitted):
            layer.set_weights(fitted)
            copied.append(layer.name)
    return copied


def _fitted(array: np.ndarray, shape: tuple) -> np.ndarray | None:
    """`array` in `shape`: as it is, or a conv kernel (h, w, in, out) spread over other input
    channels; None when it cannot fit."""
    if array.shape == shape:
        return array
    if (
        array.ndim == 4
        and len(shape) == 4
        and array.shape[:2] + array.shape[3:] == shape[:2] + shape[3:]
    ):
        total = array.sum(axis=2, keepdims=True)
        return np.repeat(total / shape[2], shape[2], axis=2)
    return None


def load_model(path):
    """Load a saved .keras model in safe mode (no arbitrary code from the file)."""
    return keras.models.load_model(path, safe_mode=True, compile=False)
