"""Where the feedback store lives, and the engine that reaches it.

One code path, SQLAlchemy Core with bound parameters only, serves two engines:

- SQLite by default: the file feedback.sqlite3 in MIMO_DATA_DIR, else in the registry folder.
  The file is in WAL mode (readers go on while one writer writes), and every write transaction
  begins IMMEDIATE: it takes the write lock before it reads, waiting up to BUSY_TIMEOUT_S for
  it, so Streamlit sessions and processes that save at once queue up instead of failing with
  "database is locked". (SQLAlchemy's recipe for pysqlite: the driver's own BEGIN is switched
  off and the store emits its own.)
- PostgreSQL when MIMO_DATABASE_URL names it, so that several replicas share one collection.

A URL the store cannot use is refused here, as a StoreUnavailable sentence.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from mimo.config import registry_dir
from mimo.feedback.errors import UNAVAILABLE, StoreUnavailable

DATABASE_URL_ENV = "MIMO_DATABASE_URL"  # a SQLAlchemy URL: when set, the store lives there
DATA_DIR_ENV = "MIMO_DATA_DIR"  # else the SQLite file is in this folder (else the registry's)
SQLITE_FILE_NAME = "feedback.sqlite3"  # the default store's file name in that folder
BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for another writer's lock
CONNECT_TIMEOUT_S = 5  # how long a PostgreSQL connection attempt waits for the server
POSTGRESQL_DRIVER = "postgresql+psycopg"  # the driver for "postgresql://" URLs (psycopg 3)
SUPPORTED_DRIVERS = ("sqlite", "sqlite+pysqlite", POSTGRESQL_DRIVER)
# The execution option that says how a SQLite transaction begins (a constant below, never input).
BEGIN_OPTION = "mimo_sqlite_begin"
READ_BEGIN, WRITE_BEGIN = "BEGIN", "BEGIN IMMEDIATE"


def store_url(env: Mapping[str, str] = os.environ) -> str:
    """MIMO_DATABASE_URL when set, else the SQLite file in MIMO_DATA_DIR or the registry."""
    url = env.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    folder = Path(env.get(DATA_DIR_ENV) or registry_dir())
    return URL.create("sqlite", database=str(folder / SQLITE_FILE_NAME)).render_as_string()


def supported_url(url: str) -> URL:
    """The parsed URL, when it names a SQLite file or a PostgreSQL database (psycopg 3)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # `from None`: the unreadable URL may hold a password; it stays out of logs too.
        raise StoreUnavailable(
            f"{UNAVAILABLE}: the database URL is not one SQLAlchemy can read "
            f"(check {DATABASE_URL_ENV})."
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=POSTGRESQL_DRIVER)
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise StoreUnavailable(
            f"{UNAVAILABLE}: the database URL names {parsed.drivername!r}; the store "
            f"works with SQLite files and PostgreSQL ({POSTGRESQL_DRIVER}) only."
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise StoreUnavailable(
            f"{UNAVAILABLE}: a SQLite store needs a file (sqlite:///PATH), not memory."
        )
    return parsed


def sqlite_engine(url: URL, path: Path):
    """A SQLite engine in WAL mode whose transactions begin as BEGIN_OPTION says."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreUnavailable(
            f"{UNAVAILABLE}: the folder {path.parent} cannot be created ({error.strerror})."
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
