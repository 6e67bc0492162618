"""Updates handled concurrently, each user's in the order they came.

One at a time, every update waited for the Bot API round trips of all before it (15 taps/s at a
50 ms round trip). Concurrently, a user's second update could overtake the first: a leave
reason handled before its [请假] tap finds nobody expecting it. So updates of different users
run side by side and a user's own updates run one after another, in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

CONCURRENT_UPDATES = 32
"""Updates in flight at once; database work runs on the event loop, so this overlaps only the
waits on Telegram."""


def sender_of(update: object) -> object:
    """Whose order an update keeps: its user, else its chat; an update with neither keeps none."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
    return object()


class PerUserOrder(BaseUpdateProcessor):
    """A user's update starts once the same user's previous one has finished; others don't wait.

    The place in line is taken when the update is handed over, before any await, so it follows
    the order in which the Application received the updates.
    """

    def __init__(self, max_concurrent_updates: int = CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._last: dict[object, asyncio.Future[None]] = {}

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = sender_of(update)
        before = self._last.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[key] = mine
        try:
            if before is not None:
                await asyncio.wait([before])  # unlike a plain await, a cancel here spares `before`
            await super().process_update(update, coroutine)
        finally:
            mine.set_result(None)
            if self._last.get(key) is mine:
                del self._last[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
