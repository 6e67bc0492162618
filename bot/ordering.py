"""Updates handled concurrently, each user's in the order they came.

One at a time, every update waited for the Bot API round trips of all before it (15 taps/s at a
50 ms round trip). Concurrently, a user's second update could overtake the first: a leave
reason handled before its [请假] tap finds nobody expecting it. So updates of different users
run side by side and a user's own updates run one after another, in arrival order.

How many run at once follows from the round trip to Telegram, measured at start: to handle
DESIGN_RATE updates a second that each wait a round trip, that many times the round trip must be
in flight (Little's law), doubled because each also waits its turn on the event loop. More buys
nothing: database work runs on the loop, so extra updates only wait on each other's work. With
Telegram next door, the slowest 1% of 签到 taps took 100-190 ms with 32 at a time, 33-205 ms
with 16, and mostly 26-42 ms with 8; at a 50 ms round trip, 16 at a time handled 190 taps/s,
34 handled 290 and 58 handled 350.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, Update
from telegram.ext import Application, BaseUpdateProcessor

WAITING_LIMIT = 10_000
"""Updates handed over and not finished, running or waiting for their turn: far more than a
getUpdates batch (100) or a webhook burst, so in practice no update waits outside its line."""
DESIGN_RATE = 500
"""Updates a second the bot is sized for: 5,000 签到 taps in 10 s."""
FEWEST = 8
"""Updates at once when Telegram answers at once: enough to overlap the database and the Bot
API calls, few enough that each update's time stays that of its own work."""
MEASURED_ROUND_TRIPS = 3


def running_for(round_trip: float, most: int) -> int:
    """Updates to run at once when each Bot API call takes `round_trip` seconds (see above)."""
    return min(most, FEWEST + math.ceil(2 * DESIGN_RATE * round_trip))


async def round_trip_to(bot: Bot) -> float:
    """Seconds a Bot API call takes, the fastest of a few getMe (the first may open the
    connection)."""
    times = []
    for _ in range(MEASURED_ROUND_TRIPS):
        started = time.perf_counter()
        await bot.get_me()
        times.append(time.perf_counter() - started)
    return min(times)


async def handle(application: Application, update: object) -> None:  # type: ignore[type-arg]
    """Handle one update through the Application's processor (so after the same user's earlier
    ones), as PTB's own queue does, for a runner that must know when each one is done. Call it
    in arrival order: an update takes its place in its user's line as this starts."""
    await application.update_processor.process_update(update, application.process_update(update))


def sender_of(update: object) -> object:
    """Whose order an update keeps: its user, else its chat; an update with neither keeps none."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
    return object()


STORED_RUNNING = 16
"""Events handled at once on the platforms whose events come out of the inbox (Feishu,
DingTalk, WeCom), unless DANGJIAN_CONCURRENT_UPDATES says: enough to keep the database busy,
few enough not to queue hundreds of flows on its write lock in a storm."""


class PerUserOrder(BaseUpdateProcessor):
    """A user's update starts once the same user's previous one has finished; others don't wait.

    PTB's own limit is set high so that every update takes its place in line as it is handed
    over, in the order the Application received them; the limit on updates actually running is
    applied only to those whose turn has come, so a user with many updates waiting holds up
    nobody else.
    """

    def __init__(self, max_running: int,
                 key: Callable[[object], object] = sender_of) -> None:
        """`key(update)`: whose order it keeps (another platform's runner gives its own)."""
        super().__init__(max_concurrent_updates=WAITING_LIMIT)
        self.key = key
        self.max_running = max_running
        self._running = asyncio.Semaphore(max_running)
        self._last: dict[object, asyncio.Future[None]] = {}

    def resize(self, max_running: int) -> None:
        """Run up to `max_running` at once; only before updates flow (a semaphore in use
        cannot be resized)."""
        if self._last:
            raise RuntimeError("updates are running")
        self.max_running = max_running
        self._running = asyncio.Semaphore(max_running)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self.key(update)
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
