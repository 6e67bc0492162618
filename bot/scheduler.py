"""The reminder scheduler: APScheduler jobs rebuilt from the database, run by one replica.

Leadership is a lease row (`SchedulerLease`) renewed every `renew_every` seconds and valid for
`lease_ttl`; a replica that dies stops renewing and another takes over within
lease_ttl + renew_every (25 s by default). The leader builds an AsyncIOScheduler from the
reminder rows (coalesce=True, misfire grace per kind) and keeps it in step with rows that other
replicas add or cancel. The rows, not the jobs, decide what is sent: see bot/services/reminders.py.

`start(core)` / `stop()` are called from `on_startup` / `on_shutdown`, and explicitly by a
runner that drives the Application itself (webhook mode with `.updater(None)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select as columns
from sqlalchemy import text, update
from sqlmodel import Session, col

from bot.channels.base import Content, Unreachable
from bot.channels.base import SendUncertain as ChannelUncertain
from bot.services.posts import Post
from bot.services.reminders import (
    GRACE,
    ChatUnreachable,
    ReminderService,
    Schedule,
    Sender,
    SendUncertain,
)
from content.timerules import StoredTrigger
from storage.db import Database
from storage.models import Reminder, SchedulerLease
from storage.upsert import upsert

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

LEASE_NAME = "reminders"
LEASE_TTL = 20.0
RENEW_EVERY = 5.0
STOP_WAIT = 10.0
OVERALL_RATE = 28.5
"""Messages per second the engine sends, evenly spaced: 31 of them span 1.05 s, so even a send
delayed by 50 ms never puts a 31st message into one second (Telegram allows 30)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Pacer:
    """Evenly spaced turns, `rate` a second: each caller reserves the next free slot and waits
    for it. A slot nobody used is not saved up, so no burst follows a pause; unlike a leaky
    bucket's timer rounding, the spacing does not drift below the rate."""

    def __init__(self, rate: float) -> None:
        self.interval = 1 / rate
        self._next = 0.0

    async def turn(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(self._next, now)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class CoreSender:
    """`Sender` over the conversation core, so reminders reach every platform: evenly paced
    under the overall flood limit (each platform's own HTTP stack keeps its per-chat limits and
    the one retry policy repeats a send only when it was refused or never left the machine),
    the channels' errors turned into the engine's: unreachable chats, uncertain sends."""

    def __init__(self, core: Core, rate: float = OVERALL_RATE) -> None:
        self.core = core
        self._pace = Pacer(rate)

    async def send(self, chat_id: int, post: Post) -> int:
        await self._pace.turn()
        try:
            sent = await self.core.send(chat_id, Content.plain(post.text, post.buttons))
        except Unreachable as exc:
            raise ChatUnreachable(str(exc)) from exc
        except ChannelUncertain as exc:  # it may have arrived: never repeated
            raise SendUncertain(str(exc)) from exc
        return await self.core.message_number(chat_id, sent.message_id)

    async def chat_admins(self, chat_id: int) -> list[int]:
        channel, chat = await self.core.route(chat_id)
        return [await self.core.number(channel.platform, person.id, group=False)
                for person in await channel.admins(chat) if not person.is_bot]


class FireTimeExecutor(AsyncIOExecutor):
    """Hands each job the time it fires for (APScheduler 3 does not pass it to the function);
    with coalesce=True the run times arrive as one, the newest."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def done(future: asyncio.Future[Any]) -> None:
            self._pending_futures.discard(future)
            if future.cancelled():  # the scheduler was shut down (demoted, stopping)
                return
            try:
                future.result()
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, [])

        task = self._eventloop.create_task(job.func(*job.args, run_times[-1], **job.kwargs))
        task.add_done_callback(done)
        self._pending_futures.add(task)


class ReminderScheduler:
    """Runs the reminder jobs while this replica holds the lease."""

    def __init__(self, db: Database, reminders: ReminderService, tz: ZoneInfo, *,
                 lease_ttl: float = LEASE_TTL, renew_every: float = RENEW_EVERY,
                 worker: str | None = None) -> None:
        self.db = db
        self.reminders = reminders
        self.tz = tz
        self.lease_ttl = lease_ttl
        self.renew_every = renew_every
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.sender: Sender | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._versions: dict[int, datetime] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._stopping = False
        self._running: set[asyncio.Task[None]] = set()
        self._lease_until = 0.0
        self.last_rebuild_seconds = 0.0

    @property
    def leader(self) -> bool:
        return self._scheduler is not None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, core: Core | None = None, *, sender: Sender | None = None) -> None:
        """Begin taking part in the election (and leading when the lease is free)."""
        if self._loop_task is not None:
            return
        if sender is None:
            assert core is not None, "start() needs the core or a sender"
            sender = CoreSender(core)
        self.sender = sender
        self._closing = asyncio.Event()
        self._stopping = False
        await self._step()
        self._loop_task = asyncio.create_task(self._elect(), name="reminder-scheduler")

    async def stop(self) -> None:
        """Finish the sends in flight (claiming no new ones), stop the jobs, hand the lease over."""
        self._stopping = True
        self._closing.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        if self._running:
            await asyncio.wait(self._running, timeout=STOP_WAIT)
        if self.leader:
            self._demote()
            self._release()

    async def _elect(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.renew_every)
            if not self._closing.is_set():
                await self._step()

    async def _step(self) -> None:
        """Renew or take the lease; lead, follow, or keep in step with the rows."""
        loop = asyncio.get_running_loop()
        try:
            held = self._take_lease()
        except Exception:
            log.warning("scheduler lease check failed", exc_info=True)
            held = self.leader and loop.time() < self._lease_until
        else:
            if held:
                self._lease_until = loop.time() + self.lease_ttl - self.renew_every
        if held and not self.leader:
            self._lead()
        elif not held and self.leader:
            log.warning("lost the scheduler lease: %s stops sending reminders", self.worker)
            self._demote()
        elif held:
            try:
                self.sync()
            except Exception:
                log.warning("reminder sync failed", exc_info=True)

    # --- the lease ---------------------------------------------------------------------------

    def _take_lease(self) -> bool:
        with self.db.session() as session:
            now = _db_now(session)
            upsert(session, SchedulerLease, {"name": LEASE_NAME, "holder": "", "expires_at": EPOCH},
                   conflict=("name",))
            won = session.execute(
                update(SchedulerLease)
                .where(col(SchedulerLease.name) == LEASE_NAME,
                       (col(SchedulerLease.holder) == self.worker)
                       | (col(SchedulerLease.expires_at) < now))
                .values(holder=self.worker, expires_at=now + timedelta(seconds=self.lease_ttl))
                .returning(col(SchedulerLease.name))
            ).first()
            return won is not None

    def _release(self) -> None:
        try:
            with self.db.session() as session:
                session.execute(update(SchedulerLease).where(
                    col(SchedulerLease.name) == LEASE_NAME,
                    col(SchedulerLease.holder) == self.worker,
                ).values(holder="", expires_at=EPOCH))
        except Exception:
            log.warning("could not release the scheduler lease", exc_info=True)

    # --- leading -----------------------------------------------------------------------------

    def _lead(self) -> None:
        scheduler = AsyncIOScheduler(
            timezone=self.tz, executors={"default": FireTimeExecutor()},
            job_defaults={"coalesce": True, "max_instances": 3},
        )
        self._scheduler = scheduler
        with self.db.session() as session:
            self.reminders.ensure_digest(session, self.reminders.clock())
        count = self.rebuild()
        scheduler.start()
        log.info("%s leads the reminder scheduler: %d jobs rebuilt in %.2fs", self.worker,
                 count, self.last_rebuild_seconds)

    def _demote(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        self._versions.clear()

    def rebuild(self) -> int:
        """All jobs from the rows: each resumes at its first fire not yet handled."""
        loop_time = asyncio.get_running_loop().time
        started = loop_time()
        with self.db.session() as session:
            schedules = self.reminders.schedules(session)
        self._versions.clear()
        for schedule in schedules:
            self._apply(schedule)
        self.last_rebuild_seconds = loop_time() - started
        return len(schedules)

    def sync(self, reminder_id: int | None = None) -> None:
        """Bring the jobs in step with the rows (added, cancelled or finished elsewhere)."""
        if self._scheduler is None:
            return
        with self.db.session() as session:
            gone, fresh = self._changes(session, reminder_id)
        self._take(gone, fresh)

    async def refresh(self, reminder_id: int) -> None:
        """A reminder was scheduled or cancelled in this process: take it in now, its row read
        without blocking the event loop (a handler awaits this)."""
        if self._scheduler is None:
            return
        try:
            gone, fresh = await self.db.run(lambda session: self._changes(session, reminder_id))
            if self._scheduler is not None:  # still leading
                self._take(gone, fresh)
        except Exception:
            log.warning("could not take reminder %s in at once (the next sync will)", reminder_id,
                        exc_info=True)

    def _changes(self, session: Session,
                 reminder_id: int | None) -> tuple[list[int], list[Schedule]]:
        """The jobs to drop and the schedules to (re)build, from the rows (one or all)."""
        query = columns(col(Reminder.id), col(Reminder.updated_at)).where(
            col(Reminder.active) if reminder_id is None else col(Reminder.id) == reminder_id)
        current: dict[int, datetime] = dict(session.execute(query).all())
        changed = [rid for rid, version in current.items() if self._versions.get(rid) != version]
        gone = [] if reminder_id is not None else [
            rid for rid in list(self._versions) if rid not in current]
        return gone, self.reminders.schedules(session, ids=changed) if changed else []

    def _take(self, gone: list[int], fresh: list[Schedule]) -> None:
        for rid in gone:
            self._remove(rid)
        for schedule in fresh:
            self._apply(schedule)

    def _apply(self, schedule: Schedule) -> None:
        assert self._scheduler is not None
        if not schedule.active or schedule.next_fire is None:
            self._remove(schedule.reminder_id)
            return
        self._scheduler.add_job(
            self._fire, trigger=StoredTrigger(schedule.spec, self.tz), args=[schedule.reminder_id],
            id=str(schedule.reminder_id), name=f"reminder {schedule.reminder_id}",
            next_run_time=schedule.next_fire, replace_existing=True, coalesce=True,
            misfire_grace_time=int(GRACE[schedule.kind].total_seconds()),
        )
        self._versions[schedule.reminder_id] = schedule.version

    def _remove(self, reminder_id: int) -> None:
        self._versions.pop(reminder_id, None)
        if self._scheduler is not None and self._scheduler.get_job(str(reminder_id)):
            self._scheduler.remove_job(str(reminder_id))

    async def _fire(self, reminder_id: int, fire_time: datetime | None = None) -> None:
        """One fire of a job; FireTimeExecutor supplies `fire_time`."""
        task = asyncio.current_task()
        assert task is not None and self.sender is not None and fire_time is not None
        self._running.add(task)  # type: ignore[arg-type]
        try:
            await self.reminders.fire(reminder_id, fire_time.astimezone(UTC), self.sender,
                                      worker=self.worker, stopping=lambda: self._stopping)
        except Exception:
            log.exception("reminder %s at %s failed", reminder_id, fire_time)
        finally:
            self._running.discard(task)  # type: ignore[arg-type]

    # APScheduler checks every job's function signature (inspect.signature, ~50 µs); computed
    # once here, it costs nothing per job, which keeps a rebuild of 10,000 jobs fast.
    _fire.__signature__ = inspect.signature(_fire)  # type: ignore[attr-defined]

    def next_fire(self, reminder_id: int) -> datetime | None:
        """When this replica's job fires next (tests, /healthz)."""
        job = self._scheduler.get_job(str(reminder_id)) if self._scheduler else None
        return job.next_run_time if job else None


def _db_now(session: Session) -> datetime:
    """The database's clock on PostgreSQL, so replicas with drifting clocks agree on the lease."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text("SELECT clock_timestamp()")).scalar_one()
    return datetime.now(UTC)
