"""Group posts the bot keeps current: publishing them and editing their live counts, rate-limited.

Also how results reach a secretary privately (non-responder lists, the ledger), never the group.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.channels.base import Content, SendUncertain, Unreachable
from bot.core import Core, Flow
from bot.services import attendance, study
from bot.services.localtime import zone
from bot.services.posts import Outcome, Post, attach_message, tapped_since
from storage.models import Activity, StudyTask

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

EDIT_INTERVAL = 3.0
"""Seconds between two edits of one post: a burst of taps makes one or two edits, not fifty."""
RECENT_AT_START = timedelta(minutes=5)
"""How far back a starting process looks for posts whose counts may not be shown yet."""

Kept = type[Activity] | type[StudyTask]
Record = TypeVar("Record", Activity, StudyTask)


def local_zone(services: Services) -> ZoneInfo:
    return zone(services.settings.timezone)


async def _render(services: Services, model: Kept, record_id: int) -> Post:
    """The post of a record as it is now. Read without a transaction and without blocking the
    event loop on a database server: live counts render posts often."""
    def read(session: Session) -> Post:
        if model is Activity:
            return attendance.activity_post(session, record_id, local_zone(services))
        return study.task_post(session, record_id)

    return await services.db.autocommit_async(read)


async def publish(core: Core, model: Kept, record_id: int) -> int:
    """Send an activity's (or study task's) post to its group and remember the message, so
    later counts edit it. The reminder engine calls this after `attendance.open_activity`.
    Returns our number of the message."""
    post = await _render(core.services, model, record_id)
    assert post.chat_id is not None, "activities and tasks belong to a group"
    sent = await core.send(post.chat_id, Content.plain(post.text, post.buttons))
    number = await core.message_number(post.chat_id, sent.message_id)
    await core.services.db.run(lambda session: attach_message(session, model, record_id, number))
    return number


async def publish_new(flow: Flow, model: Kept, make: Callable[..., Record]) -> Record:
    """Run /remind or /task (`make` is `attendance.remind` or `study.post_task`) and post what
    it made, once: a redelivered command finds its record already posted. Returns the record."""
    actor = await flow.actor()
    services = flow.services
    source = await flow.message_number()
    record = await services.db.run(lambda session: make(
        session, actor, " ".join(flow.args), now=services.clock(),
        tz=local_zone(services), source_message_id=source))
    if record.message_id is None:
        await publish(flow.core, model, record.id)  # type: ignore[arg-type]
    return record


class LiveCounts:
    """At most one edit per post per `interval`: the first change edits at once, the changes of
    a burst after it fold into one trailing edit that shows the counts as they are by then.

    Edits run in the background: a tap is answered without waiting for its post's edit, which
    a platform may hold back for seconds when a group has many posts (Telegram: 20 edits a
    minute; Feishu: 5 a second per message).
    """

    def __init__(self, interval: float = EDIT_INTERVAL, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = interval
        self._clock, self._sleep = clock, sleep  # a test's own, to run without wall time
        self._last: dict[tuple[str, int], float] = {}
        self._waiting: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # waiting or editing; held against GC

    def changed(self, key: tuple[str, int], edit: Callable[[], Awaitable[None]],
                interval: float | None = None) -> None:
        """`interval`: the post's platform's own, in place of the default (a WeCom card can be
        replaced only within 5 s of a tap: a 3 s wait could miss the last one)."""
        if key in self._waiting:
            return
        self._forget_old()
        gap = self.interval if interval is None else interval
        delay = max(0.0, self._last.get(key, -math.inf) + gap - self._clock())
        task = self._waiting[key] = asyncio.create_task(self._later(key, delay, edit))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _later(self, key: tuple[str, int], delay: float,
                     edit: Callable[[], Awaitable[None]]) -> None:
        await self._sleep(delay)
        self._last[key] = self._clock()
        del self._waiting[key]
        try:
            await edit()
        except Exception:  # a background task has no handler to report to
            log.exception("live count edit %s failed", key)

    async def drain(self) -> None:
        """Wait for the edits under way (tests use it to see the final counts). Cancelled, it
        cancels them: a post then shows older counts until its next change."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    def _forget_old(self) -> None:
        if len(self._last) > 1000:
            horizon = self._clock() - self.interval
            self._last = {k: t for k, t in self._last.items() if t > horizon}


def live_counts(core: Core) -> LiveCounts:
    return core.state.setdefault("live_counts", LiveCounts())


def refresh(flow: Flow, model: Kept, record_id: int) -> None:
    """Show a record's new counts on its post (in this chat, on this platform), within the
    platform's edit interval."""
    show_counts(flow.core, model, record_id, flow.channel.capabilities.edit_interval)


async def show_recent_counts(core: Core) -> None:
    """At start: the counts of the posts tapped in the last minutes, whose trailing edit a
    process that died (killed, or its stop cut short) may have left unsent. A handful of
    edits, each showing what the tables hold, on the platforms of this process that can edit
    a post untapped."""
    since = core.services.clock() - RECENT_AT_START
    recent = await core.services.db.run(lambda session: tapped_since(session, since))
    for model, record_id, chat_id in recent:
        try:
            channel, _ = await core.route(chat_id)
        except Unreachable:  # its platform runs in another process
            continue
        if channel.capabilities.edits_untapped:
            show_counts(core, model, record_id)


def show_counts(core: Core, model: Kept, record_id: int, interval: float | None = None) -> None:
    async def edit() -> None:
        post = await _render(core.services, model, record_id)
        if post.message_id is None or post.chat_id is None:
            return
        try:
            await core.edit(post.chat_id, post.message_id, Content.plain(post.text, post.buttons))
        except (Unreachable, SendUncertain) as exc:
            log.warning("could not update post %s of %s: %s", post.message_id, post.chat_id, exc)

    live_counts(core).changed((model.__name__, record_id), edit, interval)


async def tell(flow: Flow, model: Kept, outcome: Outcome) -> None:
    """Tell the member what their act did (a notice for a tap, a reply to a command) and show
    the new counts on the post."""
    await flow.tell(outcome.text)
    if outcome.changed:
        refresh(flow, model, outcome.record_id)
