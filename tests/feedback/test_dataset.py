"""The collection as data, on a real SQLite store of real MNIST digits: the held-back rows stay
put as the collection grows and when a row is relabelled, a tiny collection still holds back
enough to evaluate on, the export is an mnist.npz file that training reads, and an import adds
a file's pictures once."""

from __future__ import annotations

import numpy as np
import pytest

from mimo.feedback import dataset
from mimo.feedback.dataset import NotEnoughDigits
from mimo.feedback.store import FeedbackStore
from mimo.train.data import load_npz
from tests.support.collected_digits import save_drawn_digits


@pytest.fixture()
def store(tmp_path):
    with FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}") as opened:
        yield opened


def held_back_digests(store) -> set[str]:
    digests = store.arrays().digests
    return {d for d, held in zip(digests, dataset.held_back_mask(digests), strict=True) if held}


def test_the_held_back_rows_stay_put_as_the_collection_grows_and_when_relabelled(
    store, mnist_small
):
    store.add_many(mnist_small.y_train[:100], mnist_small.x_train[:100])
    before = held_back_digests(store)
    store.add_many(mnist_small.y_train[100:600], mnist_small.x_train[100:600])
    after = held_back_digests(store)
    assert before <= after  # nothing held back went into training as the collection grew
    new = store.arrays()
    assert 0.15 < len(after) / len(new.labels) < 0.25  # about HELD_BACK_SHARE
    # Rows that trained before still train: the first 100 rows' side did not change.
    first = set(new.digests[:100])
    assert after & first == before

    arrays = store.arrays()
    held = dataset.held_back_mask(arrays.digests)
    for index in (int(np.flatnonzero(held)[0]), int(np.flatnonzero(~held)[0])):
        store.relabel(int(arrays.ids[index]), (int(arrays.labels[index]) + 1) % 10)
    assert held_back_digests(store) == after  # a relabel changes the label, not the side

    parts = dataset.split(store.arrays())
    assert parts.sizes == (int((~held).sum()), int(held.sum()))
    assert not set(parts.training.digests) & set(parts.held_back.digests)
    assert sorted(parts.training.ids.tolist() + parts.held_back.ids.tolist()) == sorted(
        arrays.ids.tolist()
    )


@pytest.mark.parametrize("n", range(3, 13))
def test_a_tiny_collection_holds_back_two_and_trains_on_at_least_one(n):
    for start in range(0, 200, 10):  # many sets of digests of this size
        digests = [f"{i:032x}" for i in range(start, start + n)]
        held = dataset.held_back_mask(digests)
        assert held.sum() >= dataset.MIN_HELD_BACK and (~held).sum() >= dataset.MIN_TO_TRAIN


def test_export_writes_an_mnist_npz_that_training_reads(store, mnist_small, tmp_path):
    save_drawn_digits(store, mnist_small.x_test[:30], mnist_small.y_test[:30])
    store.add_many(mnist_small.y_train[:20], mnist_small.x_train[:20])
    arrays = store.arrays()
    path = tmp_path / "out.npz"
    path.write_bytes(b"an older export")  # replaced whole
    written = dataset.export_npz(arrays, path)

    data = load_npz(path)
    parts = dataset.split(arrays)
    assert written.sizes == parts.sizes == (len(data.y_train), len(data.y_test))
    np.testing.assert_array_equal(data.x_train, parts.training.grey)
    np.testing.assert_array_equal(data.y_train, parts.training.labels)
    np.testing.assert_array_equal(data.x_test, parts.held_back.grey)
    np.testing.assert_array_equal(data.y_test, parts.held_back.labels)
    with np.load(path) as raw:
        assert sorted(raw.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert {raw[k].dtype for k in raw.files} == {np.dtype(np.uint8)}
    assert path.stat().st_mode & 0o777 == dataset.FILE_MODE
    assert [p.name for p in tmp_path.iterdir() if "out.npz" in p.name] == ["out.npz"]  # no temp

    with pytest.raises(OSError):
        dataset.export_npz(arrays, tmp_path / "missing" / "out.npz")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("n", [0, 1, 2])
def test_a_collection_too_small_to_export_says_why(store, mnist_small, tmp_path, n):
    save_drawn_digits(store, mnist_small.x_test[:n], mnist_small.y_test[:n])
    with pytest.raises(NotEnoughDigits) as refused:
        dataset.export_npz(store.arrays(), tmp_path / "out.npz")
    words = str(refused.value)
    assert ("is empty" in words) if n == 0 else (f"has {n} digit" in words and "3" in words)
    assert not (tmp_path / "out.npz").exists()


def test_an_export_imported_into_a_new_store_gives_the_same_digits_and_split(
    store, mnist_small, tmp_path
):
    store.add_many(mnist_small.y_train[:50], mnist_small.x_train[:50])
    dataset.export_npz(store.arrays(), tmp_path / "out.npz")
    with FeedbackStore(f"sqlite:///{tmp_path / 'other.sqlite3'}") as other:
        assert dataset.import_npz(tmp_path / "out.npz", other) == 50
        assert dataset.import_npz(tmp_path / "out.npz", other) == 0  # already there
        assert held_back_digests(other) == held_back_digests(store)
        assert set(other.arrays().sources) == {dataset.IMPORT_SOURCE}


def test_each_digit_to_train_on_is_repeated_weight_times(store, mnist_small):
    save_drawn_digits(store, mnist_small.x_test[:12], mnist_small.y_test[:12])
    training = dataset.split(store.arrays()).training
    images, labels = dataset.repeated(training, 3)
    assert images.shape == (3 * len(training.labels), 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.repeat(training.labels, 3))
    np.testing.assert_array_equal(images[::3], training.grey)
