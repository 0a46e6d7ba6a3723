"""The feedback store's tables, its schema version and the steps that migrate it.

The schema has a version (table feedback_schema) and an ordered list of migration steps:
opening an older store brings it up to date, and a store written by a newer mimo is refused.
"""

from __future__ import annotations

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
    func,
    insert,
    inspect,
    select,
    update,
)

from mimo.feedback.errors import UNAVAILABLE, StoreUnavailable
from mimo.feedback.rows import DIGEST_BYTES

MIGRATION_LOCK = 0x6D696D6F  # PostgreSQL advisory lock: one process migrates at a time

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


def migrate(engine, writer, kind: str, location: str) -> None:
    """Bring the schema to the code's version; refuse a store from a newer mimo. `writer` is the
    engine's view whose transactions take the write lock; `kind` is "sqlite" or "postgresql";
    `location` names the database in the refusal."""
    latest = len(MIGRATIONS)
    with engine.connect() as conn:
        version = schema_version(conn)
    if version == latest:
        return
    with writer.begin() as conn:
        if kind == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        version = schema_version(conn)  # another process may have migrated meanwhile
        if version > latest:
            raise StoreUnavailable(
                f"{UNAVAILABLE}: the database {location} was written by a "
                f"newer mimo (schema version {version}; this one knows up to {latest}). "
                "Update mimo, or point MIMO_DATABASE_URL at another database."
            )
        if version == 0:
            metadata.create_all(conn, tables=[schema_table])
            conn.execute(insert(schema_table).values(version=0))
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(update(schema_table).values(version=latest))
