"""Teaching it your handwriting, through Streamlit's AppTest with the shipped models and real
digits: "Wrong? It's a …" on the Predict page saves the input with its true digit; My digits
shows, relabels and deletes it and scores the active models on the collection. A store that
cannot be used, saving switched off and a session that saves too fast each get one sentence,
and the predictions keep working.
"""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mimo.feedback.dataset import export_npz
from mimo.feedback.store import FeedbackStore, store_url
from mimo.train.data import load_npz
from tests.app.test_app_predict import TIMEOUT, draw, expected, results, start_app
from tests.support.digit_images import canvas_picture

MY_DIGITS = "../../app_pages/my_digits.py"


@pytest.fixture()
def store_dir(tmp_path, monkeypatch):
    """An empty store of this test's own."""
    monkeypatch.setenv("MIMO_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def five(mnist_small):
    """A real test 5, drawn in red."""
    grey = mnist_small.x_test[np.flatnonzero(mnist_small.y_test == 5)[0]]
    return canvas_picture(grey, "red")


def press(at: AppTest, digit: int) -> None:
    at.container("feedback").button(key=f"feedback-digit-{digit}").click().run()
    assert not at.exception, at.exception


def feedback_texts(at: AppTest) -> list[str]:
    block = at.container("feedback")
    return [e.value for kind in ("success", "info", "warning") for e in block.get(kind)]


def saved_rows() -> list:
    store = FeedbackStore(store_url())
    try:
        return store.examples()
    finally:
        store.close()


def test_pressing_the_true_digit_saves_the_input_with_both_answers(store_dir, five):
    at = start_app()
    draw(at, five)
    buttons = at.container("feedback").button
    assert [b.label for b in buttons] == [str(d) for d in range(10)]

    press(at, 3)  # "it's a 3" (it is not: the store takes the user's word)
    assert any("Saved as 3 · 1 digit in My digits" in t for t in feedback_texts(at))
    assert results(at) == expected(5, "red", 0)  # the answers stay on the page
    (row,) = saved_rows()
    assert (row.label, row.source, row.ink, row.number) == (3, "drawing", "red", 0)
    assert row.answers["color"]["digit"] == 5 and row.answers["sum"]["sum"] == 5
    assert set(row.run_ids) == {"color", "sum"}
    assert row.grey.shape == (28, 28) and row.rgb.shape == (28, 28, 3)
    assert row.grey.max() > 200  # the picture the sum model saw, white on black

    press(at, 3)  # the same picture, the same label, in a row
    assert any("already saved" in t for t in feedback_texts(at))
    press(at, 5)  # a slip corrected: the row changes its label, no second row
    assert any("Changed from 3 to 5 · 1 digit" in t for t in feedback_texts(at))
    assert [r.label for r in saved_rows()] == [5]


def test_saving_switched_off_leaves_no_buttons_and_the_predictions_work(
    store_dir, five, monkeypatch
):
    monkeypatch.setenv("MIMO_FEEDBACK", "off")
    at = start_app()
    draw(at, five)
    assert results(at) == expected(5, "red", 0)
    block = at.container("feedback")
    assert len(block.button) == 0
    assert any("switched off" in c.value for c in block.caption)


def test_a_corrupt_database_makes_saving_unavailable_and_the_page_keeps_predicting(store_dir, five):
    (store_dir / "feedback.sqlite3").write_bytes(b"this is not a database " * 100)
    at = start_app()
    draw(at, five)
    press(at, 5)
    assert any("unavailable" in t.lower() for t in feedback_texts(at))
    said = " ".join(feedback_texts(at))
    assert said.startswith("Saving is unavailable. The digit store is unavailable: "), said
    assert results(at) == expected(5, "red", 0)
    assert not at.error


def test_a_session_that_saves_too_fast_is_told_to_wait(store_dir, mnist_small, monkeypatch):
    monkeypatch.setenv("MIMO_FEEDBACK_PER_MINUTE", "2")
    at = start_app()
    for n, digit in enumerate((1, 2, 3)):
        grey = mnist_small.x_test[np.flatnonzero(mnist_small.y_test == digit)[0]]
        draw(at, canvas_picture(grey, "green"))
        press(at, digit)
        said = " ".join(feedback_texts(at))
        assert ("Saved as" in said) == (n < 2), said
    assert "2 digits saved in a minute" in said
    assert len(saved_rows()) == 2


def test_my_digits_shows_relabels_scores_and_deletes_the_collection(store_dir, mnist_small):
    store = FeedbackStore(store_url())
    picks = [np.flatnonzero(mnist_small.y_test == d)[0] for d in (0, 1, 2)]
    store.add_many(mnist_small.y_test[picks], mnist_small.x_test[picks])
    store.close()

    at = AppTest.from_file(MY_DIGITS, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    gallery = at.container("collection")
    assert any("3 digits" in m.value for m in gallery.markdown)
    assert len([b for b in gallery.button if b.label == "Delete"]) == 3
    # The active models read the three real digits right, head by head.
    accuracies = {m.label: m.value for m in at.metric}
    assert accuracies["Digit accuracy"] == "100.00%"

    newest = saved_rows()[0]
    at.selectbox(key=f"label-{newest.id}").set_value(7).run()
    assert not at.exception, at.exception
    assert saved_rows()[0].label == 7
    at.segmented_control(key="filter_verdict").set_value("Wrong now").run()
    assert len([b for b in at.container("collection").button if b.label == "Delete"]) == 1

    at.button(key=f"delete-{newest.id}").click().run()
    assert not at.exception, at.exception
    assert newest.id not in [r.id for r in saved_rows()]
    assert any("2 digits" in m.value for m in at.container("collection").markdown)


def test_my_digits_says_in_a_sentence_when_the_store_cannot_be_read(store_dir):
    (store_dir / "feedback.sqlite3").write_bytes(b"\x00garbage" * 512)
    at = AppTest.from_file(MY_DIGITS, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert any("unavailable" in e.value.lower() for e in at.error)


def test_my_digits_exports_the_collection_and_imports_such_a_file(store_dir, mnist_small):
    store = FeedbackStore(store_url())
    store.add_many(mnist_small.y_test[:12], mnist_small.x_test[:12])
    store.close()
    at = AppTest.from_file(MY_DIGITS, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    (download,) = at.get("download_button")
    assert download.proto.label == "Download my-digits.npz"

    exported = store_dir / "exported.npz"
    with FeedbackStore(store_url()) as store:
        export_npz(store.arrays(), exported)
    data = load_npz(exported)
    assert len(data.y_train) + len(data.y_test) == 12

    with FeedbackStore(store_url()) as store:  # the same digits again add nothing; new ones do
        store.delete_all()
    at.file_uploader(key="import_npz").set_value(
        ("mine.npz", exported.read_bytes(), "application/octet-stream")
    )
    at.run()
    at.button(key="import_confirmed").click().run()
    assert not at.exception, at.exception
    assert any("Added 12 digits" in s.value for s in at.success)
    assert len(saved_rows()) == 12

    at.file_uploader(key="import_npz").set_value(("notes.npz", b"not a zip", "text/plain"))
    at.run()
    at.button(key="import_confirmed").click().run()
    assert any("notes.npz is not an mnist.npz file" in e.value for e in at.error)
    assert len(saved_rows()) == 12  # nothing saved is lost


def test_my_digits_follows_the_saving_switch_and_lock(store_dir, mnist_small, monkeypatch):
    with FeedbackStore(store_url()) as store:
        store.add_many(mnist_small.y_test[:3], mnist_small.x_test[:3])
    monkeypatch.setenv("MIMO_FEEDBACK", "off")
    at = AppTest.from_file(MY_DIGITS, default_timeout=TIMEOUT).run()
    assert any("switched off" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Delete"]

    monkeypatch.setenv("MIMO_FEEDBACK", "password")
    monkeypatch.setenv("MIMO_RETRAIN_PASSWORD", "s3cret")
    at = AppTest.from_file(MY_DIGITS, default_timeout=TIMEOUT).run()
    assert not [b for b in at.button if b.label == "Delete"]
    at.text_input(key="my_digits_password_attempt").set_value("s3cret")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert len([b for b in at.button if b.label == "Delete"]) == 3


def test_saving_behind_the_retraining_password_asks_for_it_first(store_dir, five, monkeypatch):
    monkeypatch.setenv("MIMO_FEEDBACK", "password")
    monkeypatch.setenv("MIMO_RETRAIN_PASSWORD", "s3cret")
    at = start_app()
    draw(at, five)
    assert results(at) == expected(5, "red", 0)
    assert not [b for b in at.container("feedback").button if b.label.isdigit()]
    at.text_input(key="feedback_password_attempt").set_value("wrong")
    at.container("feedback").button[0].click().run()
    assert any("not right" in e.value for e in at.error)
    at.text_input(key="feedback_password_attempt").set_value("s3cret")
    at.container("feedback").button[0].click().run()
    press(at, 5)
    assert any("Saved as 5" in t for t in feedback_texts(at))
