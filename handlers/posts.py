"""Group posts the bot keeps current: publishing them and editing their live counts, rate-limited.

Also how results reach a secretary privately (non-responder lists, the ledger), never the group.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.context import BotContext
from bot.services import UserError, attendance, study
from bot.services.localtime import zone
from bot.services.posts import Outcome, Post, attach_message
from handlers.common import actor_of, escape, reply
from storage.models import Activity, StudyTask

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

EDIT_INTERVAL = 3.0
"""Seconds between two edits of one post: a burst of taps makes one or two edits, not fifty."""
NOT_REACHABLE = "请先私聊我发送 /start，我才能把结果私信给您（名单和台账只通过私聊发送）。"

Kept = type[Activity] | type[StudyTask]
T = TypeVar("T")
Record = TypeVar("Record", Activity, StudyTask)


def local_zone(services: Services) -> ZoneInfo:
    return zone(services.settings.timezone)


def button_match(update: Update, pattern: str) -> re.Match[str]:
    """A button's callback data matched against the pattern its handler was registered with."""
    query = update.callback_query
    match = re.match(pattern, query.data or "") if query else None
    assert match is not None, "the handler's pattern matched this data"
    return match


def button_id(update: Update, pattern: str) -> int:
    """The record number in a button's callback data, e.g. 12 in `att:in:12`."""
    return int(button_match(update, pattern).group(1))


def markup(post: Post) -> InlineKeyboardMarkup | None:
    if not post.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row]
         for row in post.buttons]
    )


async def _render(services: Services, model: Kept, record_id: int) -> Post:
    """The post of a record as it is now. Read without a transaction and without blocking the
    event loop on a database server: live counts render posts often."""
    def read(session: Session) -> Post:
        if model is Activity:
            return attendance.activity_post(session, record_id, local_zone(services))
        return study.task_post(session, record_id)

    return await services.db.autocommit_async(read)


async def publish(bot: Bot, services: Services, model: Kept, record_id: int) -> Message:
    """Send an activity's (or study task's) post to its group and remember the message, so
    later counts edit it. The reminder engine calls this after `attendance.open_activity`."""
    post = await _render(services, model, record_id)
    assert post.chat_id is not None, "activities and tasks belong to a group"
    message = await bot.send_message(post.chat_id, post.text, reply_markup=markup(post))
    await services.db.run(lambda session: attach_message(session, model, record_id,
                                                         message.message_id))
    return message


async def publish_new(update: Update, context: BotContext, model: Kept,
                      make: Callable[..., Record]) -> Record:
    """Run /remind or /task (`make` is `attendance.remind` or `study.post_task`) and post what
    it made, once: a redelivered command finds its record already posted. Returns the record."""
    actor = await actor_of(update, context)
    services = context.services
    message = update.effective_message
    assert message is not None
    record = await services.db.run(lambda session: make(
        session, actor, " ".join(context.args or []), now=services.clock(),
        tz=local_zone(services), source_message_id=message.message_id))
    if record.message_id is None:
        await publish(context.bot, services, model, record.id)  # type: ignore[arg-type]
    return record


class LiveCounts:
    """At most one edit per post per `interval`: the first change edits at once, the changes of
    a burst after it fold into one trailing edit that shows the counts as they are by then.

    Edits run in the background: a tap is answered without waiting for its post's edit, which
    Telegram may hold back for seconds when a group has many posts (20 edits a minute).
    """

    def __init__(self, interval: float = EDIT_INTERVAL, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = interval
        self._clock, self._sleep = clock, sleep  # a test's own, to run without wall time
        self._last: dict[tuple[str, int], float] = {}
        self._waiting: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # waiting or editing; held against GC

    def changed(self, key: tuple[str, int], edit: Callable[[], Awaitable[None]]) -> None:
        if key in self._waiting:
            return
        self._forget_old()
        delay = max(0.0, self._last.get(key, -math.inf) + self.interval - self._clock())
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


def live_counts(application: Application) -> LiveCounts:
    return application.bot_data.setdefault("live_counts", LiveCounts())


def refresh(application: Application, model: Kept, record_id: int) -> None:
    """Show a record's new counts on its post, within the edit rate limit."""
    services: Services = application.bot_data["services"]

    async def edit() -> None:
        post = await _render(services, model, record_id)
        if post.message_id is None:
            return
        try:
            await application.bot.edit_message_text(
                post.text, chat_id=post.chat_id, message_id=post.message_id,
                reply_markup=markup(post),
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.warning("could not update post %s of %s: %s", post.message_id, post.chat_id,
                            exc)
        except TelegramError:
            log.warning("could not update post %s of %s", post.message_id, post.chat_id,
                        exc_info=True)

    live_counts(application).changed((model.__name__, record_id), edit)


async def tell(update: Update, application: Application, model: Kept, outcome: Outcome) -> None:
    """Tell the member what their act did (a toast for a tap, a reply to a command) and show
    the new counts on the post."""
    if update.callback_query is not None:
        await update.callback_query.answer(outcome.text)
    else:
        await reply(update, escape(outcome.text))
    if outcome.changed:
        refresh(application, model, outcome.record_id)


async def privately(sending: Awaitable[T]) -> T:
    """Await a send to a user's private chat; a user who never started the bot gets a polite
    UserError saying how to fix it, and the result never falls back to the group."""
    try:
        return await sending
    except (Forbidden, BadRequest) as exc:
        log.info("private delivery failed: %s", exc)
        raise UserError(NOT_REACHABLE) from exc
