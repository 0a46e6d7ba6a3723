"""The feedback store: the digits people collect in the app, kept in a real database.

FeedbackStore saves, relabels, deletes and reads examples, in SQLite by default or in PostgreSQL
when MIMO_DATABASE_URL names one, and keeps the collection under the cap MIMO_FEEDBACK_MAX_MB.
It is built from the modules around it: engines (where the store lives and the engine that
reaches it: SQLite in WAL mode with IMMEDIATE writes, or PostgreSQL), schema (the tables, the
schema version and its migrations) and rows (an example checked and turned into a row).
This module is the public API: what is saved, what comes back, and the store itself.

Every failure reaches the caller as a mimo.feedback.errors exception whose text is a sentence.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from mimo.feedback.engines import (
    BEGIN_OPTION,
    BUSY_TIMEOUT_S,
    WRITE_BEGIN,
    postgresql_engine,
    sqlite_engine,
    store_url,
    supported_url,
)
from mimo.feedback.errors import (
    UNAVAILABLE,
    DuplicateExample,
    FeedbackError,
    StoreFull,
    StoreUnavailable,
    postgresql_failure,
    sqlite_failure,
)
from mimo.feedback.rows import (
    GREY_SHAPE,
    MAX_ORIGINAL_BYTES,
    RGB_SHAPE,
    checked_digit,
    checked_row,
    imported_rows,
    pictures,
)
from mimo.feedback.schema import examples_table, migrate

MAX_MB_ENV = "MIMO_FEEDBACK_MAX_MB"  # the cap on the whole collection's size, in MB
DEFAULT_MAX_MB = 200  # that cap when the variable is not set
BYTES_PER_MB = 1024 * 1024  # the cap is set in MB and counted in bytes
IMPORT_CHUNK = 500  # rows per query when an import looks for pictures already saved


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
# The collection's size cap


def max_bytes_from(env: Mapping[str, str]) -> int:
    """The collection's size cap in bytes: MIMO_FEEDBACK_MAX_MB, else DEFAULT_MAX_MB."""
    text = env.get(MAX_MB_ENV, "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_MAX_MB
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes > 0):
        raise StoreUnavailable(
            f"{UNAVAILABLE}: {MAX_MB_ENV} must be a number of megabytes, not {text!r}."
        )
    return int(megabytes * BYTES_PER_MB)


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
                migrate(self._engine, self._writer, self._kind, self._location)
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
        grey = pictures([row.grey for row in rows], GREY_SHAPE)
        return collection_arrays(rows, grey, pictures([row.rgb for row in rows], RGB_SHAPE))

    # --- inside ----------------------------------------------------------------------------

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
            raise StoreUnavailable(f"{UNAVAILABLE}: {self._why(error)}") from error

    def _why(self, error: Exception) -> str:
        if isinstance(error, DBAPIError):
            error = error.orig  # the driver's own exception, with its error code
        if self._kind == "sqlite":
            return sqlite_failure(error, self._path, BUSY_TIMEOUT_S)
        return postgresql_failure(error, self._location)


# ---------------------------------------------------------------------------------------------
# Rows back as examples, and the queries the methods share


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


def arrays_of(examples: Sequence[Example]) -> CollectionArrays:
    """The same rows as arrays, oldest first: for a page that has read them as examples already
    (FeedbackStore.arrays reads only the columns the arrays need)."""
    rows = sorted(examples, key=lambda example: example.id)
    grey = np.array([row.grey for row in rows], dtype=np.uint8).reshape(-1, *GREY_SHAPE)
    rgb = np.array([row.rgb for row in rows], dtype=np.uint8).reshape(-1, *RGB_SHAPE)
    return collection_arrays(rows, grey, rgb)


def collection_arrays(rows, grey: np.ndarray, rgb: np.ndarray) -> CollectionArrays:
    """CollectionArrays from rows in order (database rows or Examples: anything with id, label,
    ink, number, digest and source) and their pictures, already as (N, ...) uint8 arrays."""
    return CollectionArrays(
        ids=np.array([row.id for row in rows], dtype=np.int64),
        labels=np.array([row.label for row in rows], dtype=np.uint8),
        grey=grey,
        rgb=rgb,
        inks=[row.ink for row in rows],
        numbers=np.array([row.number for row in rows], dtype=np.uint8),
        digests=[row.digest for row in rows],
        sources=[row.source for row in rows],
    )


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


__all__ = [
    "MAX_ORIGINAL_BYTES",
    "CollectionArrays",
    "Example",
    "FeedbackStore",
    "NewExample",
    "SaveResult",
    "arrays_of",
    "max_bytes_from",
    "store_url",
]
