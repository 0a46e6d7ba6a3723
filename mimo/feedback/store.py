"""The feedback store: the digits people collect in the app, kept in a real database.

One code path, SQLAlchemy Core with bound parameters only, serves two engines:

- SQLite by default: the file feedback.sqlite3 in MIMO_DATA_DIR, else in the registry folder.
  The file is in WAL mode (readers go on while one writer writes), and every write transaction
  begins IMMEDIATE: it takes the write lock before it reads, waiting up to BUSY_TIMEOUT_S for
  it, so Streamlit sessions and processes that save at once queue up instead of failing with
  "database is locked". (SQLAlchemy's recipe for pysqlite: the driver's own BEGIN is switched
  off and the store emits its own.)
- PostgreSQL when MIMO_DATABASE_URL names it, so that several replicas share one collection.

The schema has a version (table feedback_schema) and an ordered list of migration steps:
opening an older store brings it up to date, and a store written by a newer mimo is refused.

A row keeps one example: the 28x28 grey and RGB pictures the models saw (uint8), the original
bytes and their sniffed type, the true digit, the ink, the number, both models' answers and the
run ids that gave them (JSON), the source, the time (UTC), a digest of the original and the
row's size in bytes, whose sum stays under the cap MIMO_FEEDBACK_MAX_MB.

Every failure reaches the caller as a mimo.feedback.errors exception whose text is a sentence.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sqlite3
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from mimo.config import registry_dir
from mimo.encoding import COLOR_NAMES, NUM_DIGITS
from mimo.feedback.errors import (
    DuplicateExample,
    FeedbackError,
    InvalidExample,
    StoreFull,
    StoreUnavailable,
    postgresql_failure,
    sqlite_failure,
)
from mimo.tasks import IMAGE_SIZE

DATABASE_URL_ENV = "MIMO_DATABASE_URL"  # a SQLAlchemy URL: when set, the store lives there
DATA_DIR_ENV = "MIMO_DATA_DIR"  # else the SQLite file is in this folder (else the registry's)
SQLITE_FILE_NAME = "feedback.sqlite3"  # the default store's file name in that folder
MAX_MB_ENV = "MIMO_FEEDBACK_MAX_MB"  # the cap on the whole collection's size, in MB
DEFAULT_MAX_MB = 200  # that cap when the variable is not set
BYTES_PER_MB = 1024 * 1024
BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for another writer's lock
CONNECT_TIMEOUT_S = 5  # how long a PostgreSQL connection attempt waits for the server
POSTGRESQL_DRIVER = "postgresql+psycopg"  # the driver for "postgresql://" URLs (psycopg 3)
SUPPORTED_DRIVERS = ("sqlite", "sqlite+pysqlite", POSTGRESQL_DRIVER)
MIGRATION_LOCK = 0x6D696D6F  # PostgreSQL advisory lock: one process migrates at a time

GREY_SHAPE = (IMAGE_SIZE, IMAGE_SIZE)  # the sum model's picture
RGB_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)  # the colour model's picture
MAX_ORIGINAL_BYTES = 512 * 1024  # callers replace bigger originals by a 256 px PNG
SOURCES = ("drawing", "upload", "import")  # where an example came from
INKS = (*COLOR_NAMES, None)  # the ink a digit was drawn in; None: neither red nor green
DIGEST_BYTES = 16  # blake2b digest of the original: 32 hex characters
UNKNOWN_TYPE = "application/octet-stream"  # the original's type when no signature matches
# The first bytes of the picture formats an upload can have, and their MIME types.
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)
IMPORT_CHUNK = 500  # rows per query when an import looks for pictures already saved
# The execution option that says how a SQLite transaction begins (a constant below, never input).
BEGIN_OPTION = "mimo_sqlite_begin"
READ_BEGIN, WRITE_BEGIN = "BEGIN", "BEGIN IMMEDIATE"


# ---------------------------------------------------------------------------------------------
# What is saved and what comes back


@dataclass(frozen=True)
class NewExample:
    """What the Predict page saves."""

    label: int  # the true digit 0-9
    grey: np.ndarray  # (28, 28) float in [0, 1]: the sum model's input
    rgb: np.ndarray  # (28, 28, 3) float in [0, 1]: the colour model's input
    original: bytes  # the PNG the canvas sent or the uploaded file (at most 512 KB)
    source: str  # "drawing", "upload" or "import"
    ink: str | None  # "red", "green" or None (neither)
    number: int  # 0-9, the number the sum model added
    answers: dict  # by model name: {"digit": 7, "digit_confidence": 0.98, ...} (may be {})
    run_ids: dict  # by model name: the run id that gave the answer (may be {})


@dataclass(frozen=True)
class Example:
    """A saved row."""

    id: int
    created_at: datetime  # UTC, timezone-aware
    label: int
    grey: np.ndarray  # (28, 28) uint8
    rgb: np.ndarray  # (28, 28, 3) uint8
    source: str
    ink: str | None
    number: int
    answers: dict
    run_ids: dict
    digest: str  # 32 hex chars: blake2b(original, digest_size=16)
    original_type: str  # "image/png", "image/jpeg", ... or "application/octet-stream"


@dataclass(frozen=True)
class SaveResult:
    id: int
    total: int  # rows in the store after the save
    relabelled_from: int | None  # set when the save changed the newest row's label instead


@dataclass(frozen=True)
class CollectionArrays:
    """The whole collection as arrays, oldest first."""

    ids: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) uint8
    grey: np.ndarray  # (N, 28, 28) uint8 (MNIST layout)
    rgb: np.ndarray  # (N, 28, 28, 3) uint8
    inks: list[str | None]
    numbers: np.ndarray  # (N,) uint8
    digests: list[str]
    sources: list[str]


# ---------------------------------------------------------------------------------------------
# Where the store lives


def store_url(env: Mapping[str, str] = os.environ) -> str:
    """MIMO_DATABASE_URL when set, else the SQLite file in MIMO_DATA_DIR or the registry."""
    url = env.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    folder = Path(env.get(DATA_DIR_ENV) or registry_dir())
    return URL.create("sqlite", database=str(folder / SQLITE_FILE_NAME)).render_as_string()


def max_bytes_from(env: Mapping[str, str]) -> int:
    """The collection's size cap in bytes: MIMO_FEEDBACK_MAX_MB, else DEFAULT_MAX_MB."""
    text = env.get(MAX_MB_ENV, "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_MAX_MB
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes > 0):
        raise StoreUnavailable(
            f"Saving is unavailable: {MAX_MB_ENV} must be a number of megabytes, not {text!r}."
        )
    return int(megabytes * BYTES_PER_MB)


# ---------------------------------------------------------------------------------------------
# The schema and its migrations

metadata = MetaData()

# One row: the schema version the store is at.
schema_table = Table("feedback_schema", metadata, Column("version", Integer, nullable=False))

# Small columns first: the cap's SUM(size) then reads no picture bytes.
examples_table = Table(
    "feedback_examples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("label", SmallInteger, nullable=False),
    Column("number", SmallInteger, nullable=False),
    Column("ink", String(8), nullable=True),
    Column("source", String(16), nullable=False),
    Column("size", Integer, nullable=False),  # bytes this row holds: the cap sums these
    Column("digest", String(2 * DIGEST_BYTES), nullable=False),
    Column("original_type", String(64), nullable=False),
    Column("answers", Text, nullable=False),  # JSON
    Column("run_ids", Text, nullable=False),  # JSON
    Column("grey", LargeBinary, nullable=False),  # 28x28 uint8
    Column("rgb", LargeBinary, nullable=False),  # 28x28x3 uint8
    Column("original", LargeBinary, nullable=False),
    Index("ix_feedback_examples_digest", "digest"),
    # Ids are never reused after a delete: the newest row is always the highest id.
    sqlite_autoincrement=True,
)


def create_examples(conn) -> None:
    """Version 1: the examples table and its digest index."""
    metadata.create_all(conn, tables=[examples_table])


# Step i brings a store from version i to i + 1, in one transaction; the code's version is their
# number. A later step alters tables with statements of its own; if it changes examples_table
# above, create_examples must keep creating the version 1 table: every store takes the same steps.
MIGRATIONS = (create_examples,)


def schema_version(conn) -> int:
    """The version a store is at: 0 for an empty database."""
    if not inspect(conn).has_table(schema_table.name):
        return 0
    return conn.scalar(select(schema_table.c.version)) or 0


# ---------------------------------------------------------------------------------------------
# The store


class FeedbackStore:
    """The collected digits, in SQLite or PostgreSQL. Safe to share between threads."""

    def __init__(self, url: str, max_bytes: int | None = None):
        self.max_bytes = max_bytes_from(os.environ) if max_bytes is None else int(max_bytes)
        self._url = supported_url(url)
        self._kind = "sqlite" if self._url.get_backend_name() == "sqlite" else "postgresql"
        if self._kind == "sqlite":
            self._path = Path(self._url.database)
            self._location = str(self._path)
            self._engine = sqlite_engine(self._url, self._path)
        else:
            self._path = None
            self._location = self._url.render_as_string(hide_password=True)
            self._engine = postgresql_engine(self._url)
        # Writes go through this view of the engine: on SQLite they begin IMMEDIATE.
        self._writer = self._engine.execution_options(**{BEGIN_OPTION: WRITE_BEGIN})
        try:
            with self._guard():
                self._migrate()
        except FeedbackError:
            self._engine.dispose()
            raise

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> FeedbackStore:
        """The store that MIMO_DATABASE_URL, MIMO_DATA_DIR and MIMO_FEEDBACK_MAX_MB name."""
        env = os.environ if env is None else env
        return cls(store_url(env), max_bytes=max_bytes_from(env))

    @property
    def kind(self) -> str:
        """Which engine: "sqlite" or "postgresql"."""
        return self._kind

    @property
    def location(self) -> str:
        """For messages: the SQLite file's path, or the URL with its password hidden."""
        return self._location

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------

    def save(self, example: NewExample) -> SaveResult:
        """Save one example. The same picture saved again right after its last save changes
        that row's label, or is refused as a duplicate when the label is the same too."""
        row = checked_row(example)
        table = examples_table
        with self._guard(), self._writer.begin() as conn:
            newest = conn.execute(
                select(table.c.id, table.c.digest, table.c.label)
                .order_by(table.c.id.desc())
                .limit(1)
            ).first()
            if newest is not None and newest.digest == row["digest"]:
                if newest.label == row["label"]:
                    raise DuplicateExample(
                        f"This picture is already saved as {with_article(newest.label)}."
                    )
                conn.execute(
                    update(table).where(table.c.id == newest.id).values(label=row["label"])
                )
                return SaveResult(newest.id, total_rows(conn), relabelled_from=newest.label)
            rows_before = self._check_room(conn, row["size"])
            new_id = conn.execute(insert(table).values(row)).inserted_primary_key[0]
            return SaveResult(new_id, rows_before + 1, relabelled_from=None)

    def add_many(self, labels, grey_uint8, *, source: str = "import") -> int:
        """Import MNIST-layout arrays: labels (N,) 0-9 and grey (N, 28, 28) 0-255. Each digit is
        kept with a PNG of itself as its original, no ink (its RGB picture is grey), number 0
        and no answers. Pictures already saved with the same label are skipped. All or nothing:
        StoreFull when the rows do not all fit. Returns the number of rows added."""
        rows = imported_rows(labels, grey_uint8, source)
        table = examples_table
        with self._guard(), self._writer.begin() as conn:
            saved = set()
            digests = sorted({row["digest"] for row in rows})
            for start in range(0, len(digests), IMPORT_CHUNK):
                chunk = digests[start : start + IMPORT_CHUNK]
                query = select(table.c.digest, table.c.label).where(table.c.digest.in_(chunk))
                saved.update((digest, label) for digest, label in conn.execute(query))
            new_rows = []
            for row in rows:
                key = (row["digest"], row["label"])
                if key not in saved:
                    saved.add(key)
                    new_rows.append(row)
            if new_rows:
                self._check_room(conn, sum(row["size"] for row in new_rows))
                conn.execute(insert(table), new_rows)
            return len(new_rows)

    def relabel(self, example_id: int, label: int) -> bool:
        """Give a row another true digit; False when there is no such row."""
        label = checked_digit(label, "The label")
        table = examples_table
        with self._guard(), self._writer.begin() as conn:
            changed = conn.execute(
                update(table).where(table.c.id == int(example_id)).values(label=label)
            )
            return changed.rowcount > 0

    def delete(self, example_id: int) -> bool:
        """Delete one row; False when there is no such row."""
        table = examples_table
        with self._guard(), self._writer.begin() as conn:
            return conn.execute(delete(table).where(table.c.id == int(example_id))).rowcount > 0

    def delete_all(self) -> int:
        """Delete every row; returns how many there were."""
        with self._guard(), self._writer.begin() as conn:
            return conn.execute(delete(examples_table)).rowcount

    # --- reading ---------------------------------------------------------------------------

    def count(self, *, label: int | None = None, source: str | None = None) -> int:
        query = select(func.count()).select_from(examples_table)
        with self._guard(), self._engine.connect() as conn:
            return conn.scalar(filtered(query, label, source))

    def examples(
        self,
        *,
        label: int | None = None,
        source: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Example]:
        """Saved rows, newest first."""
        query = select(*EXAMPLE_COLUMNS).order_by(examples_table.c.id.desc())
        query = filtered(query, label, source).offset(int(offset))
        if limit is not None:
            query = query.limit(int(limit))
        with self._guard(), self._engine.connect() as conn:
            return [example_from(row) for row in conn.execute(query)]

    def example(self, example_id: int) -> Example | None:
        query = select(*EXAMPLE_COLUMNS).where(examples_table.c.id == int(example_id))
        with self._guard(), self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else example_from(row)

    def original(self, example_id: int) -> tuple[bytes, str] | None:
        """The original as saved, and its MIME type."""
        table = examples_table
        query = select(table.c.original, table.c.original_type).where(table.c.id == int(example_id))
        with self._guard(), self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (bytes(row.original), row.original_type)

    def arrays(self) -> CollectionArrays:
        """The whole collection as arrays, oldest first."""
        table = examples_table
        columns = ("id", "label", "grey", "rgb", "ink", "number", "digest", "source")
        query = select(*(table.c[name] for name in columns)).order_by(table.c.id)
        with self._guard(), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return CollectionArrays(
            ids=np.array([row.id for row in rows], dtype=np.int64),
            labels=np.array([row.label for row in rows], dtype=np.uint8),
            grey=pictures([row.grey for row in rows], GREY_SHAPE),
            rgb=pictures([row.rgb for row in rows], RGB_SHAPE),
            inks=[row.ink for row in rows],
            numbers=np.array([row.number for row in rows], dtype=np.uint8),
            digests=[row.digest for row in rows],
            sources=[row.source for row in rows],
        )

    # --- inside ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema to the code's version; refuse a store from a newer mimo."""
        latest = len(MIGRATIONS)
        with self._engine.connect() as conn:
            version = schema_version(conn)
        if version == latest:
            return
        with self._writer.begin() as conn:
            if self._kind == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            version = schema_version(conn)  # another process may have migrated meanwhile
            if version > latest:
                raise StoreUnavailable(
                    f"Saving is unavailable: the database {self._location} was written by a "
                    f"newer mimo (schema version {version}; this one knows up to {latest}). "
                    "Update mimo, or point MIMO_DATABASE_URL at another database."
                )
            if version == 0:
                metadata.create_all(conn, tables=[schema_table])
                conn.execute(insert(schema_table).values(version=0))
            for step in MIGRATIONS[version:]:
                step(conn)
            conn.execute(update(schema_table).values(version=latest))

    def _check_room(self, conn, size: int) -> int:
        """The rows in the store; StoreFull when `size` more bytes would take the collection
        over its cap."""
        used, rows = conn.execute(
            select(func.coalesce(func.sum(examples_table.c.size), 0), func.count())
        ).one()
        if used + size > self.max_bytes:
            raise StoreFull(
                f"The collection is full: its {rows:,} digit{'' if rows == 1 else 's'} take "
                f"{used / BYTES_PER_MB:.1f} MB of the {self.max_bytes / BYTES_PER_MB:g} MB it "
                f"may hold ({MAX_MB_ENV}). Delete some on the My digits page to save more."
            )
        return rows

    @contextmanager
    def _guard(self):
        """Turn database failures into StoreUnavailable with a sentence that says why."""
        try:
            yield
        except FeedbackError:
            raise
        except (SQLAlchemyError, sqlite3.Error, OSError) as error:
            raise StoreUnavailable(f"Saving is unavailable: {self._why(error)}") from error

    def _why(self, error: Exception) -> str:
        if isinstance(error, DBAPIError):
            error = error.orig  # the driver's own exception, with its error code
        if self._kind == "sqlite":
            return sqlite_failure(error, self._path, BUSY_TIMEOUT_S)
        return postgresql_failure(error, self._location)


# ---------------------------------------------------------------------------------------------
# Engines


def supported_url(url: str) -> URL:
    """The parsed URL, when it names a SQLite file or a PostgreSQL database (psycopg 3)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # `from None`: the unreadable URL may hold a password; it stays out of logs too.
        raise StoreUnavailable(
            f"Saving is unavailable: the database URL is not one SQLAlchemy can read "
            f"(check {DATABASE_URL_ENV})."
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=POSTGRESQL_DRIVER)
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise StoreUnavailable(
            f"Saving is unavailable: the database URL names {parsed.drivername!r}; the store "
            f"works with SQLite files and PostgreSQL ({POSTGRESQL_DRIVER}) only."
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise StoreUnavailable(
            "Saving is unavailable: a SQLite store needs a file (sqlite:///PATH), not memory."
        )
    return parsed


def sqlite_engine(url: URL, path: Path):
    """A SQLite engine in WAL mode whose transactions begin as BEGIN_OPTION says."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreUnavailable(
            f"Saving is unavailable: the folder {path.parent} cannot be created ({error.strerror})."
        ) from error
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN of its own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file; a no-op once set
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        conn.exec_driver_sql(conn.get_execution_options().get(BEGIN_OPTION, READ_BEGIN))

    return engine


def postgresql_engine(url: URL):
    """A PostgreSQL engine that checks pooled connections (the server may have restarted)."""
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_S}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


# ---------------------------------------------------------------------------------------------
# Rows in and out


def checked_digit(value, what: str) -> int:
    """An int 0-9 (numpy's too); bools, floats and text are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not 0 <= value < NUM_DIGITS
    ):
        raise InvalidExample(f"{what} must be a whole number from 0 to 9, not {value!r}.")
    return int(value)


def unit_picture(picture, shape: tuple[int, ...], what: str) -> bytes:
    """A picture of floats in [0, 1] of the given shape, as uint8 bytes (round(x * 255))."""
    array = np.asarray(picture)
    if array.shape != shape:
        raise InvalidExample(f"The {what} must have shape {shape}, not {array.shape}.")
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        raise InvalidExample(f"The {what} must hold numbers from 0 to 1, not {array.dtype}.")
    if array.min() < 0 or array.max() > 1:
        raise InvalidExample(f"The {what} must hold numbers from 0 to 1.")
    return np.rint(array * 255).astype(np.uint8).tobytes()


def as_json(value, what: str) -> str:
    if not isinstance(value, Mapping):
        raise InvalidExample(f"The {what} must be a dictionary, not {type(value).__name__}.")
    try:
        return json.dumps(dict(value), sort_keys=True, default=plain)
    except (TypeError, ValueError) as error:
        raise InvalidExample(f"The {what} must hold numbers and text only ({error}).") from None


def plain(value):
    """numpy numbers and arrays as JSON's own (confidences often arrive as float32)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def sniffed_type(data: bytes) -> str:
    """The MIME type the first bytes say, else UNKNOWN_TYPE."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in IMAGE_SIGNATURES if data.startswith(magic)), UNKNOWN_TYPE)


def digest_of(original: bytes) -> str:
    return hashlib.blake2b(original, digest_size=DIGEST_BYTES).hexdigest()


def checked_row(example: NewExample) -> dict:
    """The row to insert for an example; InvalidExample with a sentence when it is not valid."""
    label = checked_digit(example.label, "The label")
    number = checked_digit(example.number, "The number")
    if example.source not in SOURCES:
        raise InvalidExample(
            f"The source must be drawing, upload or import, not {example.source!r}."
        )
    if example.ink not in INKS:
        raise InvalidExample(f"The ink must be red, green or none, not {example.ink!r}.")
    grey = unit_picture(example.grey, GREY_SHAPE, "grey picture")
    rgb = unit_picture(example.rgb, RGB_SHAPE, "colour picture")
    original = example.original
    if not isinstance(original, (bytes, bytearray, memoryview)) or len(original) == 0:
        raise InvalidExample("The original picture must be the bytes of an image.")
    original = bytes(original)
    if len(original) > MAX_ORIGINAL_BYTES:
        raise InvalidExample(
            f"The original picture takes {len(original):,} bytes; "
            f"at most {MAX_ORIGINAL_BYTES:,} are kept."
        )
    answers = as_json(example.answers, "answers")
    run_ids = as_json(example.run_ids, "run ids")
    return {
        "created_at": datetime.now(timezone.utc),
        "label": label,
        "number": number,
        "ink": example.ink,
        "source": example.source,
        "grey": grey,
        "rgb": rgb,
        "original": original,
        "original_type": sniffed_type(original),
        "digest": digest_of(original),
        "answers": answers,
        "run_ids": run_ids,
        "size": len(grey) + len(rgb) + len(original) + len(answers) + len(run_ids),
    }


def imported_rows(labels, grey_uint8, source: str) -> list[dict]:
    """The rows for an import of MNIST-layout arrays (see FeedbackStore.add_many)."""
    from PIL import Image  # only imports need Pillow

    labels, grey = np.asarray(labels), np.asarray(grey_uint8)
    if source not in SOURCES:
        raise InvalidExample(f"The source must be drawing, upload or import, not {source!r}.")
    if labels.ndim != 1 or grey.shape != (len(labels), *GREY_SHAPE):
        raise InvalidExample(
            f"An import needs labels (N,) and pictures (N, 28, 28); got {labels.shape} "
            f"and {grey.shape}."
        )
    if len(labels) and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9):
        raise InvalidExample("The labels of an import must be whole numbers from 0 to 9.")
    if len(grey) and (grey.dtype.kind not in "iu" or grey.min() < 0 or grey.max() > 255):
        raise InvalidExample("The pictures of an import must be whole numbers from 0 to 255.")
    created_at = datetime.now(timezone.utc)
    rows = []
    for label, picture in zip(labels.tolist(), grey.astype(np.uint8), strict=True):
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        original = buffer.getvalue()
        rgb = np.repeat(picture[..., None], 3, axis=-1).tobytes()
        rows.append(
            {
                "created_at": created_at,
                "label": label,
                "number": 0,
                "ink": None,
                "source": source,
                "grey": picture.tobytes(),
                "rgb": rgb,
                "original": original,
                "original_type": "image/png",
                "digest": digest_of(original),
                "answers": "{}",
                "run_ids": "{}",
                "size": picture.nbytes + len(rgb) + len(original) + 4,
            }
        )
    return rows


EXAMPLE_COLUMNS = tuple(
    examples_table.c[name]
    for name in (
        "id",
        "created_at",
        "label",
        "grey",
        "rgb",
        "source",
        "ink",
        "number",
        "answers",
        "run_ids",
        "digest",
        "original_type",
    )
)


def example_from(row) -> Example:
    created_at = row.created_at
    created_at = (
        created_at.replace(tzinfo=timezone.utc)  # SQLite keeps the UTC time without its zone
        if created_at.tzinfo is None
        else created_at.astimezone(timezone.utc)
    )
    return Example(
        id=row.id,
        created_at=created_at,
        label=row.label,
        grey=np.frombuffer(row.grey, dtype=np.uint8).reshape(GREY_SHAPE).copy(),
        rgb=np.frombuffer(row.rgb, dtype=np.uint8).reshape(RGB_SHAPE).copy(),
        source=row.source,
        ink=row.ink,
        number=row.number,
        answers=json.loads(row.answers),
        run_ids=json.loads(row.run_ids),
        digest=row.digest,
        original_type=row.original_type,
    )


def pictures(blobs: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    """Stored uint8 pictures as one (N, *shape) array."""
    return np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), *shape).copy()


def filtered(query, label: int | None, source: str | None):
    if label is not None:
        query = query.where(examples_table.c.label == int(label))
    if source is not None:
        query = query.where(examples_table.c.source == str(source))
    return query


def total_rows(conn) -> int:
    return conn.scalar(select(func.count()).select_from(examples_table))


def with_article(digit: int) -> str:
    """ "a 7", "an 8"."""
    return f"an {digit}" if digit == 8 else f"a {digit}"
