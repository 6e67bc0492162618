"""Webhook updates (and Feishu's events) that survive a crash and are handled by one replica.

Each update is stored (storage/inbox.py) before the platform is answered, handled from there by
the replica that holds its claim, and marked done. A replica renews its claims while it lives.
One that dies leaves its unhandled updates to whichever replica sees their claims expire, or to
itself when it is restarted: it claims under the same name (host and port), so it takes them up
at once. A repeat of an id already stored is dropped by the database's key, whichever replica it
reaches. An update whose handling crashed the process MOST_ATTEMPTS times is given up (logged),
so one poisonous update cannot keep a replica crashing.

Under a storm the writes are gathered (bot/gathered.py): the updates received while one insert
is under way go together in the next, and so do the done marks; a lone update is written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
from typing import Any, Generic, TypeVar

from bot.gathered import Gathered
from bot.ordering import STORED_RUNNING, PerUserOrder
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

Update = TypeVar("Update")


def event_key(platform: str, event_id: str) -> int:
    """The inbox's key of another platform's event: a 63-bit number from its id, negative so it
    never meets a Telegram update id in the same table."""
    digest = hashlib.sha256(f"{platform}:{event_id}".encode()).digest()
    return -(int.from_bytes(digest[:8], "big") >> 1) - 1


class Inbox(Generic[Update]):
    """The stored updates of one replica, named `worker`: received, taken over, handled.

    What an update is belongs to its platform: `key(update)` its number (unique in the table),
    `decode(payload)` the update again from what was stored, `run(update)` handles it, and
    `spawn(coroutine, update)` starts that (Telegram: as the Application's task)."""

    def __init__(self, db: Database, worker: str, *, key: Callable[[Update], int],
                 decode: Callable[[str], Update], run: Callable[[Update], Awaitable[None]],
                 spawn: Callable[[Coroutine[Any, Any, None], Update], object] | None = None,
                 on_recovered: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.worker = worker
        self.key, self.decode, self.run = key, decode, run
        self.spawn = spawn or (lambda coroutine, _update: asyncio.create_task(coroutine))
        self.on_recovered = on_recovered
        self.ready = False
        self._in_flight: set[int] = set()
        self._idle = asyncio.Event()  # set while nothing is in flight
        self._idle.set()
        self._unfinished: set[int] = set()  # handled, but the database refused the done mark
        self._keeper: asyncio.Task[None] | None = None
        self._recovered = False  # this replica's own updates from before a restart taken up
        self._stores: Gathered[tuple[Update, str], bool] = Gathered(self._store)
        self._finishes: Gathered[int, None] = Gathered(self._finish, DONE_MARKS_GATHER)

    async def receive(self, update: Update, payload: str) -> bool:
        """Store the update (its JSON `payload`) and start handling it; False for a repeat
        (dropped). Raises when it cannot be stored: then the platform must not be told it
        arrived."""
        return await self._stores.submit((update, payload))

    async def start(self) -> None:
        """Take up what this replica held before a restart and what others left; then keep the
        claims alive. Call once updates can be handled."""
        try:
            await self._take_over()
        except Exception:  # the database is away: the rounds take them up once it is back
            log.warning("could not take up the stored updates at start", exc_info=True)
        self.ready = True
        self._keeper = asyncio.create_task(self._keep(), name="webhook-inbox")

    async def drain(self, seconds: float) -> None:
        """Wait up to `seconds` for the updates in hand to be handled (before a platform's
        connection closes under their replies)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), seconds)

    async def stop(self) -> None:
        """Stop renewing (call after the updates in hand are finished)."""
        self.ready = False
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self._finish(list(self._unfinished))

    async def _store(self, received: list[tuple[Update, str]]) -> list[bool]:
        """Insert, then start handling what was new, in the order received (here, so that a
        caller who stops waiting cannot leave a stored update unhandled)."""
        rows = {self.key(update): payload for update, payload in reversed(received)}
        stored = await self.db.autocommit_async(partial(
            inbox.store, updates=sorted(rows.items()), worker=self.worker))
        new = []
        for update, _ in received:
            new.append(self.key(update) in stored)
            if new[-1]:
                stored.discard(self.key(update))  # a second copy in the same batch is a repeat
                self._dispatch(update)
        return new

    def _dispatch(self, update: Update) -> None:
        self._in_flight.add(self.key(update))
        self._idle.clear()
        self.spawn(self._handle(update), update)

    async def _handle(self, update: Update) -> None:
        try:
            await self.run(update)
        finally:
            self._in_flight.discard(self.key(update))
            if not self._in_flight:
                self._idle.set()
            await self._finishes.submit(self.key(update))

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
            self.on_recovered()
            self._dispatch(self.decode(payload))

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


class StoredEvents(Inbox[dict[str, Any]]):
    """Another platform's events (JSON objects) in the inbox, kept under `worker:platform`:
    each member's handled in their order (`sender(event)`), STORED_RUNNING of them at once
    unless `running` says."""

    def __init__(self, db: Database, worker: str, platform: str, *,
                 key: Callable[[dict[str, Any]], int], sender: Callable[[object], object],
                 handle: Callable[[dict[str, Any]], Awaitable[None]],
                 running: int | None = None) -> None:
        order = PerUserOrder(running or STORED_RUNNING, key=sender)
        super().__init__(db, f"{worker}:{platform}"[-64:], key=key, decode=json.loads,
                         run=lambda event: order.do_process_update(event, handle(event)))

    async def receive_event(self, event: dict[str, Any]) -> bool:
        """Store the event and start handling it; False for a repeat (dropped)."""
        return await self.receive(event, json.dumps(event, ensure_ascii=False))

