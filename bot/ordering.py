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
"""Updates running at once; database work runs on the event loop, so this overlaps only the
waits on Telegram."""
WAITING_LIMIT = 10_000
"""Updates handed over and not finished, running or waiting for their turn: far more than a
getUpdates batch (100) or a webhook burst, so in practice no update waits outside its line."""


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

    PTB's own limit is set high so that every update takes its place in line as it is handed
    over, in the order the Application received them; the limit on updates actually running is
    applied only to those whose turn has come, so a user with many updates waiting holds up
    nobody else.
    """

    def __init__(self, max_running: int = CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates=WAITING_LIMIT)
        self._running = asyncio.Semaphore(max_running)
        self._last: dict[object, asyncio.Future[None]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = sender_of(update)
        before = self._last.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[key] = mine
        try:
            if before is not None:
                await asyncio.wait([before])  # unlike a plain await, a cancel here spares `before`
            async with self._running:
                await coroutine
        finally:
            mine.set_result(None)
            if self._last.get(key) is mine:
                del self._last[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
