"""The kinds of session on SQLite and PostgreSQL: a transaction that an error undoes whole,
and the autocommit sessions of the hot paths, where each statement stands on its own; the
awaited ones let the event loop run other work meanwhile; and closing the pools from plain code
whether or not an event loop runs."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

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


async def test_an_awaited_autocommit_rule_keeps_each_statement_and_returns_its_value(
    probe: Database,
) -> None:
    def rule(session: Session) -> int:
        session.connection().execute(INSERT, {"n": 1})
        return int(session.connection().execute(text("SELECT COUNT(*) FROM probe")).scalar_one())

    assert await probe.autocommit_async(rule) == 1

    def failing(session: Session) -> None:
        session.connection().execute(INSERT, {"n": 2})
        session.connection().execute(INSERT, {"n": 1})

    with pytest.raises(IntegrityError):
        await probe.autocommit_async(failing)
    assert numbers(probe) == [1, 2]


async def test_an_awaited_rule_commits_whole_or_not_at_all(probe: Database) -> None:
    def rule(session: Session) -> int:
        session.connection().execute(INSERT, {"n": 1})
        return int(session.connection().execute(text("SELECT COUNT(*) FROM probe")).scalar_one())

    assert await probe.run(rule) == 1

    def failing(session: Session) -> None:
        session.connection().execute(INSERT, {"n": 2})
        session.connection().execute(INSERT, {"n": 1})

    with pytest.raises(IntegrityError):
        await probe.run(failing)
    assert numbers(probe) == [1]


@pytest.mark.parametrize("kind", ["run", "autocommit_async"])
async def test_an_awaited_rule_leaves_the_event_loop_free(tmp_path: Path, kind: str) -> None:
    """A rule held up inside the database (on a server: a lock another connection holds; on a
    SQLite file: a thread that waits) is released by a coroutine on the same event loop: had
    the rule blocked the loop, that coroutine could never run. No wall-time bound: the rule's
    own wait ends it with an error if the loop never frees it."""
    database = Database(f"sqlite:///{tmp_path / 'held.db'}")
    waiting, release = threading.Event(), threading.Event()

    def held_up(session: Session) -> bool:
        session.connection().execute(text("SELECT 1"))
        waiting.set()
        return release.wait(30)  # False: nobody on the loop released it

    rule = asyncio.ensure_future(getattr(database, kind)(held_up))
    await asyncio.to_thread(waiting.wait, 30)
    release.set()  # this line runs only if the loop is free while the rule waits
    assert await rule is True
    await database.close()


def until_a_lock_is_awaited(connection: Connection) -> None:
    awaited = text("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    while not connection.execute(awaited).scalar_one():
        time.sleep(0.01)


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["run", "autocommit_async"])
async def test_an_awaited_rule_leaves_the_event_loop_free_on_postgresql(
    postgres_url: str, kind: str,
) -> None:
    database = Database(postgres_url)
    holder = create_engine(postgres_url, poolclass=NullPool)
    with holder.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(4242)"))

        def held_up(session: Session) -> int:
            session.connection().execute(text("SET lock_timeout = '30s'"))
            session.connection().execute(text("SELECT pg_advisory_lock(4242)"))
            return int(session.connection().execute(text("SELECT 7")).scalar_one())

        rule = asyncio.ensure_future(getattr(database, kind)(held_up))
        await asyncio.to_thread(until_a_lock_is_awaited, other)
        other.execute(text("SELECT pg_advisory_unlock(4242)"))  # from the loop the rule waits on
        assert await rule == 7
    holder.dispose()
    await database.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_dispose_from_inside_a_running_event_loop(backend: str, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
    """Plain shutdown code called from a coroutine (a bench, a runner) closes every pooled
    connection, the awaited ones too, without asyncio.run's error inside a running loop."""
    url = (f"sqlite:///{tmp_path / 'closing.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    database = Database(url)
    assert await database.run(lambda session: session.connection().execute(
        text("SELECT 1")).scalar_one()) == 1
    assert await database.autocommit_async(lambda session: session.connection().execute(
        text("SELECT 2")).scalar_one()) == 2
    database.dispose()
    if backend == "postgres":
        name = make_url(url).database
        observer = create_engine(url, poolclass=NullPool)
        with observer.connect() as connection:
            others = connection.execute(text(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = :name "
                "AND pid <> pg_backend_pid()"), {"name": name}).scalar_one()
        observer.dispose()
        assert others == 0  # the pools' connections are closed
    database.dispose()  # and twice is harmless
    await database.close()


@pytest.mark.postgres
async def test_a_postgresql_url_without_a_driver_gets_the_installed_one(postgres_url: str) -> None:
    """postgres:// as hosting panels write it (SQLAlchemy alone would want psycopg2)."""
    database = Database(postgres_url.replace("postgresql+psycopg://", "postgres://", 1))
    with database.session() as session:
        assert session.connection().execute(text("SELECT 1")).scalar_one() == 1
    assert await database.autocommit_async(
        lambda session: session.connection().execute(text("SELECT 2")).scalar_one()) == 2
    await database.close()
