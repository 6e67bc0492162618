"""The scheduler in real time on SQLite and PostgreSQL: jobs rebuilt from rows, restarts between
scheduling and firing and in the middle of a broadcast, long downtime, one leader at a time and a
takeover when it dies, rows added by another replica."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from reminder_world import BRANCH, SECRETARY, TZ, FakeSender, World
from sqlmodel import select

from bot.scheduler import Pacer, ReminderScheduler
from content.timerules import TimeRule
from storage.db import Database
from storage.models import Chat, Delivery, Reminder, SchedulerLease


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def world(db: Database) -> World:
    world = World(db, now=utc_now())
    world.reminders.clock = utc_now
    return world


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


async def until(condition: Callable[[], bool], limit: float = 10.0) -> float:
    """Wait for `condition`; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def statuses(world: World, reminder_id: int) -> list[str]:
    with world.db.session() as session:
        return list(session.exec(select(Delivery.status).where(
            Delivery.reminder_id == reminder_id).order_by(Delivery.chat_id)).all())


async def test_jobs_are_rebuilt_from_rows_and_fire_once(world: World) -> None:
    """A row is all it takes: the leader builds its job and sends it once, at its time."""
    rid = add_once(world, utc_now() + timedelta(seconds=1))
    async with running(world) as instance:
        assert instance.leader and instance.next_fire(rid) is not None
        await until(lambda: len(world.sender.sent) == 1)
        await asyncio.sleep(0.3)
    assert [p.text for p in world.sender.to(BRANCH)] == ["⏰ 提醒：交党费"]
    assert statuses(world, rid) == ["sent"]


async def test_restart_between_scheduling_and_firing(world: World) -> None:
    """Stopped before the fire, started after it: sent once, by the new process."""
    rid = add_once(world, utc_now() + timedelta(seconds=1))
    async with running(world):
        await asyncio.sleep(0.2)
    assert world.sender.sent == []
    await asyncio.sleep(1.3)  # the fire time passes while nothing runs
    restarted = FakeSender()
    async with running(world, restarted):
        await until(lambda: len(restarted.sent) == 1)
        await asyncio.sleep(0.3)
    assert len(restarted.to(BRANCH)) == 1 and world.sender.sent == []
    assert statuses(world, rid) == ["sent"]


async def test_restart_in_the_middle_of_a_broadcast(world: World) -> None:
    """Stopped while a broadcast to 60 groups is under way: the rest follow after the restart,
    and no group gets it twice."""
    with world.db.session() as session:
        for n in range(60):
            session.add(Chat(id=-5000 - n, title=f"支部{n}", type="supergroup"))
    rid = add_once(world, utc_now() + timedelta(seconds=0.5), "全体党员注意", scope="branches")
    first = FakeSender(delay=0.02)
    async with running(world, first):
        await until(lambda: len(first.sent) >= 15)
    assert 15 <= len(first.sent) < 61
    second = FakeSender(delay=0.001)
    async with running(world, second):
        await until(lambda: len(first.sent) + len(second.sent) >= 61)
        await asyncio.sleep(0.3)
    chats = [chat for chat, _ in first.sent + second.sent]
    assert len(chats) == len(set(chats)) == 61
    assert set(statuses(world, rid)) == {"sent"}


async def test_long_downtime_is_reported_not_flooded(world: World) -> None:
    """A fire missed by more than its grace time goes to the secretary, not the group."""
    rid = add_once(world, utc_now() - timedelta(hours=2),
                   created=utc_now() - timedelta(hours=3))
    async with running(world):
        await until(lambda: len(world.sender.sent) == 1)
        await asyncio.sleep(0.2)
    assert world.sender.to(BRANCH) == []
    assert "错过了" in world.sender.to(SECRETARY)[0].text
    assert statuses(world, rid) == ["missed"]


def crash(instance: ReminderScheduler) -> None:
    """What a killed process does: stops renewing and sending, releases nothing."""
    assert instance._loop_task is not None
    instance._loop_task.cancel()
    instance._demote()


async def test_one_leader_and_a_takeover_when_it_dies(world: World) -> None:
    """Two replicas: one leads; when it dies the other leads within ttl + renew, and a reminder
    due during the gap is sent once, by the new leader."""
    first_sender, second_sender = FakeSender(), FakeSender()
    first = scheduler(world, lease_ttl=1.0, renew_every=0.2)
    second = scheduler(world, lease_ttl=1.0, renew_every=0.2)
    await first.start(sender=first_sender)
    await second.start(sender=second_sender)
    try:
        assert first.leader and not second.leader
        await asyncio.sleep(0.5)
        assert first.leader and not second.leader  # renewals keep it
        rid = add_once(world, utc_now() + timedelta(seconds=0.4))
        crash(first)
        took = await until(lambda: second.leader, limit=5)
        assert took <= 1.0 + 0.2 + 0.5  # ttl + one renew period, and the loaded CI box
        await until(lambda: len(second_sender.sent) == 1)
        await asyncio.sleep(0.3)
        assert first_sender.sent == [] and statuses(world, rid) == ["sent"]
        with world.db.session() as session:
            assert session.get(SchedulerLease, "reminders").holder == second.worker
    finally:
        await second.stop()
        await first.stop()


async def test_a_clean_stop_hands_over_at_once(world: World) -> None:
    """A stopping leader releases the lease: the follower leads at its next check."""
    first = scheduler(world, lease_ttl=30.0, renew_every=0.2)
    second = scheduler(world, lease_ttl=30.0, renew_every=0.2)
    await first.start(sender=FakeSender())
    await second.start(sender=FakeSender())
    try:
        await first.stop()
        assert await until(lambda: second.leader, limit=2) < 1
    finally:
        await second.stop()


async def test_rows_added_by_another_replica_are_taken_in(world: World) -> None:
    """The leader syncs with the table, so a reminder scheduled on another replica fires, and
    one cancelled there does not."""
    async with running(world, renew_every=0.2) as instance:
        keep = add_once(world, utc_now() + timedelta(seconds=1.0), "保留")
        drop = add_once(world, utc_now() + timedelta(seconds=1.0), "取消")
        await until(lambda: instance.next_fire(keep) is not None, limit=2)
        with world.db.session() as session:
            row = session.get(Reminder, drop)
            row.active, row.updated_at = False, utc_now()
            session.add(row)
        await until(lambda: instance.next_fire(drop) is None, limit=2)
        await until(lambda: len(world.sender.sent) == 1)
        await asyncio.sleep(0.3)
    assert [p.text for p in world.sender.to(BRANCH)] == ["⏰ 提醒：保留"]


async def test_refresh_takes_a_new_reminder_in_at_once(world: World) -> None:
    """/schedule in the leading process adds the job without waiting for the next sync."""
    async with running(world, renew_every=60) as instance:
        rid = world.schedule("每月最后一个周五 15:00 主题党日")
        instance.refresh(rid)
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
    resolution = asyncio.get_running_loop()._clock_resolution  # type: ignore[attr-defined]
    early = [n for n, at in enumerate(times) if at - times[0] < n / 50 - resolution]
    assert len(times) == 30 and early == []
