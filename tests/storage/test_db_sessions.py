"""The two kinds of session on SQLite and PostgreSQL: a transaction that an error undoes whole,
and the autocommit session of the hot paths, where each statement stands on its own."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.db import Database

INSERT = text("INSERT INTO probe (n) VALUES (:n)")


@pytest.fixture
def probe(db: Database) -> Database:
    with db.session() as session:
        session.connection().execute(text("CREATE TABLE probe (n INTEGER PRIMARY KEY)"))
    return db


def numbers(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.connection().execute(text("SELECT n FROM probe ORDER BY n")).scalars())


def test_a_session_is_undone_whole_by_an_error(probe: Database) -> None:
    with pytest.raises(IntegrityError), probe.session() as session:
        session.connection().execute(INSERT, {"n": 1})
        session.connection().execute(INSERT, {"n": 1})
    assert numbers(probe) == []


def test_in_an_autocommit_session_each_statement_stands_alone(probe: Database) -> None:
    with pytest.raises(IntegrityError), probe.autocommit() as session:
        session.connection().execute(INSERT, {"n": 1})
        session.connection().execute(INSERT, {"n": 1})
    assert numbers(probe) == [1]  # the first insert was kept: it had committed itself


def test_a_pooled_connection_leaves_autocommit_behind(probe: Database) -> None:
    """After autocommit sessions the same pooled connections run whole transactions again."""
    for n in (1, 2, 3):
        with probe.autocommit() as session:
            session.connection().execute(INSERT, {"n": n})
    with pytest.raises(IntegrityError), probe.session() as session:
        session.connection().execute(INSERT, {"n": 4})
        session.connection().execute(INSERT, {"n": 1})
    assert numbers(probe) == [1, 2, 3]
