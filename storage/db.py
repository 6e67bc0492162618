"""Engine, sessions and migrations; SQLite (WAL, busy timeout) by default, PostgreSQL alike."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_DATABASE_URL = "sqlite:///data/dangjian.db"
"""Relative to the working directory, created on first use."""
IDLE_BEFORE_PING = 1.0
"""Seconds a pooled server connection may sit unused before it is tested on its way out: the
server may have restarted meanwhile. pool_pre_ping tests every checkout, one more blocking
round trip per tap on the event loop; under load connections come back within milliseconds and
are not tested."""

CONNECT_TIMEOUT = 5
"""Seconds a database server gets to accept a new connection. One that hangs (a network cut,
not a refusal) would otherwise hold a member's request, and a slot of the bot, for minutes."""


def with_installed_driver(url: str) -> str:
    """A PostgreSQL URL without a driver (postgres://, postgresql://, as hosting panels give
    them) names psycopg 3, the driver installed; SQLAlchemy would look for psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def create_db_engine(url: str) -> Engine:
    """Build an engine; SQLite files get their folder created, WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_size=10, max_overflow=20,
                               connect_args=_server_connect_args(url))
        _ping_when_idle(engine)
        return engine
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if in_memory:
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
    else:
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _server_connect_args(url: str) -> dict[str, Any]:
    """CONNECT_TIMEOUT for psycopg, unless the URL sets its own ?connect_timeout=."""
    parsed = make_url(url)
    if parsed.drivername != "postgresql+psycopg" or "connect_timeout" in parsed.query:
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT}


def _ping_when_idle(engine: Engine) -> None:
    """Test a connection before use when it has been idle IDLE_BEFORE_PING; a dead one is
    replaced by a new connection (the pool retries a checkout refused with DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the driver raises for a connection gone away
            raise DisconnectionError(f"pooled connection lost: {exc}") from exc


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic; one history, one head)."""
    from alembic import command  # imported here: a read-only start (`dangjian ask`) skips it
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    """The one engine of a process and short sessions on it.

    Code on the event loop awaits `run` (or `autocommit_async`) and never opens a session
    itself: a database server's round trips are awaited, and SQLite, whose calls block, works
    in a thread. `session()` and `autocommit()` are for code that runs no event loop (commands,
    worker threads, tests).
    """

    def __init__(self, url: str) -> None:
        self.url = url = with_installed_driver(url)
        self.engine = create_db_engine(url)
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # An in-memory database is one connection (StaticPool) that every session shares: a
        # session in a worker thread (`run`) and one in another thread take turns, or their
        # transactions would mix. A thread may nest sessions (the lock is reentrant).
        self._turn: AbstractContextManager[Any] = (
            threading.RLock() if isinstance(self.engine.pool, StaticPool) else nullcontext())
        self._worker: ThreadPoolExecutor | None = None  # SQLite's, started on first use
        self._async_engine: AsyncEngine | None = None
        self._async_autocommit: AsyncEngine | None = None
        if self.engine.url.drivername == "postgresql+psycopg":  # other servers: in a thread
            self._async_engine = create_async_engine(
                url, pool_size=10, max_overflow=10, connect_args=_server_connect_args(url))
            # one pool: psycopg switches autocommit on the client, no round trip
            self._async_autocommit = self._async_engine.execution_options(
                isolation_level="AUTOCOMMIT")
            _ping_when_idle(self._async_engine.sync_engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        migrate(self.engine)

    def has_schema(self) -> bool:
        """Whether migrations have ever run here (a reader need not migrate an existing one)."""
        return inspect(self.engine).has_table("alembic_version")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self._turn, Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def autocommit(self) -> Iterator[Session]:
        """A session whose statements each commit on their own: no BEGIN and COMMIT, two round
        trips fewer on a database server. For reads, and for rules whose every write stands
        alone (an upsert, one update) and that tolerate another writer between their reads."""
        with self._turn, Session(self._autocommit_engine, expire_on_commit=False) as session:
            yield session
            session.commit()  # flushes what the ORM holds, each statement committing itself

    async def run(self, rule: Callable[[Session], T]) -> T:
        """`rule(session)` in one transaction (committed when it returns, rolled back when it
        raises) without blocking the event loop: on a database server the rule's plain code
        runs in a greenlet and every round trip is awaited (SQLAlchemy's asyncio extension);
        on SQLite it runs in the database's worker thread."""
        if self._async_engine is None:
            return await self._in_thread(self.session, rule)
        return await self._awaited(self._async_engine, rule)

    async def autocommit_async(self, rule: Callable[[Session], T]) -> T:
        """`rule(session)` as `run` does, in an autocommit session (see `autocommit`): for the
        hot paths, where the commits of concurrent rules then overlap on the server."""
        if self._async_autocommit is None:
            return await self._in_thread(self.autocommit, rule)
        return await self._awaited(self._async_autocommit, rule)

    async def _in_thread(self, opening: Callable[[], AbstractContextManager[Session]],
                         rule: Callable[[Session], T]) -> T:
        """The rule in this database's one worker thread. One, not a pool: SQLite takes one
        writer at a time, and writers of one process waiting on each other would sleep in
        its busy handler (milliseconds, then tens of them) where one thread simply queues."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="sqlite")

        def in_session() -> T:
            with opening() as session:
                return rule(session)

        return await asyncio.get_running_loop().run_in_executor(self._worker, in_session)

    @staticmethod
    async def _awaited(engine: AsyncEngine, rule: Callable[[Session], T]) -> T:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            # run_sync passes session.sync_session, which is sqlmodel's Session
            result = await session.run_sync(rule)  # type: ignore[arg-type]
            await session.commit()
            return result

    async def close(self) -> None:
        """Close every pooled connection, the awaited ones on the running event loop, and let
        the worker thread go (a later rule starts another)."""
        if self._async_engine is not None:
            await self._async_engine.dispose()
        self.engine.dispose()
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None

    def dispose(self) -> None:
        """Close every pooled connection, from plain code, whether or not an event loop runs in
        this thread: inside one (a coroutine that calls plain shutdown code) the awaited pool is
        closed on a loop of its own in a helper thread, as psycopg closes a connection without
        waiting on its loop; `await close()` is the way when the caller can await."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.close())
            return
        with ThreadPoolExecutor(1, thread_name_prefix="db-dispose") as helper:
            helper.submit(asyncio.run, self.close()).result()
