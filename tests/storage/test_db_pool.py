"""PostgreSQL connections: a server that never answers a new one fails it within the connect
timeout; a pooled one the server dropped while it sat idle is replaced before a
request sees it; one in steady use is not tested on every checkout."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

import storage.db
from storage.db import Database


def backend_pid(database: Database) -> int:
    with database.session() as session:
        return int(session.connection().execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(database: Database, pid: int) -> None:
    """What a server restart does to a pooled connection (from a connection outside the pool)."""
    admin = create_engine(database.engine.url, poolclass=NullPool)
    with admin.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        other.commit()
    admin.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> tuple[Database, list[Any]]:
    database = Database(postgres_url)
    calls: list[Any] = []
    ping = type(database.engine.dialect).do_ping

    def counted(dialect: Any, dbapi_connection: Any) -> bool:
        calls.append(dbapi_connection)
        return ping(dialect, dbapi_connection)

    monkeypatch.setattr(type(database.engine.dialect), "do_ping", counted)
    yield database, calls
    database.dispose()


def test_a_connection_dropped_while_idle_is_replaced_unseen(
    pings: tuple[Database, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    database, calls = pings
    first = backend_pid(database)
    monkeypatch.setattr(storage.db, "IDLE_BEFORE_PING", 0.0)  # every returned one counts idle
    terminate(database, first)
    assert backend_pid(database) != first  # no error: tested, found dead, replaced
    assert calls


def test_connections_in_steady_use_are_not_pinged(pings: tuple[Database, list[Any]]) -> None:
    database, calls = pings
    for _ in range(20):
        backend_pid(database)
    assert calls == []


async def test_an_awaited_session_replaces_a_connection_dropped_while_idle(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(postgres_url)

    def pid(session: Any) -> int:
        return int(session.connection().execute(text("SELECT pg_backend_pid()")).scalar_one())

    first = await database.autocommit_async(pid)
    monkeypatch.setattr(storage.db, "IDLE_BEFORE_PING", 0.0)
    terminate(database, first)
    assert await database.autocommit_async(pid) != first  # tested, found dead, replaced
    await database.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A PostgreSQL URL whose server takes the TCP connection and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"postgresql+psycopg://nobody@127.0.0.1:{listener.getsockname()[1]}/db"


@pytest.mark.parametrize("awaited", [False, True])
async def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    silent_server: str, monkeypatch: pytest.MonkeyPatch, awaited: bool
) -> None:
    """The driver gives up by its connect timeout and says so; without one it would wait for
    ever (the outer wait is only a net under the test, never reached when the timeout works)."""
    monkeypatch.setattr(storage.db, "CONNECT_TIMEOUT", 1)
    database = Database(silent_server)
    attempt = (database.autocommit_async(lambda session: session.connection()) if awaited
               else asyncio.to_thread(backend_pid, database))
    with pytest.raises(OperationalError, match="timeout expired"):  # a TimeoutError: a hang
        await asyncio.wait_for(attempt, 60)
    await database.close()
