"""The feedback store on real databases: SQLite files and, where a server is given, PostgreSQL.

What is saved comes back as saved; duplicates, bad labels and bad examples are refused with a
sentence; the size cap holds; many writers at once lose nothing; an older schema is migrated
and a newer one refused; and a corrupt, read-only or full database, or a server that is not
there, makes saving unavailable in words while every row saved before stays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import Pool

import mimo.feedback.rows as rows_module
import mimo.feedback.schema as schema_module
from mimo.feedback.errors import (
    DuplicateExample,
    InvalidExample,
    StoreFull,
    StoreUnavailable,
)
from mimo.feedback.store import FeedbackStore, NewExample, arrays_of, store_url

WRITERS, SAVES_EACH = 8, 200  # the concurrency check: every one of these rows arrives
PROCESS_SAVES_EACH = 50  # per writer process: enough to contend for the file lock, and quick
NOBODY = 65534  # the unprivileged user a root test run drops to for read-only files


def png_bytes(seed: int) -> bytes:
    """A small real PNG, different for each seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def example(seed: int = 0, label: int = 7, **changes) -> NewExample:
    """A valid example; each seed gives another picture."""
    rng = np.random.default_rng(seed)
    fields = dict(
        label=label,
        grey=rng.random((28, 28)),
        rgb=rng.random((28, 28, 3)),
        original=png_bytes(seed),
        source="drawing",
        ink="red",
        number=3,
        answers={
            "color": {"digit": np.int64(1), "digit_confidence": np.float32(0.5)},
            "sum": {"digit": 7, "digit_confidence": 0.97, "sum": 10, "sum_confidence": 0.9},
        },
        run_ids={"color": "color-run", "sum": "sum-run"},
    )
    return NewExample(**{**fields, **changes})


# ---------------------------------------------------------------------------------------------
# What is saved comes back


def test_a_saved_example_comes_back_as_it_was_saved(store):
    new = example(seed=1, label=4)
    before = datetime.now(timezone.utc)
    result = store.save(new)
    assert (result.total, result.relabelled_from) == (1, None)

    saved = store.example(result.id)
    assert saved.label == 4 and saved.number == 3
    assert (saved.source, saved.ink) == ("drawing", "red")
    assert saved.grey.dtype == np.uint8 and saved.rgb.dtype == np.uint8
    np.testing.assert_array_equal(saved.grey, np.rint(new.grey * 255))
    np.testing.assert_array_equal(saved.rgb, np.rint(new.rgb * 255))
    assert saved.answers["color"] == {"digit": 1, "digit_confidence": 0.5}
    assert saved.answers["sum"]["sum"] == 10
    assert saved.run_ids == {"color": "color-run", "sum": "sum-run"}
    assert saved.digest == hashlib.blake2b(new.original, digest_size=16).hexdigest()
    assert saved.original_type == "image/png"
    assert saved.created_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= saved.created_at <= datetime.now(timezone.utc)
    assert store.original(result.id) == (new.original, "image/png")
    assert store.example(result.id + 1) is None and store.original(result.id + 1) is None


@pytest.mark.parametrize(
    "original, kind",
    [
        (b"\xff\xd8\xff\xe0rest of a jpeg", "image/jpeg"),
        (b"GIF89a...", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"not a picture at all", "application/octet-stream"),
    ],
)
def test_the_original_keeps_its_sniffed_type(sqlite_url, original, kind):
    with FeedbackStore(sqlite_url) as store:
        saved = store.save(example(original=original, source="upload", ink=None))
        assert store.original(saved.id) == (original, kind)
        assert store.example(saved.id).ink is None


def test_examples_come_newest_first_and_filter_by_label_and_source(store):
    ids = [
        store.save(example(seed=i, label=i % 3, source="upload" if i % 2 else "drawing")).id
        for i in range(6)
    ]
    assert [row.id for row in store.examples()] == ids[::-1]
    assert [row.id for row in store.examples(limit=2, offset=1)] == ids[4:2:-1]
    assert [row.label for row in store.examples(label=1)] == [1, 1]
    assert {row.source for row in store.examples(source="upload")} == {"upload"}
    assert store.count() == 6
    assert store.count(label=0) == 2
    assert store.count(source="upload") == 3
    assert store.count(label=1, source="upload") == 1


def test_the_collection_as_arrays_is_oldest_first_in_mnist_layout(store):
    empty = store.arrays()
    assert empty.grey.shape == (0, 28, 28) and empty.rgb.shape == (0, 28, 28, 3)
    news = [example(seed=i, label=i, ink=(None, "red", "green")[i % 3]) for i in range(4)]
    ids = [store.save(new).id for new in news]

    arrays = store.arrays()
    assert arrays.ids.tolist() == ids and arrays.ids.dtype == np.int64
    assert arrays.labels.tolist() == [0, 1, 2, 3] and arrays.labels.dtype == np.uint8
    assert arrays.grey.shape == (4, 28, 28) and arrays.grey.dtype == np.uint8
    assert arrays.rgb.shape == (4, 28, 28, 3) and arrays.rgb.dtype == np.uint8
    np.testing.assert_array_equal(arrays.grey[2], np.rint(news[2].grey * 255))
    assert arrays.inks == [None, "red", "green", None]
    assert arrays.numbers.tolist() == [3] * 4
    assert arrays.sources == ["drawing"] * 4
    assert arrays.digests == [store.example(i).digest for i in ids]

    # The same rows read as examples (newest first) give the same arrays.
    from_examples = arrays_of(store.examples())
    for field in ("ids", "labels", "grey", "rgb", "numbers"):
        np.testing.assert_array_equal(getattr(from_examples, field), getattr(arrays, field))
    for field in ("inks", "digests", "sources"):
        assert getattr(from_examples, field) == getattr(arrays, field)
    assert arrays_of([]).grey.shape == (0, 28, 28)


def test_relabel_and_delete_one_row_or_all(store):
    first, second, third = (store.save(example(seed=i)).id for i in range(3))
    assert store.relabel(second, 2) is True
    assert store.example(second).label == 2
    assert store.relabel(third + 100, 2) is False
    with pytest.raises(InvalidExample, match="0 to 9"):
        store.relabel(second, 12)

    assert store.delete(first) is True
    assert store.delete(first) is False
    assert [row.id for row in store.examples()] == [third, second]
    assert store.delete_all() == 2
    assert store.count() == 0 and store.delete_all() == 0


def test_rows_stay_when_the_store_is_opened_again(store_url):
    with FeedbackStore(store_url) as store:
        saved = store.save(example(seed=5, label=5))
    with FeedbackStore(store_url) as store:
        assert store.count() == 1
        assert store.example(saved.id).label == 5


# ---------------------------------------------------------------------------------------------
# Duplicates and bad examples


def test_the_same_picture_twice_with_the_same_label_is_a_duplicate(store):
    store.save(example(seed=1, label=7))
    with pytest.raises(DuplicateExample) as refused:
        store.save(example(seed=1, label=7))
    assert str(refused.value) == "This picture is already saved as a 7."
    assert store.count() == 1

    store.save(example(seed=2, label=8))
    with pytest.raises(DuplicateExample, match=r"^This picture is already saved as an 8\.$"):
        store.save(example(seed=2, label=8))
    # Saved again after another picture: not "twice in a row", so a new row.
    assert store.save(example(seed=1, label=7)).total == 3


def test_the_same_picture_again_with_another_label_relabels_the_newest_row(store):
    first = store.save(example(seed=1, label=7))
    again = store.save(example(seed=1, label=1))
    assert (again.id, again.total, again.relabelled_from) == (first.id, 1, 7)
    assert store.example(first.id).label == 1


def test_relabelled_example_keeps_everything_else(store):
    new = example(seed=4, label=4)
    store.save(new)
    before = store.examples()[0]
    store.save(dataclasses.replace(new, label=9))
    after = store.examples()[0]
    assert after.label == 9
    assert (after.id, after.digest) == (before.id, before.digest)
    assert after.created_at == before.created_at


@pytest.mark.parametrize("label", [10, -1, 3.5, 7.0, "7", True, None, np.float64(2)])
def test_a_label_that_is_not_a_digit_is_refused_in_words(store, label):
    store.save(example(seed=1))
    with pytest.raises(InvalidExample) as refused:
        store.save(example(seed=2, label=label))
    assert str(refused.value) == f"The label must be a whole number from 0 to 9, not {label!r}."
    assert store.count() == 1


def test_numpy_integers_are_digits_too(store):
    assert store.example(store.save(example(label=np.int64(9), number=np.uint8(0))).id).label == 9


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"number": 10}, "The number must be a whole number from 0 to 9"),
        ({"source": "camera"}, "The source must be drawing, upload or import"),
        ({"ink": "blue"}, "The ink must be red, green or none"),
        ({"grey": np.zeros((28, 28, 1))}, "The grey picture must have shape (28, 28)"),
        ({"rgb": np.zeros((28, 28))}, "The colour picture must have shape (28, 28, 3)"),
        ({"grey": np.full((28, 28), 255.0)}, "must hold numbers from 0 to 1"),
        ({"grey": np.full((28, 28), np.nan)}, "must hold numbers from 0 to 1"),
        ({"grey": np.zeros((28, 28), np.uint8)}, "must hold numbers from 0 to 1"),
        ({"original": b""}, "must be the bytes of an image"),
        ({"original": "picture.png"}, "must be the bytes of an image"),
        ({"original": b"x" * (512 * 1024 + 1)}, "at most 524,288 are kept"),
        ({"answers": {"color": object()}}, "The answers must hold numbers and text only"),
        ({"run_ids": ["color-run"]}, "The run ids must be a dictionary"),
    ],
)
def test_a_bad_example_is_refused_in_words(sqlite_url, changes, words):
    with FeedbackStore(sqlite_url) as store:
        with pytest.raises(InvalidExample) as refused:
            store.save(example(**changes))
        assert words in str(refused.value)
        assert store.count() == 0


# ---------------------------------------------------------------------------------------------
# Imports and the size cap


def test_mnist_arrays_are_imported_once(store):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 4], dtype=np.int64)
    assert store.add_many(labels, grey) == 5
    assert store.add_many(labels, grey) == 0  # the same file again adds nothing
    assert store.add_many(labels[:1], grey[:1], source="upload") == 0

    arrays = store.arrays()
    np.testing.assert_array_equal(arrays.grey, grey)
    np.testing.assert_array_equal(arrays.rgb, np.repeat(grey[..., None], 3, axis=-1))
    assert arrays.labels.tolist() == labels.tolist()
    assert arrays.sources == ["import"] * 5 and arrays.inks == [None] * 5
    original, kind = store.original(int(arrays.ids[0]))
    assert kind == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(original))), grey[0])

    with pytest.raises(InvalidExample, match="0 to 9"):
        store.add_many(np.array([10]), grey[:1])
    with pytest.raises(InvalidExample, match=r"\(N, 28, 28\)"):
        store.add_many(labels, grey[:, :14])
    assert store.count() == 5


def test_the_size_cap_refuses_in_words_and_deleting_makes_room(store_url):
    sizes = [rows_module.checked_row(example(seed=i))["size"] for i in range(3)]
    cap = sum(sizes) + 100  # three examples fit, a fourth (about 3.5 KB) does not
    with FeedbackStore(store_url, max_bytes=cap) as store:
        saved = [store.save(example(seed=i)).id for i in range(3)]
        with pytest.raises(StoreFull) as refused:
            store.save(example(seed=9))
        message = str(refused.value)
        assert message.startswith("The collection is full: its 3 digits take 0.0 MB of the ")
        assert message.endswith("Delete some on the My digits page to save more.")
        assert store.count() == 3

        grey = np.zeros((20, 28, 28), np.uint8) + np.arange(20, dtype=np.uint8)[:, None, None]
        with pytest.raises(StoreFull):
            store.add_many(np.zeros(20, np.int64), grey)
        assert store.count() == 3  # an import that does not fit adds nothing

        store.delete(saved[1])
        assert store.save(example(seed=9)).total == 3


# ---------------------------------------------------------------------------------------------
# Many writers at once


def test_eight_threads_saving_at_once_lose_no_row(store_url):
    with FeedbackStore(store_url) as store:
        errors = []

        def write(writer):
            try:
                for i in range(SAVES_EACH):
                    store.save(example_for(writer, i))
            except Exception as error:
                errors.append(error)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        assert_every_row_arrived(store, SAVES_EACH)


def test_eight_processes_saving_at_once_lose_no_row(sqlite_url):
    # Processes matter for SQLite, whose writers share the file's lock. (A PostgreSQL server
    # sees one connection per writer whether the writers are threads or processes.)
    with FeedbackStore(sqlite_url) as store:  # the schema exists before the writers start
        fork = multiprocessing.get_context("fork")
        writers = [
            fork.Process(target=write_in_process, args=(sqlite_url, w)) for w in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=120)
        assert [writer.exitcode for writer in writers] == [0] * WRITERS
        assert_every_row_arrived(store, PROCESS_SAVES_EACH)


# One fixed picture per writer, its pixels told apart by the save's number, so that no save is
# a duplicate of the one before it.
WRITER_GREY = np.random.default_rng(0).random((28, 28))
WRITER_RGB = np.random.default_rng(1).random((28, 28, 3))


def example_for(writer: int, i: int) -> NewExample:
    return NewExample(
        label=i % 10,
        grey=WRITER_GREY,
        rgb=WRITER_RGB,
        original=f"writer {writer}, save {i}".encode(),
        source="drawing",
        ink=None,
        number=writer,
        answers={},
        run_ids={},
    )


def write_in_process(url: str, writer: int) -> None:
    """One writer process: its own store, saving PROCESS_SAVES_EACH examples."""
    with FeedbackStore(url) as store:
        for i in range(PROCESS_SAVES_EACH):
            store.save(example_for(writer, i))


def assert_every_row_arrived(store: FeedbackStore, saves_each: int) -> None:
    arrays = store.arrays()
    assert len(arrays.ids) == WRITERS * saves_each == store.count()
    assert len(set(arrays.ids.tolist())) == WRITERS * saves_each
    assert np.bincount(arrays.numbers, minlength=WRITERS).tolist() == [saves_each] * WRITERS
    expected = {f"writer {w}, save {i}" for w in range(WRITERS) for i in range(saves_each)}
    assert {store.original(int(i))[0].decode() for i in arrays.ids} == expected


# ---------------------------------------------------------------------------------------------
# Schema versions


def test_opening_an_older_store_migrates_it(store_url, monkeypatch):
    with FeedbackStore(store_url) as store:
        saved = store.save(example(seed=3, label=3))

    def add_note(conn):
        conn.execute(text("ALTER TABLE feedback_examples ADD COLUMN note VARCHAR(40)"))

    monkeypatch.setattr(schema_module, "MIGRATIONS", (*schema_module.MIGRATIONS, add_note))
    with FeedbackStore(store_url) as store:
        assert store.example(saved.id).label == 3
    engine = create_engine(store_url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version FROM feedback_schema")) == 2
        assert conn.scalar(text("SELECT count(note) FROM feedback_examples")) == 0
    engine.dispose()


def test_a_store_from_a_newer_mimo_is_refused_in_words(store_url):
    with FeedbackStore(store_url) as store:
        store.save(example(seed=3))
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE feedback_schema SET version = 99"))
    engine.dispose()
    with pytest.raises(StoreUnavailable) as refused:
        FeedbackStore(store_url)
    assert "newer mimo (schema version 99; this one knows up to 1)" in str(refused.value)
    assert str(refused.value).startswith("The digit store is unavailable: the database ")


# ---------------------------------------------------------------------------------------------
# Where the store lives


def test_the_store_lives_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.setenv("MIMO_REGISTRY", str(tmp_path / "registry"))
    assert store_url({}) == f"sqlite:///{tmp_path / 'registry' / 'feedback.sqlite3'}"
    data = tmp_path / "data"
    assert store_url({"MIMO_DATA_DIR": str(data)}) == f"sqlite:///{data / 'feedback.sqlite3'}"
    shared = "postgresql+psycopg://mimo:pw@db.example/mimo"
    assert store_url({"MIMO_DATABASE_URL": shared, "MIMO_DATA_DIR": str(data)}) == shared

    env = {"MIMO_DATA_DIR": str(data), "MIMO_FEEDBACK_MAX_MB": "0.5"}
    with FeedbackStore.from_environment(env) as store:
        assert store.kind == "sqlite"
        assert store.location == str(data / "feedback.sqlite3")
        assert store.max_bytes == 512 * 1024
    assert (data / "feedback.sqlite3").exists()
    with pytest.raises(StoreUnavailable, match="MIMO_FEEDBACK_MAX_MB must be a number"):
        FeedbackStore.from_environment({"MIMO_DATA_DIR": str(data), "MIMO_FEEDBACK_MAX_MB": "x"})


def test_a_postgresql_location_hides_the_password(postgresql_url):
    with FeedbackStore(postgresql_url) as store:
        assert store.kind == "postgresql"
        assert "***" in store.location
        password = create_engine(postgresql_url).url.password
        assert password and password not in store.location


# ---------------------------------------------------------------------------------------------
# Failures: the store is unavailable, in words, and nothing saved is lost


def test_the_sqlite_file_is_in_wal_mode(sqlite_url, tmp_path):
    with FeedbackStore(sqlite_url) as store:
        store.save(example())
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_corrupt_file_is_unavailable_and_left_as_it_was(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    garbage = np.random.default_rng(0).bytes(20_000)
    path.write_bytes(garbage)
    with pytest.raises(StoreUnavailable) as refused:
        FeedbackStore.from_environment({"MIMO_DATA_DIR": str(tmp_path)})
    assert str(refused.value) == (
        f"The digit store is unavailable: the database file {path} is damaged (it is not a "
        "readable SQLite database). Move it aside to start a new collection; mimo does not "
        "write to it."
    )
    assert path.read_bytes() == garbage


def test_a_damaged_page_makes_the_store_unavailable(sqlite_url, tmp_path):
    with FeedbackStore(sqlite_url) as store:
        for i in range(20):
            store.save(example(seed=i))
    path = tmp_path / "feedback.sqlite3"
    with path.open("r+b") as file:  # keep the header page, scramble the rest
        file.seek(4096)
        file.write(np.random.default_rng(0).bytes(path.stat().st_size - 4096))
    with pytest.raises(StoreUnavailable, match="is damaged"), FeedbackStore(sqlite_url) as store:
        store.count()


def test_a_full_disk_is_unavailable_and_loses_nothing(sqlite_url, tmp_path):
    with FeedbackStore(sqlite_url) as store:
        for i in range(5):
            store.save(example(seed=i))
    path = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]

    def disk_full_at_this_size(dbapi_connection, connection_record):
        # SQLite's own limit on the file: writing past it fails exactly as a full disk does.
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(Pool, "connect", disk_full_at_this_size)
    try:
        with FeedbackStore(sqlite_url) as store:
            with pytest.raises(StoreUnavailable) as refused:
                store.save(example(seed=9, original=b"\x89PNG\r\n\x1a\n" + bytes(400_000)))
            assert store.count() == 5  # reading still works
    finally:
        event.remove(Pool, "connect", disk_full_at_this_size)
    assert str(refused.value) == (
        f"The digit store is unavailable: the disk that holds the database file {path} is full."
    )
    with FeedbackStore(sqlite_url) as store:
        assert store.count() == 5
        assert store.save(example(seed=9)).total == 6


@pytest.fixture()
def shared_folder():
    """A folder an unprivileged user can reach (pytest's tmp_path is private to its user)."""
    folder = tempfile.mkdtemp(prefix="mimo-feedback-")
    os.chmod(folder, 0o755)
    yield folder
    os.chmod(folder, 0o755)
    shutil.rmtree(folder)


def without_write_permission(function, *args) -> tuple[str, str]:
    """Run function(*args) in a child process that may not write the test's files: as root
    (who may write anything) the child becomes nobody. Returns (outcome, text), where outcome
    is "returned" or the exception's class name."""
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)

    def child():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        try:
            send.send(("returned", str(function(*args))))
        except Exception as error:
            send.send((type(error).__name__, str(error)))

    process = fork.Process(target=child)
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 0
    return receive.recv()


def count_then_save(url: str) -> None:
    with FeedbackStore(url) as store:
        assert store.count() == 3
        store.save(example(seed=9))


def read_only_store_of_three(folder) -> tuple[str, str]:
    """A SQLite store in `folder` with three rows, its file then made read-only: (url, path)."""
    url = f"sqlite:///{folder}/feedback.sqlite3"
    with FeedbackStore(url) as store:
        for i in range(3):
            store.save(example(seed=i))
    path = os.path.join(folder, "feedback.sqlite3")
    os.chmod(path, 0o444)
    return url, path


def test_a_read_only_file_can_be_read_but_saving_is_unavailable(shared_folder):
    url, path = read_only_store_of_three(shared_folder)
    if os.geteuid() == 0:  # the folder stays writable for nobody: SQLite keeps its -shm there
        os.chown(shared_folder, NOBODY, NOBODY)

    assert without_write_permission(count_then_save, url) == (
        "StoreUnavailable",
        f"The digit store is unavailable: the database file {path} is read-only.",
    )
    os.chmod(path, 0o644)
    with FeedbackStore(url) as store:
        assert store.count() == 3


def test_a_read_only_folder_is_unavailable_and_loses_nothing(shared_folder):
    url, path = read_only_store_of_three(shared_folder)
    os.chmod(shared_folder, 0o555)

    assert without_write_permission(count_then_save, url) == (
        "StoreUnavailable",
        f"The digit store is unavailable: the folder of the database file {path} is read-only.",
    )
    os.chmod(shared_folder, 0o755)
    os.chmod(path, 0o644)
    with FeedbackStore(url) as store:
        assert store.count() == 3


def test_a_postgresql_server_that_is_not_there_is_unavailable():
    # Port 1 on this machine: nothing listens there, so the connection is refused at once.
    url = "postgresql://mimo:secret@127.0.0.1:1/mimo_test?connect_timeout=3"
    with pytest.raises(StoreUnavailable) as refused:
        FeedbackStore(url)
    assert str(refused.value) == (
        "The digit store is unavailable: the database server at "
        "postgresql+psycopg://mimo:***@127.0.0.1:1/mimo_test?connect_timeout=3 cannot be reached."
    )


@pytest.mark.parametrize(
    "url, words",
    [
        ("not a database url", "the database URL is not one SQLAlchemy can read"),
        ("mysql://mimo:pw@127.0.0.1/mimo", "the database URL names 'mysql'"),
        ("sqlite://", "a SQLite store needs a file"),
    ],
)
def test_a_bad_database_url_is_unavailable_in_words(url, words):
    with pytest.raises(StoreUnavailable) as refused:
        FeedbackStore(url)
    assert str(refused.value).startswith("The digit store is unavailable: ")
    assert words in str(refused.value)
