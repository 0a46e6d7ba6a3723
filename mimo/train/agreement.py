"""Gradient agreement between the heads, measured once per epoch while a run trains.

On one fixed validation batch, each head's own loss (unweighted, as the head is trained: the
digit head's label smoothing included) is differentiated with respect to the shared trunk's
weights (mimo.models.trunk_variables: every layer from the image to the features all heads
read). For the first (digit) head against each other head, the record keeps the cosine
similarity of the two gradients (1: they pull the shared features the same way, 0: unrelated,
-1: against each other) and the ratio of their norms (the other head's over the digit head's:
which task pulls harder). A head whose loss weight is 0 still has a gradient: the record then
says how the task that was left out would have pulled.

The model runs in inference mode (batch-norm moving statistics, no dropout), so measuring
changes nothing in training. One tf.function over the fixed batch, traced once per run.
The record's format lives in mimo.runs.agreement.
"""

from __future__ import annotations

import time

import numpy as np

from mimo.runs import agreement as record
from mimo.tasks import task
from mimo.train.pipelines import EvalPairs, evaluation_arrays

BATCH_SIZE = 256  # validation examples in the fixed batch (fewer when the split is smaller)


def fixed_batch(model_name: str, images, labels, pairs: EvalPairs, size: int = BATCH_SIZE):
    """(inputs, targets) of the first `size` validation examples and their fixed pairs."""
    size = min(size, len(labels))
    head = EvalPairs(colors=pairs.colors[:size], numbers=pairs.numbers[:size])
    return evaluation_arrays(model_name, images[:size], labels[:size], head)


class GradientProbe:
    """Measures the heads' gradients on the shared trunk for the model's current weights;
    calling it returns {"norm": {head: float}, "cosine": {other head: float}, "norm_ratio":
    {other head: float}}."""

    def __init__(self, model, model_name: str, inputs, targets, digit_label_smoothing=0.0):
        import tensorflow as tf

        from mimo import models

        self.model_name = model_name
        self.heads = task(model_name).head_names
        losses = models.head_losses(self.heads, digit_label_smoothing, as_objects=True)
        trunk = models.trunk_variables(model)
        self.trunk_size = int(sum(np.prod(v.shape) for v in trunk))
        inputs = tf.nest.map_structure(tf.convert_to_tensor, inputs)
        targets = {name: tf.convert_to_tensor(value) for name, value in targets.items()}
        self.batch_size = int(next(iter(targets.values())).shape[0])
        heads = self.heads

        @tf.function
        def gradients():
            with tf.GradientTape(persistent=True) as tape:
                outputs = model(inputs, training=False)
                per_head = {h: losses[h](targets[h], outputs[h]) for h in heads}
            flat = {}
            for head, loss in per_head.items():
                grads = tape.gradient(loss, trunk, unconnected_gradients="zero")
                flat[head] = tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)
            return flat

        self._gradients = gradients

    def __call__(self) -> dict:
        flat = {h: np.asarray(g, np.float64) for h, g in self._gradients().items()}
        return summarise(flat, self.heads)

    @property
    def traces(self) -> int:
        """How many times the tf.function was traced (once per run)."""
        return self._gradients.experimental_get_tracing_count()


def summarise(flat: dict[str, np.ndarray], heads) -> dict:
    """Norms, and cosine and norm ratio of the first head against each other head."""
    norms = {h: float(np.linalg.norm(flat[h])) for h in heads}
    first, others = heads[0], heads[1:]
    cosine, ratio = {}, {}
    for other in others:
        denominator = norms[first] * norms[other]
        cosine[other] = float(flat[first] @ flat[other] / denominator) if denominator else 0.0
        ratio[other] = norms[other] / norms[first] if norms[first] else None
    return {"norm": norms, "cosine": cosine, "norm_ratio": ratio}


def agreement_callback(probe: GradientProbe):
    """A Keras callback that measures the probe after every epoch; `.record` holds the
    mimo.runs.agreement record so far, `.seconds` the time spent measuring."""
    import keras

    class GradientAgreement(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.record = record.empty(probe.heads, probe.batch_size, probe.trunk_size)
            self.seconds = 0.0

        def on_epoch_end(self, epoch, logs=None):
            started = time.monotonic()
            record.append(self.record, epoch + 1, probe())
            self.seconds += time.monotonic() - started

    return GradientAgreement()
