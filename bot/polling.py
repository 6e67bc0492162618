"""Long polling that loses nothing: an update is acknowledged to Telegram only once handled.

PTB's own Updater acknowledges a batch (the next getUpdates offset) as soon as it is queued, so a
crash loses what was fetched but not yet handled. Here the offset moves past a batch only after
`application.update_queue` has drained it; after a crash Telegram delivers the rest again, and
the features' unique keys make a repeat harmless (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10  # seconds Telegram holds a getUpdates open when there is nothing to send
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds between retries after consecutive failures

T = TypeVar("T")


async def poll(application: Application, allowed_updates: list[str],
               stop: asyncio.Event) -> None:
    """Fetch, hand to the Application, wait until handled, acknowledge; until `stop` is set."""
    bot = application.bot
    await _until_done(bot.delete_webhook, stop, "deleteWebhook")
    offset: int | None = None
    while True:
        updates = await _until_done(
            partial(bot.get_updates, offset=offset, timeout=POLL_TIMEOUT,
                    allowed_updates=allowed_updates),
            stop, "getUpdates",
        )
        if updates is None:  # stopped; what the last fetch got comes again next time
            break
        for update in updates:
            await application.update_queue.put(update)
        await application.update_queue.join()
        if updates:
            offset = updates[-1].update_id + 1
    if offset is not None:  # acknowledge the last handled batch before exiting
        with contextlib.suppress(TelegramError):
            await bot.get_updates(offset=offset, timeout=0, allowed_updates=allowed_updates)


async def _until_done(make: Callable[[], Awaitable[T]], stop: asyncio.Event,
                      what: str) -> T | None:
    """`make()` until it succeeds, backing off after Telegram or network errors; None as soon
    as `stop` is set (a call in flight is abandoned)."""
    failures = 0
    while not stop.is_set():
        call = asyncio.ensure_future(make())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({call, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not call.done():
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await call
            return None
        try:
            return call.result()
        except InvalidToken:
            raise
        except TelegramError as exc:
            delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
            if isinstance(exc, RetryAfter):
                after = exc.retry_after
                delay = after.total_seconds() if isinstance(after, timedelta) else float(after)
            failures += 1
            log.warning("%s failed (%s); retrying in %.0f s", what, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    return None
