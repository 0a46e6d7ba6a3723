"""Per-example predictions, embeddings, scores, settings and the page's numbers, read from the
shipped runs (no TensorFlow here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mimo.runs import artifacts, embedding, examples
from mimo.runs import weights as loss_weights
from mimo.runs.compare import NOT_RECORDED, settings_diff
from mimo.runs.notes import parse_tags
from mimo.runs.scores import class_scores
from mimo.runs.view import errors_text, percent
from mimo.tasks import task

# The most a run's new artifacts may take, together (they ship with every run).
MAX_EXTRAS_BYTES = 500_000


@pytest.fixture(scope="module")
def shipped(shipped_registry):
    """run id -> (run, its Examples) for every shipped run."""
    return {
        run.run_id: (run, examples.read(run.path, run.model))
        for run in shipped_registry.list_runs()
    }


def test_every_shipped_run_agrees_with_its_own_metrics_and_confusion_matrices(shipped):
    assert len(shipped) >= 6
    for run, found in shipped.values():
        metrics = run.read_json(artifacts.METRICS)
        confusion = run.read_json(artifacts.CONFUSION)
        assert found.n == metrics["n"] == 10_000 and found.as_evaluated
        assert "mnist-10k.npz" in found.data
        for head in task(run.model).heads:
            truth, pred = found.rows[f"{head.name}_true"], found.rows[f"{head.name}_pred"]
            assert np.mean(truth == pred) == metrics[f"{head.name}_accuracy"]
            matrix = np.zeros((head.classes, head.classes), np.int64)
            np.add.at(matrix, (truth, pred), 1)
            assert matrix.tolist() == confusion[head.name]
        paired = found.rows[task(run.model).pairing.sample_key]
        for head in task(run.model).heads:  # the truths follow from the digit and its pair
            np.testing.assert_array_equal(
                found.rows[f"{head.name}_true"], head.truth(found.digits, paired)
            )


def test_pictures_are_kept_for_the_random_sample_and_every_mistake(shipped):
    for run, found in shipped.values():
        assert len(found.sample_index) == examples.SAMPLE_SIZE
        weights = loss_weights.of_config(run.model, run.read_json(artifacts.CONFIG))
        wrong = np.flatnonzero(~found.right([h for h, w in weights.items() if w > 0]))
        assert np.isin(wrong, found.image_index).all()
        assert set(found.image_index) == set(found.sample_index) | set(wrong)
        assert found.images.shape == (len(found.image_index), 28, 28)
        assert 0.05 < (found.images > 0).mean() < 0.5  # digits, not blanks
        size = sum(
            (run.path / n).stat().st_size for n in (artifacts.PREDICTIONS, artifacts.EMBEDDING)
        )
        assert size < MAX_EXTRAS_BYTES


def test_runs_of_one_test_set_share_their_pictures(shipped):
    (_, a), (_, b) = list(shipped.values())[:2]
    both = np.intersect1d(a.image_index, b.image_index)
    assert len(both) >= examples.SAMPLE_SIZE  # the same random sample at least
    np.testing.assert_array_equal(a.picture(both), b.picture(both))


def test_random_picks_come_from_the_honest_sample_and_mistakes_only_from_mistakes(shipped):
    _, found = shipped[next(iter(shipped))]
    picked = found.random_pick(30)
    assert len(picked) == 30 and np.isin(picked, found.sample_index).all()
    assert not np.array_equal(picked, found.random_pick(30, seed=1))
    mistakes = found.random_pick(30, mistakes_only=True)
    assert len(mistakes) == min(30, found.wrong_count())
    assert not found.right()[mistakes].any()
    everything = found.random_pick(10_000, mistakes_only=True)
    assert len(everything) == found.wrong_count()
    sample = found.samples(picked)
    assert sample["image"].shape == (30, 28, 28) and list(sample["index"]) == list(picked)
    with pytest.raises(ValueError, match="no picture"):
        found.samples([int(np.setdiff1d(np.arange(found.n), found.image_index)[0])])


def test_a_confusion_cell_holds_exactly_its_examples(shipped):
    for _, found in shipped.values():
        head = found.heads[0]
        truth, pred = found.rows[f"{head}_true"], found.rows[f"{head}_pred"]
        t, p = next((t, p) for t, p in zip(truth, pred, strict=True) if t != p)
        cell = found.cell(head, t, p)
        assert len(cell) == int(((truth == t) & (pred == p)).sum())
        assert np.isin(cell, found.image_index).all()  # off the diagonal: all pictured


def test_the_example_diff_of_two_runs_adds_up(shipped):
    runs = [(r, e) for r, e in shipped.values() if r.model == "sum"]
    (run_a, a), (run_b, b) = runs[:2]
    diff = examples.diff(a, b)
    assert diff.heads == ("digit", "sum") and diff.n == 10_000
    right_a, right_b = a.right(), b.right()
    assert diff.net == int(right_b.sum()) - int(right_a.sum())
    assert (~right_a[diff.fixed]).all() and right_b[diff.fixed].all()
    assert right_a[diff.broken].all() and (~right_b[diff.broken]).all()
    assert len(diff.both_wrong) == int((~right_a & ~right_b).sum())
    # A diff across the models compares the head they share.
    color = next(e for r, e in shipped.values() if r.model == "color")
    assert examples.diff(color, b).heads == ("digit",)
    shown, pictures = examples.pictures_of(diff.fixed, [b, a])
    assert list(shown) == list(diff.fixed) and len(pictures) == len(shown)


def test_a_diff_on_different_test_sets_is_refused(shipped):
    _, a = shipped[next(iter(shipped))]
    half = examples.Examples(
        a.model,
        {k: v[:5000] for k, v in a.rows.items()},
        a.sample_index[a.sample_index < 5000],
        a.image_index[a.image_index < 5000],
        a.images[: int((a.image_index < 5000).sum())],
        "half",
        "file",
        False,
    )
    with pytest.raises(ValueError, match="different test sets"):
        examples.diff(a, half)


def test_a_damaged_predictions_file_is_refused_with_a_reason(shipped, tmp_path):
    run, _ = shipped[next(iter(shipped))]
    content = artifacts.read_npz(run.path, artifacts.PREDICTIONS)
    content["digit_pred"] = content["digit_pred"] + 10
    artifacts.write_npz_atomic(tmp_path, artifacts.PREDICTIONS, content)
    with pytest.raises(ValueError, match="'digit_pred' holds values outside 0-9"):
        examples.read(tmp_path, run.model)
    (tmp_path / artifacts.PREDICTIONS).write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a valid .npz"):
        examples.read(tmp_path, run.model)
    with pytest.raises(FileNotFoundError):
        examples.read(tmp_path / "nowhere", run.model)


def test_every_shipped_embedding_has_one_point_per_sampled_digit(shipped):
    for run, found in shipped.values():
        embedded = embedding.read(run.path)
        np.testing.assert_array_equal(embedded.index, found.sample_index)
        assert embedded.layer == "features"
        for points in embedded.coordinates.values():
            assert points.shape == (examples.SAMPLE_SIZE, 2) and points.std(axis=0).min() > 0
        assert 0 < embedded.explained[1] <= embedded.explained[0] < 1
        # t-SNE keeps digits of a kind together: a point's nearest neighbour is mostly the same
        # digit (the models are 99% right).
        tsne = embedded.coordinates["tsne"]
        distances = ((tsne[:, None, :] - tsne[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(distances, np.inf)
        digits = found.digits[embedded.index]
        assert np.mean(digits[distances.argmin(1)] == digits) > 0.9


def test_per_class_recall_and_precision_follow_the_matrix(shipped):
    run, _ = shipped[next(iter(shipped))]
    matrix = np.array(run.read_json(artifacts.CONFUSION)["digit"])
    scores = class_scores(matrix)
    np.testing.assert_allclose(scores.recall, np.diag(matrix) / matrix.sum(1))
    np.testing.assert_allclose(scores.precision, np.diag(matrix) / matrix.sum(0))
    assert scores.missed.sum() == scores.false_alarms.sum() == matrix.sum() - np.trace(matrix)
    no_examples = class_scores([[0, 0], [1, 3]])  # class 0: no examples, predicted once
    assert np.isnan(no_examples.recall[0]) and no_examples.precision[0] == 0
    assert no_examples.recall[1] == 0.75 and no_examples.precision[1] == 1.0
    never_predicted = class_scores([[2, 0], [1, 0]])
    assert np.isnan(never_predicted.precision[1]) and never_predicted.recall[1] == 0


def test_percentages_have_two_decimals_and_never_round_to_a_perfect_score():
    assert percent(0.9932) == "99.32%"
    assert percent(0.9998) == "99.98%"
    assert percent(0.99999) == "99.99%"
    assert percent(1.0) == "100.00%"
    assert percent(0.00001) == "0.01%"
    assert percent(0) == "0.00%"
    assert percent(None) == "—"
    assert errors_text(0.9932, 10_000) == "68 of 10,000 wrong"
    assert errors_text(1.0, 10_000) == "0 of 10,000 wrong"
    assert errors_text(0.99, None) == ""


def test_the_settings_diff_shows_every_field_and_marks_the_differences(shipped):
    configs = {r.run_id: r.read_json(artifacts.CONFIG) for r, _ in shipped.values()}
    recipe = next(  # a full-length run of the recipe, not one of the lab's 6-epoch runs
        c
        for c in configs.values()
        if "elastic_prob" in c
        and c["model"] == "color"
        and c.get("loss_weights") is None
        and c.get("init_from") is None  # trained from scratch, at the recipe's learning rate
    )
    before = next(c for c in configs.values() if "elastic_prob" not in c and c["model"] == "color")
    diff = settings_diff([recipe, before])
    for title in ("Learning rate (peak)", "Batch size", "Seed", "Augmentation"):
        assert title in diff.rows and title not in diff.differing
    assert diff.rows["Augmentation"] == ["on", "on"]
    assert diff.rows["Elastic-distortion probability"] == ["0.5", NOT_RECORDED]
    assert {"Epochs", "Elastic-distortion probability"} <= diff.differing
    assert "extra" not in diff.rows
    assert diff.rows["Training-set size"] == ["all", "all"]
    changed = settings_diff([recipe, {**recipe, "learning_rate": 0.001, "seed": 3}])
    assert changed.differing == {"Learning rate (peak)", "Seed"}
    assert changed.rows["Learning rate (peak)"] == ["0.003", "0.001"]


def test_architecture_totals_count_the_model_not_its_optimizer(shipped):
    for run, _ in shipped.values():
        text = artifacts.model_summary((run.path / artifacts.ARCHITECTURE_TXT).read_text())
        assert f"Total params: {run.info['params']:,} (the model's weights)" in text
        assert "Optimizer state" in text and "Optimizer params" not in text
        assert artifacts.model_summary(text) == text


def test_tags_are_short_words():
    assert parse_tags("Baseline, #LR-sweep  baseline") == ("baseline", "lr-sweep")
    assert parse_tags(["a", "b_c"]) == ("a", "b_c")
    with pytest.raises(ValueError, match="not a tag"):
        parse_tags("-leading")
    json.dumps(parse_tags("x y"))  # stored as JSON
