"""Train a model from a TrainConfig (mimo.train.config) and write a complete run into the registry.

The story of one run, top to bottom:
1. Load MNIST (mimo.train.data) and hold out a stratified validation split from the training split.
   With "include my digits", the collected digits to train on join the training split, each
   my_digits_weight times (mimo.train.my_digits); the held-back ones are kept for step 4.
   With canvas_renders, one canvas drawing of each training digit, read back as the app reads
   it, joins the training split too (mimo.train.canvas_renders).
2. Build the model (mimo.models), from an earlier run's weights with init_from (every layer of
   a run of the same model; the shared trunk and digit head of the other model's run), and an
   Adam optimiser with warm-up + cosine decay, keeping an exponential moving average (EMA) of
   the weights; digit targets are label-smoothed.
3. Fit on a tf.data stream (mimo.train.pipelines, elastic distortion included), each head's loss
   weighted as the config says, logging progress events as JSON lines and, after every epoch,
   the heads' gradient agreement on the shared trunk (mimo.train.agreement). fit() copies the
   averaged weights into the model at the end; a short pass over training batches then
   re-estimates the batch-norm statistics for those weights.
4. Evaluate on the test split with fixed-seed colours/numbers (mimo.train.evaluation): metrics,
   confusion matrices and every example's predictions; embed a random sample of the test digits
   for the projector (mimo.train.embedding). With "include my digits", score the model, and the
   active run of the same model, on the held-back collected digits.
5. Write every artifact (agreement.json included) into a staging directory, then publish it
   with one rename.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimo.runs import agreement as agreement_record
from mimo.runs import artifacts, embedding, examples
from mimo.runs.registry import Registry, Run, new_run_id
from mimo.train import my_digits
from mimo.train.config import TrainConfig
from mimo.train.data import Mnist, load_mnist, stratified_split

VALIDATION_FRACTION = 0.05  # of the training split, held out (stratified) for validation
VALIDATION_SPLIT_SEED = 99  # which images are held out
TEST_PAIRS_SEED = 2024  # the test set's fixed colours/numbers
VALIDATION_PAIRS_SEED = 2025  # the validation set's fixed colours/numbers
WARMUP_EPOCHS = 1  # the learning rate rises to its peak over this many epochs
PROGRESS_BATCH_INTERVAL_S = 0.5  # at most one 'batch' progress event per this many seconds
LEARNING_RATE_LOG = "learning_rate"  # the rate each epoch ended with, in the epoch's logs


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def make_splits(data: Mnist, train_size: int | None, seed: int) -> Splits:
    """Validation comes from the training split; the test split is left untouched."""
    x, y = data.x_train, data.y_train
    if train_size is not None and train_size < len(y):
        keep, _ = stratified_split(y, 1 - train_size / len(y), seed)
        x, y = x[np.sort(keep)], y[np.sort(keep)]
    train_idx, val_idx = stratified_split(y, VALIDATION_FRACTION, VALIDATION_SPLIT_SEED)
    return Splits(x[train_idx], y[train_idx], x[val_idx], y[val_idx], data.x_test, data.y_test)


# ---------------------------------------------------------------------------------------------
# Progress


def _progress_callback(path: Path, epochs: int, steps_per_epoch: int):
    import keras

    class ProgressLog(keras.callbacks.Callback):
        """Appends one JSON line per epoch, and per batch at most every half second."""

        def __init__(self):
            super().__init__()
            self.last_batch_write = 0.0
            self.epoch = 0

        def emit(self, **event):
            append_event(path, **event)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            now = time.monotonic()
            if now - self.last_batch_write >= PROGRESS_BATCH_INTERVAL_S:
                self.last_batch_write = now
                self.emit(
                    event="batch",
                    epoch=self.epoch,
                    batch=batch + 1,
                    steps=steps_per_epoch,
                    epochs=epochs,
                    loss=float(logs.get("loss", np.nan)),
                )

        def on_epoch_end(self, epoch, logs=None):
            self.emit(
                event="epoch",
                epoch=epoch,
                epochs=epochs,
                logs={k: float(v) for k, v in (logs or {}).items()},
            )

    return ProgressLog()


def append_event(path: Path, **event) -> None:
    with open(path, "a") as f:
        f.write(json.dumps({"time": time.time(), **event}) + "\n")


# ---------------------------------------------------------------------------------------------
# Train


def train(
    config: TrainConfig,
    registry: Registry | None = None,
    run_id: str | None = None,
    activate: bool = False,
    collected: my_digits.Collected | None = None,
) -> Run:
    """Train, evaluate and publish one run. Returns the published run.

    `config` is trained as given: its values were checked where they came in (TrainConfig.validate,
    by the command line and the Retrain form). With config.my_digits, `collected` is the
    collection to include (mimo.train.my_digits.load, which the command line calls before it
    takes the training lock); None: it is read here, before anything else.
    """
    import keras

    from mimo import models
    from mimo.train import agreement, canvas_renders
    from mimo.train.embedding import compute as compute_embedding
    from mimo.train.evaluation import evaluate_in_full
    from mimo.train.pipelines import (
        evaluation_dataset,
        fixed_pairs,
        stroke_augmentation,
        training_dataset,
    )

    registry = registry or Registry()
    run_id = run_id or new_run_id(config.model)
    staging = registry.staging_dir(run_id)
    progress = staging / artifacts.PROGRESS
    timings = {}
    try:
        append_event(progress, event="start", run_id=run_id, config=config.to_dict())
        started = time.monotonic()
        if config.my_digits and collected is None:
            collected = my_digits.load()  # a clear error before anything trains
        data = load_mnist(config.data_path, allow_download=config.allow_download)
        splits = make_splits(data, config.train_size, config.seed)
        data_info = {
            **data.summary(),
            "train_used": len(splits.y_train),  # MNIST images; the collected ones below
            "validation": len(splits.y_val),
        }
        if config.canvas_renders:
            drawn, drawn_labels = canvas_renders.render(splits.x_train, splits.y_train, config.seed)
            splits = dataclasses.replace(
                splits,
                x_train=np.concatenate([splits.x_train, drawn]),
                y_train=np.concatenate([splits.y_train, drawn_labels]),
            )
            data_info["canvas_renders"] = len(drawn_labels)
        if config.my_digits:
            x_train, y_train = my_digits.mix(
                splits.x_train, splits.y_train, collected, config.my_digits_weight
            )
            splits = dataclasses.replace(splits, x_train=x_train, y_train=y_train)
            data_info[my_digits.DATA_KEY] = collected.counts(config.my_digits_weight)
        append_event(progress, event="data", data=data_info)
        timings["load_data_s"] = time.monotonic() - started

        keras.utils.set_random_seed(config.seed)
        model = models.BUILDERS[config.model]()
        started_from = []  # the layers taken from config.init_from's run
        if config.init_from:
            start = models.load_model(registry.run(config.init_from).model_path)
            started_from = models.transfer_weights(start, model)
        steps = int(np.ceil(len(splits.y_train) / config.batch_size))
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate / 10,
            decay_steps=max(1, steps * (config.epochs - WARMUP_EPOCHS)),
            warmup_target=config.learning_rate,
            warmup_steps=steps * min(WARMUP_EPOCHS, config.epochs - 1),
            alpha=0.01,
        )
        ema_momentum = config.ema_momentum(steps)
        models.compile_model(
            model,
            schedule,
            ema_momentum,
            config.digit_label_smoothing,
            config.head_loss_weights(),
        )

        train_ds = training_dataset(
            config.model,
            splits.x_train,
            splits.y_train,
            config.batch_size,
            config.seed,
            config.augment,
            config.elastic_prob,
        )
        val_pairs = fixed_pairs(len(splits.y_val), VALIDATION_PAIRS_SEED)
        val_ds = evaluation_dataset(config.model, splits.x_val, splits.y_val, val_pairs, 512)
        last_weights = _last_epoch_weights_callback()
        probe_inputs, probe_targets = agreement.fixed_batch(
            config.model, splits.x_val, splits.y_val, val_pairs
        )
        gradient_agreement = agreement.agreement_callback(
            agreement.GradientProbe(
                model, config.model, probe_inputs, probe_targets, config.digit_label_smoothing
            )
        )
        fit_started = time.monotonic()
        history = model.fit(
            train_ds,  # shuffled by the pipeline itself
            validation_data=val_ds,
            shuffle=False,
            epochs=config.epochs,
            verbose=0,
            callbacks=[
                _learning_rate_callback(),  # first: the others see the rate in the logs
                gradient_agreement,
                _progress_callback(progress, config.epochs, steps),
                last_weights,
            ],
        )
        timings["train_s"] = time.monotonic() - fit_started
        timings["agreement_s"] = gradient_agreement.seconds
        recipe = {"ema_momentum": ema_momentum, "init_from": config.init_from}
        if config.augment:
            recipe["strokes"] = stroke_augmentation()
        if config.init_from:
            recipe["init_layers"] = started_from
        if ema_momentum and config.bn_recalibration_batches:
            append_event(progress, event="recalibrating")
            recal_started = time.monotonic()
            # What the weight average and the recalibration each bring, on the validation
            # split: the raw last-epoch weights, the average, the average with fresh statistics.
            # Test digit accuracy is recorded for the report only; nothing is chosen by it.
            test_pairs = fixed_pairs(len(splits.y_test), TEST_PAIRS_SEED)

            def measure(key, on_test=True):
                recipe[f"val_{key}"] = _val_metrics(model, val_ds)
                if on_test:  # the final weights get the full evaluation below
                    recipe[f"test_digit_accuracy_{key}"] = _digit_accuracy(
                        model, config.model, splits.x_test, splits.y_test, test_pairs
                    )

            averaged = model.get_weights()
            model.set_weights(last_weights.weights)
            measure("raw_weights")
            model.set_weights(averaged)
            measure("before_bn_recalibration")
            recalibrate_batch_norm(model, train_ds, config.bn_recalibration_batches)
            measure("after_bn_recalibration", on_test=False)
            timings["bn_recalibration_s"] = time.monotonic() - recal_started

        append_event(progress, event="evaluating")
        eval_started = time.monotonic()
        test_pairs = fixed_pairs(len(splits.y_test), TEST_PAIRS_SEED)
        test_data = {"source": data.source, "description": data.description}
        trained = [head for head, weight in config.head_loss_weights().items() if weight > 0]
        evaluation = evaluate_in_full(
            model, config.model, splits.x_test, splits.y_test, test_pairs, test_data, trained
        )
        metrics = evaluation.metrics
        run_record = {}
        if config.my_digits:
            run_record[my_digits.RECORD_KEY] = my_digits.record(
                model, config.model, collected, config.my_digits_weight, registry
            )
        timings["evaluate_s"] = time.monotonic() - eval_started
        append_event(progress, event="embedding")
        embed_started = time.monotonic()
        embedded = compute_embedding(
            model,
            config.model,
            splits.x_test,
            splits.y_test,
            test_pairs,
            evaluation.examples[examples.SAMPLE_INDEX],
        )
        timings["embedding_s"] = time.monotonic() - embed_started

        write_run_files(staging, model, config, history.history, evaluation, embedded)
        agreement_record.write(staging, gradient_agreement.record)
        timings["total_s"] = time.monotonic() - started
        append_event(progress, event="done", metrics=metrics)
        artifacts.write_json(
            staging,
            artifacts.RUN_INFO,
            {
                "run_id": run_id,
                "model": config.model,
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                "data": data_info,
                "timings": timings,
                "test_metrics": metrics,
                "params": int(model.count_params()),
                "recipe": recipe,
                **run_record,
                "status": "complete",
            },
        )
    except BaseException as exc:
        append_event(progress, event="failed", error=str(exc) or type(exc).__name__)
        raise
    run = registry.publish(run_id)
    if activate:
        registry.activate(run_id)
    return run


def _learning_rate_callback():
    import keras

    class LearningRateLog(keras.callbacks.Callback):
        """Adds the optimiser's learning rate at the end of each epoch to the epoch's logs, so
        history.json and the progress events record the schedule as it ran."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                rate = self.model.optimizer.learning_rate
                logs[LEARNING_RATE_LOG] = float(keras.ops.convert_to_numpy(rate))

    return LearningRateLog()


def _last_epoch_weights_callback():
    import keras

    class LastEpochWeights(keras.callbacks.Callback):
        """Keeps the raw weights of the last epoch (fit() swaps in the EMA after it)."""

        weights = None

        def on_epoch_end(self, epoch, logs=None):
            if epoch == self.params.get("epochs", 0) - 1:
                self.weights = self.model.get_weights()

    return LastEpochWeights()


def recalibrate_batch_norm(model, dataset, batches: int) -> None:
    """Re-estimate batch-norm moving statistics for the model's current (averaged) weights.

    The EMA averages trainable weights only; the moving means and variances were gathered with
    the raw weights. Running training batches in training mode (no weight updates) refreshes
    them; with momentum 0.9 a few dozen batches forget the old values.
    """
    import tensorflow as tf

    @tf.function
    def forward(inputs):
        model(inputs, training=True)

    for inputs, _ in dataset.repeat().take(batches):
        forward(inputs)


def _digit_accuracy(model, model_name, images, labels, pairs) -> float:
    from mimo.train.evaluation import predict_batches
    from mimo.train.pipelines import evaluation_arrays

    inputs, _ = evaluation_arrays(model_name, images, labels, pairs)
    return float(np.mean(predict_batches(model, inputs)["digit"].argmax(1) == labels))


def _val_metrics(model, val_ds) -> dict:
    """Validation loss and per-head accuracy, as a plain dict."""
    return {k: float(v) for k, v in model.evaluate(val_ds, verbose=0, return_dict=True).items()}


def write_run_files(folder, model, config, history, evaluation, embedded) -> None:
    """Every artifact of a trained run but run.json (mimo.runs.artifacts lists them)."""
    folder = Path(folder)
    model.save(folder / "model.keras")
    artifacts.write_json(folder, artifacts.CONFIG, config.to_dict())
    epochs = len(next(iter(history.values())))
    artifacts.write_history(
        folder,
        {
            "epoch": list(range(1, epochs + 1)),
            **{k: [float(v) for v in vals] for k, vals in history.items()},
        },
    )
    artifacts.write_json(folder, artifacts.METRICS, evaluation.metrics)
    artifacts.write_json(folder, artifacts.CONFUSION, evaluation.confusion)
    artifacts.write_samples(folder, evaluation.sample)
    examples.write(folder, evaluation.examples)
    embedding.write(folder, embedded)
    summary = io.StringIO()
    model.summary(print_fn=lambda line, **_: summary.write(line + "\n"))
    text = artifacts.model_summary(summary.getvalue())
    (folder / artifacts.ARCHITECTURE_TXT).write_text(text)
    (folder / artifacts.ARCHITECTURE_JSON).write_text(model.to_json())
