"""Migrations from an empty database to head (and back) on SQLite and PostgreSQL, and the
attendance tables they create match the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Table, inspect
from sqlmodel import SQLModel

from storage.db import MIGRATIONS_DIR, Database

TABLES = {"activity", "attendance", "branchmembership", "leaverequest", "studytask", "studyrecord"}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_url")


def _tables(diff: object) -> set[str]:
    """The tables an autogenerate difference concerns."""
    names = set()
    for item in diff if isinstance(diff, list) else [diff]:
        for part in item[1:]:  # type: ignore[index]
            if isinstance(part, str):
                names.add(part)
            elif isinstance(part, Table):
                names.add(part.name)
            elif isinstance(getattr(part, "table", None), Table):
                names.add(part.table.name)
    return names


def _differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    return [d for d in diffs if _tables(d) & TABLES]


def test_empty_to_head_matches_the_models(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        db.migrate()
        names = set(inspect(db.engine).get_table_names())
        assert names >= TABLES | {"alembic_version"}
        uniques = {
            table: {tuple(u["column_names"]) for u in inspect(db.engine).get_unique_constraints(table)}
            for table in ("attendance", "studyrecord")
        }
        assert ("activity_id", "user_id") in uniques["attendance"]
        assert ("task_id", "user_id") in uniques["studyrecord"]
        assert _differences(db) == []
        db.migrate()  # again: nothing to do
    finally:
        db.dispose()


def test_downgrade_removes_only_the_attendance_tables(empty_url: str) -> None:
    db = Database(empty_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        db.migrate()
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0002_attendance@0001")
        names = set(inspect(db.engine).get_table_names())
        assert not names & TABLES
        assert {"member", "chat", "auditlog"} <= names
        assert {t for d in _differences(db) for t in _tables(d)} == TABLES
        db.migrate()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
    finally:
        db.dispose()
