"""Reminder engine benchmark.

    python bench/reminders.py [--groups 1000] [--rules 10000] [--postgres URL]

Prints:
  * a broadcast to 1,000 groups along the production path (the leader's APScheduler job ->
    ReminderService.fire -> TelegramSender -> the Application's Bot and flood limiter -> HTTP)
    against the fake Bot API over real HTTP, which answers 429 to anything over Telegram's limits
    (30 messages in any second, 20 a minute per group): seconds from the fire time to the last
    message against the floor 1,000/30 s (target ≤ 1.1 × floor) and the 429s provoked (target 0);
  * rebuilding 10,000 reminder rules at start (rows -> triggers -> APScheduler jobs), target
    ≤ 2 s, on SQLite (a WAL file) and on PostgreSQL (a temporary database; URL from --postgres
    or TEST_DATABASE_URL, skipped when neither is given).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from attendance import postgres_database  # noqa: E402
from fake_bot_api import FakeBotApi  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from bot.app import build_application  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.scheduler import ReminderScheduler  # noqa: E402
from bot.services import build_services  # noqa: E402
from content.timerules import TimeRule  # noqa: E402
from content.when import parse_when  # noqa: E402
from storage.models import Chat, Delivery, Reminder  # noqa: E402

TELEGRAM_RATE = 30.0
FORMS = ("每天 {h}:{m}", "每周{w} {h}:{m}", "每周{w}、{v} {h}:{m}", "每月{d}日 {h}:{m}",
         "每月最后一个周{w} {h}:{m}", "每月第{n}个周{w} {h}:{m}", "每季度末 {h}:{m}", "工作日 {h}:{m}",
         "每月{d}日 {h}:{m} 遇节假日提前", "2027-{mo}-{d} {h}:{m}", "每两周周{w} {h}:{m}",
         "每月最后一个工作日 {h}:{m}", "每月{d}日 {h}:{m}（遇节假日顺延）")
WEEKDAYS = "一二三四五六日"


def varied_rules(count: int, seed: int = 7) -> list[str]:
    """Rule texts as secretaries would write them: every form, many days and times."""
    pick = random.Random(seed)
    return [pick.choice(FORMS).format(
        h=pick.randint(7, 20), m=f"{pick.choice((0, 15, 30, 45)):02d}", d=pick.randint(1, 28),
        w=pick.choice(WEEKDAYS), v=pick.choice(WEEKDAYS), n=pick.randint(1, 4),
        mo=pick.randint(1, 12)) for _ in range(count)]


def broadcast(database_url: str, groups: int) -> None:
    """One reminder to every group, fired by the scheduler like any other."""
    with FakeBotApi(enforce_limits=True) as api:
        settings = Settings(DATABASE_URL=database_url, _env_file=None, DANGJIAN_ADMINS="900",
                            **api.env())
        services = build_services(settings)
        with services.db.session() as session:
            for n in range(groups):
                session.add(Chat(id=-10_000_000 - n, title=f"支部{n}", type="supergroup"))
        fire_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        rule = TimeRule(kind="once", label="bench", at=fire_at)
        with services.db.session() as session:
            session.add(Reminder(chat_id=900, scope="branches", kind="notice", text="全体党员注意",
                                 rule=rule.label, spec=json.dumps(rule.to_spec()), created_by=900))
        asyncio.run(_run_broadcast(services, api, fire_at, groups))
        services.db.dispose()


async def _run_broadcast(services, api: FakeBotApi, fire_at: datetime,  # type: ignore[no-untyped-def]
                         groups: int) -> None:
    application = build_application(services)
    await application.initialize()
    await services.scheduler.start(application)
    fire_mono = time.monotonic() + (fire_at - datetime.now(UTC)).total_seconds()
    while _sent(services) < groups:  # noqa: ASYNC110 (polling the database is the point)
        await asyncio.sleep(0.5)
    await services.scheduler.stop()
    await application.shutdown()
    sends = [c for c in api.calls_of("sendMessage") if (c.chat_id or 0) <= -10_000_000]
    floor = groups / TELEGRAM_RATE
    took = max(c.at for c in sends) - fire_mono
    spread = max(c.at for c in sends) - min(c.at for c in sends)
    over = [v for v in api.violations]
    print(f"broadcast to {groups} groups: {took:.1f} s from the fire time to the last message "
          f"(first to last {spread:.1f} s); floor {floor:.1f} s, target ≤ {1.1 * floor:.1f} s "
          f"-> {'OK' if took <= 1.1 * floor else 'MISSED'}")
    print(f"  messages delivered {len(sends)} (distinct groups {len({c.chat_id for c in sends})}),"
          f" 429s provoked {len(api.rejected)}, flood-limit violations {len(over)}")


def _sent(services) -> int:  # type: ignore[no-untyped-def]
    with services.db.session() as session:
        return session.exec(select(func.count()).select_from(Delivery).where(
            Delivery.status == "sent")).one()


def rebuild(label: str, database_url: str, count: int) -> None:
    """`count` reminder rows of varied rules, then the leader's rebuild of every job."""
    settings = Settings(DATABASE_URL=database_url, _env_file=None)
    services = build_services(settings)
    now = datetime.now(UTC)
    pick = random.Random(11)
    texts = varied_rules(count)
    rows = []
    for n, rule_text in enumerate(texts):
        when = parse_when(f"{rule_text} 学习", now, services.reminders.tz, want="rule")
        assert when is not None and when.rule is not None, rule_text
        rule = when.rule
        created = now - timedelta(days=pick.uniform(1, 60))
        fired = created + (now - created) * pick.random() if n % 2 else None
        rows.append({"chat_id": -1 - n % 500, "scope": "chat",
                     "kind": ("notice", "meeting", "study")[n % 3], "text": f"提醒{n}",
                     "rule": rule.label, "spec": json.dumps(rule.to_spec()), "active": True,
                     "created_by": 1, "created_at": created, "updated_at": created,
                     "last_fire_at": fired,  # and the next fire, as /schedule and each fire keep it
                     "next_fire_at": rule.next_after(fired or created, services.reminders.tz)})
    print(f"  ({len(set(texts))} distinct rules among {count}; half never fired yet)")
    with services.db.session() as session:
        for start in range(0, count, 2000):
            session.execute(insert(Reminder), rows[start:start + 2000])
    services.db.dispose()
    spawn = multiprocessing.get_context("spawn")  # a fresh process, nothing cached: a restart
    with spawn.Pool(1) as pool:
        timings = [pool.apply(_timed_start, (database_url,)) for _ in range(3)]
    first = timings[0]
    print(f"rebuild {count} rules on {label}: {first[0]:.2f} s to lead ({first[1]:.2f} s rows -> "
          f"jobs), {first[2]} jobs; target ≤ 2 s -> {'OK' if first[0] <= 2 else 'MISSED'} "
          f"(runs: {', '.join(f'{t[0]:.2f}' for t in timings)})")


def _timed_start(database_url: str) -> tuple[float, float, int]:
    services = build_services(Settings(DATABASE_URL=database_url, _env_file=None))
    return asyncio.run(_lead_once(services))


async def _lead_once(services) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """The leader's start: the digest row, every job rebuilt, APScheduler started."""
    instance = ReminderScheduler(services.db, services.reminders, services.reminders.tz)
    instance.sender = _Quiet()
    started = time.perf_counter()
    instance._lead()
    total = time.perf_counter() - started
    jobs = len(instance._scheduler.get_jobs())  # type: ignore[union-attr]
    instance._demote()
    services.db.dispose()
    return total, instance.last_rebuild_seconds, jobs


class _Quiet:
    """A sender for the rebuild run: the missed fires it triggers are not what is measured."""

    async def send(self, chat_id: int, post: object) -> int:
        return 0

    async def chat_admins(self, chat_id: int) -> list[int]:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        broadcast(f"sqlite:///{folder}/broadcast.db", args.groups)
        rebuild("SQLite", f"sqlite:///{folder}/rebuild.db", args.rules)
    if args.postgres:
        with postgres_database(args.postgres) as db:  # bench/attendance.py's: created, dropped
            rebuild("PostgreSQL", db.url, args.rules)
    else:
        print("PostgreSQL skipped (no --postgres and no TEST_DATABASE_URL)")


if __name__ == "__main__":
    main()
