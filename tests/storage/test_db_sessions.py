"""The kinds of session on SQLite and PostgreSQL: a transaction that an error undoes whole,
and the autocommit sessions of the hot paths, where each statement stands on its own; the
awaited one lets the event loop run other work during a database server's round trips."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
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


@pytest.mark.postgres
async def test_an_awaited_rule_does_not_block_the_event_loop_on_postgresql(
    postgres_url: str,
) -> None:
    """Five rules that each wait 0.3 s on the server take about 0.3 s together, and a timer
    keeps ticking meanwhile: on a blocked loop they would take 1.5 s and the timer none."""
    database = Database(postgres_url)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    def wait_on_server(session: Session) -> None:
        session.connection().execute(text("SELECT pg_sleep(0.3)"))

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    await asyncio.gather(*(database.autocommit_async(wait_on_server) for _ in range(5)))
    took = time.monotonic() - started
    ticker.cancel()
    await database.close()
    assert took < 1.0
    assert ticks >= 10


@pytest.mark.postgres
async def test_a_postgresql_url_without_a_driver_gets_the_installed_one(postgres_url: str) -> None:
    """postgres:// as hosting panels write it (SQLAlchemy alone would want psycopg2)."""
    database = Database(postgres_url.replace("postgresql+psycopg://", "postgres://", 1))
    with database.session() as session:
        assert session.connection().execute(text("SELECT 1")).scalar_one() == 1
    assert await database.autocommit_async(
        lambda session: session.connection().execute(text("SELECT 2")).scalar_one()) == 2
    await database.close()
