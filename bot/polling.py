"""Long polling that loses nothing and waits for no batch: an update is acknowledged to Telegram
only once handled, and a slow one holds up no other.

getUpdates(offset) confirms every update below `offset` and returns those from it on, so the
offset moves past the longest run of handled updates from the oldest fetched, never further.
Fetched updates are handled side by side (each user's in order). When all of them are done the
next fetch long-polls past them. While the offset moves, fetching sooner would only bring back
updates in hand; but when the oldest unhandled update holds it, fetching goes on from there,
skipping the updates in hand, so the others are answered meanwhile: after REFETCH_SOON seconds
when the last fetch brought new updates (members are tapping: more are waiting), after
REFETCH_AFTER when it brought none (a fetch past a held offset returns at once, so this bounds
how often an idle bot asks). At most a getUpdates batch (100) past the oldest unhandled is in
hand.

PTB's own Updater acknowledges a batch as soon as it is queued, so a crash loses what was
fetched but not yet handled. Here, after a crash Telegram delivers the unacknowledged updates
again, and the features' unique keys make a repeat harmless (at least once, never lost).
Failures of getUpdates are waited out under bot/http.py's policy, however long they last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.ordering import handle

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10  # seconds Telegram holds a getUpdates open when there is nothing to send
BATCH = 100  # updates a getUpdates returns at most (Telegram's limit)
REFETCH_AFTER = 0.25
"""Seconds the oldest unhandled update may hold the offset before the next updates are fetched
anyway, when the last fetch brought nothing new."""
REFETCH_SOON = 0.04
"""The same when the last fetch brought new updates: how long a slow update (a 10 MB upload
being parsed) can delay the taps behind it while members are tapping."""
ACKNOWLEDGE_SECONDS = 5.0
"""How long the last acknowledgement may take on stopping (Telegram may be away)."""

T = TypeVar("T")


class InHand:
    """The fetched updates not yet acknowledged, in id order, and which of them are handled."""

    def __init__(self) -> None:
        self.offset: int | None = None  # the oldest update not yet handled (or the next one)
        self.idle = asyncio.Event()  # nothing fetched is still being handled
        self.advanced = asyncio.Event()  # the offset moved
        self.idle.set()
        self._handled: dict[int, bool] = {}

    def __len__(self) -> int:
        return len(self._handled)

    def take(self, updates: Sequence[Update]) -> list[Update]:
        """The updates of a fetch that are not in hand yet, now taken."""
        # a fetch sent before the offset last moved may bring back updates handled since
        fresh = [u for u in updates if u.update_id not in self._handled
                 and (self.offset is None or u.update_id >= self.offset)]
        for update in fresh:
            self._handled[update.update_id] = False
        if fresh:
            self.idle.clear()
        return fresh

    def done(self, update_id: int) -> None:
        """One update handled: the offset moves past every handled one at the front."""
        self._handled[update_id] = True
        while self._handled and self._handled[first := next(iter(self._handled))]:
            del self._handled[first]
            self.offset = first + 1
            self.advanced.set()
        if not self._handled:
            self.idle.set()


async def poll(application: Application, allowed_updates: list[str],  # type: ignore[type-arg]
               stop: asyncio.Event) -> None:
    """Fetch, hand each update to the Application, acknowledge the handled; until `stop` is
    set. Then finish what is in hand and acknowledge it."""
    bot = application.bot
    in_hand = InHand()
    while not stop.is_set():
        updates = await _unless_stopped(bot.get_updates(
            offset=in_hand.offset, timeout=POLL_TIMEOUT, limit=BATCH,
            allowed_updates=allowed_updates), stop)
        if updates is None:
            break
        fresh = in_hand.take(updates)
        for update in fresh:
            application.create_task(_handle(application, update, in_hand), update=update)
        await _until_worth_fetching(in_hand, stop, REFETCH_SOON if fresh else REFETCH_AFTER)
    await in_hand.idle.wait()
    if in_hand.offset is not None:  # acknowledge the last handled before exiting
        with contextlib.suppress(TelegramError, TimeoutError):
            async with asyncio.timeout(ACKNOWLEDGE_SECONDS):
                await bot.get_updates(offset=in_hand.offset, timeout=0, limit=1,
                                      allowed_updates=allowed_updates)


async def _until_worth_fetching(in_hand: InHand, stop: asyncio.Event, held: float) -> None:
    """Until nothing is in hand, or the oldest update has held the offset for `held` seconds
    with room for more behind it."""
    while len(in_hand) and not stop.is_set():
        in_hand.advanced.clear()
        await _until(in_hand.advanced, stop, most=held)
        if not in_hand.advanced.is_set() and len(in_hand) < BATCH:
            return


async def _handle(application: Application, update: Update,  # type: ignore[type-arg]
                  in_hand: InHand) -> None:
    try:
        await handle(application, update)
    finally:
        in_hand.done(update.update_id)


async def _unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event) -> T | None:
    """What `awaitable` gives, or None as soon as `stop` is set (it is then cancelled)."""
    work = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError, TelegramError):
        await work
    return None


async def _until(event: asyncio.Event, stop: asyncio.Event, most: float | None = None) -> None:
    """Wait until `event` or `stop` is set, or for `most` seconds."""
    waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waits, timeout=most, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
