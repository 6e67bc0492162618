"""The real Application over the in-process Bot API, set up for the attendance handler tests:
two branch groups with their admins, a settable clock, and live-count edits that can be awaited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from attendance_world import BRANCH, OTHER, OTHER_SECRETARY, SECRETARY, START
from harness import BotHarness
from manual_time import ManualTime
from telegram.request import RequestData

from bot.app import build_application, core_of
from bot.config import Settings
from bot.offline import ApiCall, LocalBotApi
from bot.services import build_services
from handlers.posts import EDIT_INTERVAL, LiveCounts, live_counts


class Clock:
    """The services' clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ClosedDMs(LocalBotApi):
    """Telegram's answer for users who never started the bot: 403 on sends to their chat."""

    def __init__(self, closed: set[int]) -> None:
        super().__init__()
        self.closed = closed

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        params = request_data.json_parameters if request_data else {}
        if url.rsplit("/", 1)[-1].startswith("send") and int(params.get("chat_id", 0)) in self.closed:
            error = {"ok": False, "error_code": 403,
                     "description": "Forbidden: bot can't initiate conversation with a user"}
            return 403, json.dumps(error).encode()
        return await super().do_request(url, method, request_data, *args, **kwargs)


class AttendanceBot(BotHarness):
    """BotHarness with both branch groups known to the fake API and their admins set."""

    def __init__(self, settings: Settings, clock: Clock, closed_dms: set[int]) -> None:
        super().__init__(build_services(settings, clock=clock))
        self.clock = clock
        if closed_dms:
            self.api = ClosedDMs(closed_dms)
            self.app = build_application(self.services, request=self.api, rate_limited=False)
        for chat_id in (BRANCH, OTHER):
            self.api.chats[chat_id] = self.updates.chat(chat_id)
        self.make_admin(BRANCH, SECRETARY)
        self.make_admin(OTHER, OTHER_SECRETARY)
        self.time = ManualTime()  # live-count edits wait on it: moved on by settle()
        core_of(self.app).state["live_counts"] = LiveCounts(clock=self.time.clock,
                                                      sleep=self.time.sleep)

    async def say(self, text: str, user_id: int, chat_id: int | None = None,
                  at: datetime | None = None, **kwargs: Any) -> list[ApiCall]:
        """A message sent at `at` (default: the clock's now)."""
        date = int((at or self.clock.now).timestamp())
        return await self.send(text, user_id=user_id, chat_id=chat_id, date=date, **kwargs)

    async def settle(self) -> list[ApiCall]:
        """Let the trailing live-count edits happen (the edit interval passes on the manual
        clock as often as they need); returns the calls they made."""
        before = len(self.api.calls)
        drained = asyncio.ensure_future(live_counts(core_of(self.app)).drain())
        while not drained.done():
            self.time.advance(EDIT_INTERVAL)
            await asyncio.sleep(0)
        await drained
        return self.api.calls[before:]


@asynccontextmanager
async def attendance_bot(settings: Settings, now: datetime = START,
                         closed_dms: set[int] | None = None) -> AsyncIterator[AttendanceBot]:
    async with AttendanceBot(settings, Clock(now), closed_dms or set()) as bot:
        yield bot
        await bot.settle()


def texts(calls: list[ApiCall], method: str = "sendMessage",
          chat_id: int | None = None) -> list[str]:
    """What the bot said by `method` (to one chat, if given)."""
    return [
        c.text for c in calls
        if c.method == method and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
    ]


def answers(calls: list[ApiCall]) -> list[str]:
    return [c.params.get("text", "") for c in calls if c.method == "answerCallbackQuery"]
