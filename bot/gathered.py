"""One write for many callers, under a storm: the stored inbox's inserts and done marks, the
identity rows of members seen for the first time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

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
