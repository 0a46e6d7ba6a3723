"""Train a model and write a complete run into the registry.

The story of one run, top to bottom:
1. Load MNIST (mimo.data) and hold out a stratified validation split from the training split.
2. Build the model (mimo.models) and an Adam optimiser with warm-up + cosine decay.
3. Fit on a tf.data stream (mimo.pipelines), logging progress events as JSON lines.
4. Evaluate on the test split with fixed-seed colours/numbers (mimo.evaluation).
5. Write every artifact into a staging directory, then publish it with one rename.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mimo import artifacts
from mimo.config import MODEL_NAMES
from mimo.data import Mnist, load_mnist, stratified_split
from mimo.registry import Registry, Run, new_run_id

VALIDATION_FRACTION = 0.05
VALIDATION_SPLIT_SEED = 99
TEST_PAIRS_SEED = 2024
VALIDATION_PAIRS_SEED = 2025
WARMUP_EPOCHS = 1
PROGRESS_BATCH_INTERVAL_S = 0.5


@dataclass
class TrainConfig:
    model: str = "color"
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 3e-3
    train_size: int | None = None  # None: the whole training split
    augment: bool = True
    seed: int = 0
    data_path: str | None = None
    allow_download: bool = True
    extra: dict = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        """Raise ValueError with a clear message for a value that cannot work."""
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}")
        if not 1 <= self.epochs <= 1000:
            raise ValueError("epochs must be between 1 and 1000")
        if not 1 <= self.batch_size <= 4096:
            raise ValueError("batch size must be between 1 and 4096")
        if not 0 < self.learning_rate <= 1:
            raise ValueError("learning rate must be in (0, 1]")
        if self.train_size is not None and self.train_size < 100:
            raise ValueError("training-set size must be at least 100 images")
        return self


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
) -> Run:
    """Train, evaluate and publish one run. Returns the published run."""
    import keras

    from mimo import models
    from mimo.evaluation import evaluate_model
    from mimo.pipelines import evaluation_dataset, fixed_pairs, training_dataset

    config.validate()
    registry = registry or Registry()
    run_id = run_id or new_run_id(config.model)
    staging = registry.staging_dir(run_id)
    progress = staging / artifacts.PROGRESS
    timings = {}
    try:
        append_event(progress, event="start", run_id=run_id, config=asdict(config))
        started = time.monotonic()
        data = load_mnist(config.data_path, allow_download=config.allow_download)
        splits = make_splits(data, config.train_size, config.seed)
        data_info = {
            **data.summary(),
            "train_used": len(splits.y_train),
            "validation": len(splits.y_val),
        }
        append_event(progress, event="data", data=data_info)
        timings["load_data_s"] = time.monotonic() - started

        keras.utils.set_random_seed(config.seed)
        model = models.BUILDERS[config.model]()
        steps = int(np.ceil(len(splits.y_train) / config.batch_size))
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate / 10,
            decay_steps=max(1, steps * (config.epochs - WARMUP_EPOCHS)),
            warmup_target=config.learning_rate,
            warmup_steps=steps * min(WARMUP_EPOCHS, config.epochs - 1),
            alpha=0.01,
        )
        models.compile_model(model, schedule)

        train_ds = training_dataset(
            config.model,
            splits.x_train,
            splits.y_train,
            config.batch_size,
            config.seed,
            config.augment,
        )
        val_pairs = fixed_pairs(len(splits.y_val), VALIDATION_PAIRS_SEED)
        val_ds = evaluation_dataset(config.model, splits.x_val, splits.y_val, val_pairs, 512)
        fit_started = time.monotonic()
        history = model.fit(
            train_ds,  # shuffled by the pipeline itself
            validation_data=val_ds,
            shuffle=False,
            epochs=config.epochs,
            verbose=0,
            callbacks=[_progress_callback(progress, config.epochs, steps)],
        )
        timings["train_s"] = time.monotonic() - fit_started

        append_event(progress, event="evaluating")
        eval_started = time.monotonic()
        test_pairs = fixed_pairs(len(splits.y_test), TEST_PAIRS_SEED)
        metrics, confusion, sample = evaluate_model(
            model, config.model, splits.x_test, splits.y_test, test_pairs
        )
        timings["evaluate_s"] = time.monotonic() - eval_started

        write_run_files(staging, model, config, history.history, metrics, confusion, sample)
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


def write_run_files(folder, model, config, history, metrics, confusion, sample) -> None:
    folder = Path(folder)
    model.save(folder / "model.keras")
    artifacts.write_json(folder, artifacts.CONFIG, asdict(config))
    epochs = len(next(iter(history.values())))
    artifacts.write_history(
        folder,
        {
            "epoch": list(range(1, epochs + 1)),
            **{k: [float(v) for v in vals] for k, vals in history.items()},
        },
    )
    artifacts.write_json(folder, artifacts.METRICS, metrics)
    artifacts.write_json(folder, artifacts.CONFUSION, confusion)
    artifacts.write_samples(folder, sample)
    summary = io.StringIO()
    model.summary(print_fn=lambda line, **_: summary.write(line + "\n"))
    (folder / artifacts.ARCHITECTURE_TXT).write_text(summary.getvalue())
    (folder / artifacts.ARCHITECTURE_JSON).write_text(model.to_json())
