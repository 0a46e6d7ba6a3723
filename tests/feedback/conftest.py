"""Feedback store fixtures: a fresh store per test on each engine, SQLite and PostgreSQL.

PostgreSQL comes from MIMO_TEST_DATABASE_URL (.ci/run starts a local server and sets it). Each
test gets a schema of its own, dropped afterwards. Without the variable the PostgreSQL tests
skip, except in CI (CI set), where they fail: CI must run them.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from mimo.feedback.store import FeedbackStore

POSTGRESQL_URL_ENV = "MIMO_TEST_DATABASE_URL"  # a PostgreSQL database the tests may fill
ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgresql_admin():
    """An engine on the test database, for making and dropping the tests' schemas."""
    url = os.environ.get(POSTGRESQL_URL_ENV)
    if not url:
        reason = f"{POSTGRESQL_URL_ENV} is not set: no PostgreSQL server to test against"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests (see .ci/run).")
        pytest.skip(reason)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture()
def postgresql_url(postgresql_admin):
    """The test database's URL with a fresh, empty schema first on its search path."""
    schema = f"mimo_test_{uuid.uuid4().hex}"
    with postgresql_admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))  # a name made here, never input
    url = postgresql_admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with postgresql_admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture()
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"


@pytest.fixture(params=ENGINES)
def store_url(request):
    """A URL for a new, empty store, once per engine."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture()
def store(store_url):
    with FeedbackStore(store_url) as opened:
        yield opened
