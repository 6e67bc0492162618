"""Webhook updates that survive a crash and are handled by one replica.

Each update is stored (storage/inbox.py) before Telegram is answered 200, handled from there by
the replica that holds its claim, and marked done. A replica renews its claims while it lives.
One that dies leaves its unhandled updates to whichever replica sees their claims expire, or to
itself when it is restarted: it claims under the same name (host and port), so it takes them up
at once. A repeat of an id already stored is dropped by the database's key, whichever replica it
reaches. An update whose handling crashed the process MOST_ATTEMPTS times is given up (logged),
so one poisonous update cannot keep a replica crashing.

Under a storm the writes are gathered (`Gathered`): the updates received while one insert is
under way go together in the next, and so do the done marks; a lone update is written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Generic, TypeVar

from telegram import Update

from bot.ordering import handle
from bot.telemetry import InstrumentedApplication
from storage import inbox
from storage.db import Database

log = logging.getLogger(__name__)

RENEW_EVERY = 5.0
"""Seconds between a replica's rounds: renew its claims, take over expired ones."""
DONE_MARKS_GATHER = 0.05
"""Seconds the done marks wait to go together in one write. A crash loses the marks of the
updates handled in that time, and they are handled again, as any update in hand at a crash."""
PRUNE_EVERY = 600.0
MOST_ATTEMPTS = 3

Item = TypeVar("Item")
Result = TypeVar("Result")


class Gathered(Generic[Item, Result]):
    """One write for many callers: the items submitted while a write is under way go together
    in the next one, so a storm of 500 updates a second costs tens of statements and commits a
    second, not a thousand, and a lone item is written at once (or after `gather` seconds).
    `write(items)` returns each item's result, in order; if it raises, every caller of that
    write gets the exception."""

    def __init__(self, write: Callable[[list[Item]], Awaitable[Sequence[Result]]],
                 gather: float = 0.0) -> None:
        self._write = write
        self._gather = gather
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        return await future

    async def _write_waiting(self) -> None:
        while self._waiting:
            if self._gather:
                await asyncio.sleep(self._gather)
            batch, self._waiting = self._waiting, []
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


class Inbox:
    """The webhook updates of one replica, named `worker`: received, taken over, handled."""

    def __init__(self, application: InstrumentedApplication, db: Database, worker: str) -> None:
        self.application = application
        self.db = db
        self.worker = worker
        self.ready = False
        self._in_flight: set[int] = set()
        self._unfinished: set[int] = set()  # handled, but the database refused the done mark
        self._keeper: asyncio.Task[None] | None = None
        self._recovered = False  # this replica's own updates from before a restart taken up
        self._stores: Gathered[tuple[Update, str], bool] = Gathered(self._store)
        self._finishes: Gathered[int, None] = Gathered(self._finish, DONE_MARKS_GATHER)

    async def receive(self, update: Update, payload: str) -> bool:
        """Store the update (its JSON `payload`) and start handling it; False for a repeat
        (dropped). Raises when it cannot be stored: then Telegram must not be told it
        arrived."""
        return await self._stores.submit((update, payload))

    async def start(self) -> None:
        """Take up what this replica held before a restart and what others left; then keep the
        claims alive. Call once the Application runs."""
        try:
            await self._take_over()
        except Exception:  # the database is away: the rounds take them up once it is back
            log.warning("could not take up the stored updates at start", exc_info=True)
        self.ready = True
        self._keeper = asyncio.create_task(self._keep(), name="webhook-inbox")

    async def stop(self) -> None:
        """Stop renewing (call after the Application has finished the updates it had)."""
        self.ready = False
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self._finish(list(self._unfinished))

    async def _store(self, received: list[tuple[Update, str]]) -> list[bool]:
        """Insert, then start handling what was new, in the order received (here, so that a
        caller who stops waiting cannot leave a stored update unhandled)."""
        rows = {update.update_id: payload for update, payload in reversed(received)}
        stored = await self.db.autocommit_async(partial(
            inbox.store, updates=sorted(rows.items()), worker=self.worker))
        new = []
        for update, _ in received:
            new.append(update.update_id in stored)
            if new[-1]:
                stored.discard(update.update_id)  # a second copy in the same batch is a repeat
                self._dispatch(update)
        return new

    def _dispatch(self, update: Update) -> None:
        self._in_flight.add(update.update_id)
        self.application.create_task(self._handle(update), update=update)

    async def _handle(self, update: Update) -> None:
        try:
            await handle(self.application, update)
        finally:
            self._in_flight.discard(update.update_id)
            await self._finishes.submit(update.update_id)

    async def _finish(self, update_ids: Sequence[int], status: str = "done") -> list[None]:
        """Mark updates handled (or given up); when the database refuses, the next round does."""
        if update_ids:
            try:
                await self.db.autocommit_async(partial(inbox.finish, update_ids=update_ids,
                                                       status=status))
            except Exception:  # the database is away
                log.warning("could not mark updates %s %s", sorted(update_ids), status,
                            exc_info=True)
                self._unfinished.update(update_ids)
            else:
                self._unfinished.difference_update(update_ids)
        return [None] * len(update_ids)

    async def _take_over(self) -> None:
        """Claim and handle expired claims, and (until done once) this replica's own from
        before a restart: the renewals extend those too, so they would never expire."""
        rows = await self.db.autocommit_async(partial(inbox.take_over, worker=self.worker,
                                                      own=not self._recovered))
        self._recovered = True
        given_up = {update_id for update_id, _, attempts in rows if attempts > MOST_ATTEMPTS}
        if given_up:
            log.error("updates %s given up: handling them ended the process %d times",
                      sorted(given_up), MOST_ATTEMPTS)
            await self._finish(list(given_up), "failed")
        for update_id, payload, attempts in rows:
            if update_id in given_up or update_id in self._in_flight:
                continue
            log.warning("taking up update %s, stored and not handled (attempt %d)", update_id,
                        attempts)
            self.application.metrics.recovered_updates.inc()
            self._dispatch(Update.de_json(json.loads(payload), self.application.bot))

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        pruned = loop.time()
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await self.db.autocommit_async(partial(inbox.renew, worker=self.worker))
                await self._finish(list(self._unfinished))
                await self._take_over()
                if loop.time() - pruned >= PRUNE_EVERY:
                    await self.db.autocommit_async(inbox.prune)
                    pruned = loop.time()
            except Exception:  # the database is away: the next round tries again
                log.warning("webhook inbox round failed", exc_info=True)
