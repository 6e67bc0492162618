"""The Alembic history as a whole, on SQLite and PostgreSQL: one head; an empty database brought
to it (by the bot, or by `alembic upgrade head` from the command line) has exactly the tables,
columns, indexes and constraints of the models; and 0005 turns each old membership row into a
stay and back without losing one."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import SQLModel

from bot.services.identities import OUTSIDE_TELEGRAM, external_of, number_of
from storage.db import MIGRATIONS_DIR, Database

ROOT = Path(__file__).resolve().parents[2]
HEAD = "0013_recorded_at_indexes"


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_url")


def alembic_config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def test_the_history_has_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(None))
    assert script.get_heads() == [HEAD]


def test_the_migrations_build_exactly_the_models(empty_url: str) -> None:
    """Autogenerate finds nothing to add, drop or alter in any table."""
    db = Database(empty_url)
    try:
        db.migrate()
        assert differences(db) == []
    finally:
        db.dispose()


def test_alembic_upgrade_head_from_the_command_line(empty_url: str) -> None:
    """The operator's way: alembic.ini in the project folder, DATABASE_URL in the environment."""
    environment = {**os.environ, "DATABASE_URL": empty_url}
    done = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    current = subprocess.run([sys.executable, "-m", "alembic", "current"], cwd=ROOT,
                             env=environment, capture_output=True, text=True, timeout=120)
    assert f"{HEAD} (head)" in current.stdout
    db = Database(empty_url)
    try:
        assert differences(db) == []
    finally:
        db.dispose()


def at(day: int) -> datetime:
    return datetime(2026, 3, day, 8, 0, tzinfo=UTC)


OLD_ROWS = [  # (chat_id, user_id, joined_at, left_at) in the one-row-per-member shape of 0004
    (-1001, 2, at(1), None),
    (-1001, 3, at(2), at(9)),
    (-1002, 2, at(3), None),
]


def stays(db: Database, table: str) -> set[tuple[int, int, datetime, datetime | None]]:
    with db.engine.connect() as connection:
        rows = connection.execute(text(
            f"SELECT chat_id, user_id, joined_at, left_at FROM {table}")).all()
    return {(c, u, _utc(j), _utc(left)) for c, u, j, left in rows}


def _utc(value: datetime | str | None) -> datetime | None:
    """SQLite hands back text, PostgreSQL a datetime: both as an aware UTC datetime."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_membership_rows_become_stays_and_back(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        with db.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0004_one_history")
        with db.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO branchmember (chat_id, user_id, joined_at, left_at) "
                     "VALUES (:c, :u, :j, :l)"),
                [{"c": c, "u": u, "j": j, "l": left} for c, u, j, left in OLD_ROWS])
        db.migrate()
        assert stays(db, "branchmembership") == set(OLD_ROWS)
        with db.engine.begin() as connection:  # 3 came back: a second stay, open
            connection.execute(text(
                "INSERT INTO branchmembership (chat_id, user_id, joined_at) VALUES (-1001, 3, :j)"
            ), {"j": at(20)})
        with db.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0004_one_history")
        # the old shape keeps the first join, open again: what it recorded for a return
        assert stays(db, "branchmember") == {*OLD_ROWS[::2], (-1001, 3, at(2), None)}
    finally:
        db.dispose()


def test_existing_reminders_are_numbered_from_one_in_each_chat(empty_url: str) -> None:
    """0007: a secretary's reminders keep their order and are #1, #2… in each chat; the system
    digest gets no number."""
    db = Database(empty_url)
    insert = text(
        "INSERT INTO reminder (id, chat_id, scope, kind, text, rule, spec, active, created_at, "
        "updated_at, system_key) VALUES (:id, :chat, 'chat', 'notice', 't', 'r', '{}', true, "
        ":at, :at, :key)")
    try:
        with db.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0006_inbound_updates")
        with db.engine.begin() as connection:
            connection.execute(insert, [
                {"id": 1, "chat": 0, "at": at(1), "key": "duty-digest"},
                {"id": 2, "chat": -1001, "at": at(1), "key": None},
                {"id": 3, "chat": -1002, "at": at(1), "key": None},
                {"id": 4, "chat": -1001, "at": at(1), "key": None},
            ])
        db.migrate()
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, number FROM reminder ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [(1, None), (2, 1), (3, 1), (4, 2)]
    finally:
        db.dispose()


def test_telegram_rows_keep_their_keys_when_other_platforms_arrive(empty_url: str) -> None:
    """0011: the branches, members and records written for Telegram stay as they were (a
    Telegram id is its own number), and another platform's ids get numbers beside them."""
    db = Database(empty_url)
    try:
        with db.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0010_reminder_numbers")
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO chat (id, title, type, reachable, created_at, branch_name) "
                "VALUES (-1001234567890, '一支部群', 'supergroup', true, :at, '第一支部'), "
                "(777000111, '', 'private', true, :at, NULL)"), {"at": at(1)})
            connection.execute(text(
                "INSERT INTO member (id, display_name, created_at) VALUES (777000111, '张三', :at)"),
                {"at": at(1)})
            connection.execute(text(
                "INSERT INTO rolegrant (chat_id, user_id, role, granted_by, created_at) "
                "VALUES (-1001234567890, 777000111, 'secretary', 1, :at)"), {"at": at(1)})
        db.migrate()
        with db.engine.connect() as connection:
            chats = connection.execute(text("SELECT id, branch_name FROM chat ORDER BY id")).all()
            grants = connection.execute(text("SELECT chat_id, user_id FROM rolegrant")).all()
        assert [tuple(r) for r in chats] == [(-1001234567890, "第一支部"), (777000111, None)]
        assert [tuple(r) for r in grants] == [(-1001234567890, 777000111)]
        with db.session() as session:
            assert external_of(session, -1001234567890) == ("telegram", "-1001234567890")
            assert number_of(session, "telegram", "777000111", group=False) == 777000111
            group = number_of(session, "feishu", "oc_abc", group=True)
            person = number_of(session, "feishu", "ou_abc", group=False)
            assert group < -OUTSIDE_TELEGRAM < OUTSIDE_TELEGRAM < person
            assert number_of(session, "feishu", "oc_abc", group=True) == group
            assert external_of(session, person) == ("feishu", "ou_abc")
    finally:
        db.dispose()
