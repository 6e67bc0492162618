"""Shared fixtures: databases (SQLite in memory, PostgreSQL when TEST_DATABASE_URL is set),
services and a real Application wired to the recording in-process Bot API."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.config import Settings
from storage.db import Database


def _fresh_postgres_database() -> Iterator[str]:
    """Create a database of our own with a random name and drop it afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"dj_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database."""
    yield from _fresh_postgres_database()


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database shared by a module's tests (an end-to-end module's
    bot process)."""
    yield from _fresh_postgres_database()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database: SQLite in memory, then the same test on PostgreSQL."""
    if request.param == "sqlite":
        database = Database("sqlite://")
        database.migrate()
        yield database
        database.dispose()
        return
    for url in _fresh_postgres_database():
        database = Database(url)
        database.migrate()
        yield database
        database.dispose()


@pytest.fixture
def sqlite_db() -> Iterator[Database]:
    """A migrated in-memory SQLite database (for tests that need only one backend)."""
    database = Database("sqlite://")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a temporary SQLite file and the shipped sample plan, no token."""
    return Settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'dangjian.db'}",
        DANGJIAN_ADMINS="900",
        _env_file=None,
    )


@pytest.fixture
def fixed_now() -> datetime:
    return datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
