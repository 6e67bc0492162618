"""The scheduler in real time on SQLite and PostgreSQL: jobs rebuilt from rows, restarts between
scheduling and firing and in the middle of a broadcast, long downtime, one leader at a time and a
takeover when its process is killed, rows added by another replica.

Nothing here bounds how long something takes: each test waits for the state it needs (a row
handled, a lease taken), and the waits' limits are only a net under a broken build."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reminder_world import BRANCH, SECRETARY, TZ, FakeSender, World
from sqlmodel import select

from bot.scheduler import Pacer, ReminderScheduler
from bot.services.reminders import SEND_CONCURRENCY
from content.timerules import TimeRule
from storage.db import Database
from storage.models import Chat, Delivery, Reminder, SchedulerLease

TESTS = Path(__file__).resolve().parents[1]


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def world(db: Database) -> World:
    world = World(db, now=utc_now())
    world.reminders.clock = utc_now
    return world


@pytest.fixture(params=["sqlite", "postgres"])
def shared_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A world on a database another process can open too (a SQLite file, or PostgreSQL)."""
    url = (f"sqlite:///{tmp_path / 'shared.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    db = Database(url)
    db.migrate()
    world = World(db, now=utc_now())
    world.reminders.clock = utc_now
    yield world
    db.dispose()


def add_once(world: World, at: datetime, text: str = "交党费", *, scope: str = "chat",
             created: datetime | None = None) -> int:
    """A one-off reminder row, as /schedule stores it, firing at `at` (to the second)."""
    rule = TimeRule(kind="once", label=f"{at.astimezone(TZ):%m-%d %H:%M:%S}", at=at)
    created = created or utc_now()
    with world.db.session() as session:
        row = Reminder(chat_id=BRANCH, scope=scope, kind="notice", text=text, rule=rule.label,
                       spec=json.dumps(rule.to_spec()), created_by=SECRETARY,
                       created_at=created, updated_at=created)
        session.add(row)
        session.flush()
        return row.id or 0


def move(world: World, reminder_id: int, at: datetime) -> None:
    """The row now fires at `at`: how a test lets a fire time pass without waiting for it."""
    rule = TimeRule(kind="once", label=f"{at.astimezone(TZ):%m-%d %H:%M:%S}", at=at)
    with world.db.session() as session:
        row = session.get(Reminder, reminder_id)
        assert row is not None
        row.spec, row.updated_at = json.dumps(rule.to_spec()), utc_now()
        row.created_at = at - timedelta(seconds=1)
        session.add(row)


def scheduler(world: World, **kwargs: float) -> ReminderScheduler:
    return ReminderScheduler(world.db, world.reminders, TZ, **kwargs)


@asynccontextmanager
async def running(world: World, sender: FakeSender | None = None,
                  **kwargs: float) -> AsyncIterator[ReminderScheduler]:
    instance = scheduler(world, **kwargs)
    await instance.start(sender=sender or world.sender)
    try:
        yield instance
    finally:
        await instance.stop()


async def until(condition: Callable[[], bool], limit: float = 60.0) -> None:
    """Wait for `condition` (checked every 20 ms); `limit` is only a net under a broken build."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


def handled(world: World, reminder_id: int) -> bool:
    """The fire is over: every chat's row settled and the reminder moved past it."""
    with world.db.session() as session:
        row = session.get(Reminder, reminder_id)
        return row is not None and row.last_fire_at is not None


def statuses(world: World, reminder_id: int) -> list[str]:
    with world.db.session() as session:
        return list(session.exec(select(Delivery.status).where(
            Delivery.reminder_id == reminder_id).order_by(Delivery.chat_id)).all())


def lease(world: World) -> SchedulerLease:
    with world.db.session() as session:
        row = session.get(SchedulerLease, "reminders")
        assert row is not None
        return row


async def test_jobs_are_rebuilt_from_rows_and_fire_once(world: World) -> None:
    """A row is all it takes: the leader builds its job and sends it once, at its time."""
    rid = add_once(world, utc_now() + timedelta(seconds=1))
    async with running(world) as instance:
        assert instance.leader and instance.next_fire(rid) is not None
        await until(lambda: handled(world, rid))
    assert [p.text for p in world.sender.to(BRANCH)] == ["⏰ 提醒：交党费"]
    assert statuses(world, rid) == ["sent"]


async def test_restart_between_scheduling_and_firing(world: World) -> None:
    """Stopped before the fire, started after it: sent once, by the new process."""
    rid = add_once(world, utc_now() + timedelta(hours=1))
    async with running(world) as first:
        assert first.next_fire(rid) is not None  # it had the job
    assert world.sender.sent == []
    move(world, rid, utc_now() - timedelta(seconds=2))  # the fire time passed while down
    restarted = FakeSender()
    async with running(world, restarted):
        await until(lambda: handled(world, rid))
    assert len(restarted.to(BRANCH)) == 1 and world.sender.sent == []
    assert statuses(world, rid) == ["sent"]


async def test_restart_in_the_middle_of_a_broadcast(world: World) -> None:
    """Stopped while a broadcast to 60 groups is under way: the sends in flight finish, the rest
    follow after the restart, and no group gets it twice."""
    with world.db.session() as session:
        for n in range(60):
            session.add(Chat(id=-5000 - n, title=f"支部{n}", type="supergroup"))
    now = utc_now()
    rid = add_once(world, now, "全体党员注意", scope="branches",
                   created=now - timedelta(seconds=1))
    first = FakeSender(hold_after=15)
    instance = scheduler(world)
    await instance.start(sender=first)
    await until(lambda: len(first.held) > 0)  # 15 sent, the next ones in flight
    stopping = asyncio.ensure_future(instance.stop())
    await asyncio.sleep(0)  # the stop begins: no new sends are started from here on
    first.release.set()
    await stopping
    assert 15 <= len(first.sent) <= 15 + SEND_CONCURRENCY
    assert not handled(world, rid)
    second = FakeSender()
    async with running(world, second):
        await until(lambda: handled(world, rid))
    chats = [chat for chat, _ in first.sent + second.sent]
    assert len(chats) == len(set(chats)) == 61
    assert set(statuses(world, rid)) == {"sent"}


async def test_long_downtime_is_reported_not_flooded(world: World) -> None:
    """A fire missed by more than its grace time goes to the secretary, not the group."""
    rid = add_once(world, utc_now() - timedelta(hours=2),
                   created=utc_now() - timedelta(hours=3))
    async with running(world):
        await until(lambda: handled(world, rid))
    assert world.sender.to(BRANCH) == []
    assert "错过了" in world.sender.to(SECRETARY)[0].text
    assert statuses(world, rid) == ["missed"]


async def test_one_leader_and_a_takeover_when_its_process_is_killed(shared_world: World) -> None:
    """Two replicas: the one in another process leads, the other follows; SIGKILL the leader and
    the other leads once the dead one's lease has run out (not before), and a reminder due in
    the gap is sent once, by the new leader."""
    world = shared_world
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(TESTS / "scheduler_process.py"), world.db.url, "3.0", "0.2",
        stdout=asyncio.subprocess.PIPE)
    second_sender = FakeSender()
    second = scheduler(world, lease_ttl=3.0, renew_every=0.2)
    try:
        assert child.stdout is not None
        worker = (await child.stdout.readline()).decode().split()[1]
        assert lease(world).holder == worker  # the lease was free: the first one took it
        await second.start(sender=second_sender)
        assert not second.leader  # a live leader's lease is not taken
        child.kill()
        await child.wait()
        last_renewal = lease(world).expires_at
        rid = add_once(world, utc_now() + timedelta(seconds=0.5))
        await until(lambda: second.leader)
        taken = lease(world)
        assert taken.holder == second.worker and taken.expires_at > last_renewal
        await until(lambda: handled(world, rid))
        assert [chat for chat, _ in second_sender.sent] == [BRANCH]
        assert await child.stdout.read() == b""  # the killed one sent nothing
        assert statuses(world, rid) == ["sent"]
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await second.stop()


async def test_a_clean_stop_hands_over_at_once(world: World) -> None:
    """A stopping leader releases the lease: the follower leads at its next check, long before
    the 30 s lease would have run out."""
    first = scheduler(world, lease_ttl=30.0, renew_every=0.2)
    second = scheduler(world, lease_ttl=30.0, renew_every=0.2)
    await first.start(sender=FakeSender())
    await second.start(sender=FakeSender())
    try:
        assert first.leader and not second.leader
        await first.stop()
        assert lease(world).holder == ""  # released, not left to run out
        await until(lambda: second.leader, limit=25)
    finally:
        await second.stop()


async def test_rows_added_by_another_replica_are_taken_in(world: World) -> None:
    """The leader syncs with the table, so a reminder scheduled on another replica fires, and
    one cancelled there does not."""
    async with running(world, renew_every=0.2) as instance:
        keep = add_once(world, utc_now() + timedelta(seconds=2), "保留")
        drop = add_once(world, utc_now() + timedelta(seconds=2), "取消")
        await until(lambda: instance.next_fire(keep) is not None)
        with world.db.session() as session:
            row = session.get(Reminder, drop)
            row.active, row.updated_at = False, utc_now()
            session.add(row)
        await until(lambda: instance.next_fire(drop) is None)
        await until(lambda: handled(world, keep))
    assert [p.text for p in world.sender.to(BRANCH)] == ["⏰ 提醒：保留"]
    assert statuses(world, drop) == []


async def test_refresh_takes_a_new_reminder_in_at_once(world: World) -> None:
    """/schedule in the leading process adds the job without waiting for the next sync."""
    async with running(world, renew_every=60) as instance:
        rid = world.schedule("每月最后一个周五 15:00 主题党日")
        await instance.refresh(rid)
        fire = instance.next_fire(rid)
        assert fire is not None and fire.astimezone(TZ).strftime("%d %H:%M")[-5:] == "15:00"
        assert fire.astimezone(TZ).weekday() == 4


async def test_the_pacer_spaces_sends_evenly_under_the_flood_limit() -> None:
    """The n-th turn, whoever asks, comes no sooner than n/rate after the first, so no second
    ever holds more than the rate. (Gaps between neighbours can be shorter: a wake-up that the
    loop served late leaves the next slot where it was.)"""
    pacer = Pacer(50)
    times: list[float] = []

    async def sender() -> None:
        for _ in range(10):
            await pacer.turn()
            times.append(asyncio.get_running_loop().time())

    await asyncio.gather(sender(), sender(), sender())
    resolution = time.get_clock_info("monotonic").resolution  # the event loop's clock
    early = [n for n, at in enumerate(times) if at - times[0] < n / 50 - resolution]
    assert len(times) == 30 and early == []
