"""Two `dangjian run` replicas on one PostgreSQL database against the fake Bot API (which enforces
Telegram's flood limits): exactly one sends reminders; when it is SIGKILLed the other takes over
within 30 s, sends what fell due in between once, and nothing is sent twice or lost."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botproc import BotProcess
from fake_bot_api import FakeBotApi
from sqlmodel import select

from content.timerules import TimeRule
from storage.db import Database
from storage.models import Chat, Delivery, Reminder, SchedulerLease

BRANCH = -100777
GROUPS = [-200000 - n for n in range(40)]
TAKEOVER_LIMIT = 30.0


def add_once(db: Database, at: datetime, text: str, scope: str = "chat") -> int:
    rule = TimeRule(kind="once", label=f"{at:%H:%M:%S}", at=at)
    with db.session() as session:
        row = Reminder(chat_id=BRANCH, scope=scope, kind="notice", text=text, rule=rule.label,
                       spec=json.dumps(rule.to_spec()), created_by=1,
                       created_at=datetime.now(UTC), updated_at=datetime.now(UTC))
        session.add(row)
        session.flush()
        return row.id or 0


def holder(db: Database) -> str:
    with db.session() as session:
        lease = session.get(SchedulerLease, "reminders")
        return lease.holder if lease and lease.expires_at > datetime.now(UTC) else ""


def wait_until(condition, limit: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)
    return time.monotonic() - started


@pytest.mark.slow
def test_failover_sends_every_reminder_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    db = Database(postgres_url)
    db.migrate()
    with db.session() as session:
        for chat_id in [BRANCH, *GROUPS]:
            session.add(Chat(id=chat_id, title=f"支部{-chat_id}", type="supergroup"))
    with FakeBotApi(enforce_limits=True) as api:
        first = BotProcess(api, tmp_path / "a", database_url=postgres_url)
        second = BotProcess(api, tmp_path / "b", database_url=postgres_url)
        for process in (first, second):
            process.workdir.mkdir()
        first.start()
        wait_until(lambda: holder(db).split(":")[1:2] == [str(first.process.pid)], 15)
        second.start()
        start = datetime.now(UTC)
        before = [add_once(db, start + timedelta(seconds=s), f"换届前提醒{s}") for s in (3, 5)]
        wait_until(lambda: len(api.calls_of("sendMessage")) >= 2, 20)

        first.kill()
        killed = time.monotonic()
        gap = datetime.now(UTC)
        during = [add_once(db, gap + timedelta(seconds=s), f"停机期间提醒{s}") for s in (2, 8, 14)]
        broadcast = add_once(db, gap + timedelta(seconds=5), "全体支部注意", scope="branches")
        took = wait_until(lambda: holder(db).split(":")[1:2] == [str(second.process.pid)], 40)
        print(f"takeover {time.monotonic() - killed:.1f}s after SIGKILL")
        assert time.monotonic() - killed <= TAKEOVER_LIMIT, took
        after = [add_once(db, datetime.now(UTC) + timedelta(seconds=3), "接管后提醒")]

        expected = len(before) + len(during) + len(after) + len(GROUPS) + 1
        wait_until(lambda: len(api.calls_of("sendMessage")) >= expected, 40)
        time.sleep(2)  # anything extra would show up now
        assert second.stop() == 0, second.log()[-3000:]

    sends = [(c.chat_id, c.text) for c in api.calls_of("sendMessage")]
    assert len(sends) == expected == len(set(sends)), api.duplicate_sends()
    texts = [text for _, text in sends]
    for rid_text in ("换届前提醒3", "换届前提醒5", "停机期间提醒2", "停机期间提醒8", "停机期间提醒14",
                     "接管后提醒"):
        assert texts.count(f"⏰ 提醒：{rid_text}") == 1, rid_text
    assert sorted(c for c, t in sends if t == "⏰ 提醒：全体支部注意") == sorted([*GROUPS, BRANCH])
    assert api.rejected == [] and api.violations == []  # no 429 provoked
    with db.session() as session:
        statuses = set(session.exec(select(Delivery.status).where(
            Delivery.reminder_id.in_([*before, *during, broadcast, *after]))).all())
    assert statuses == {"sent"}
    db.dispose()
