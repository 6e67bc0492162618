"""The webhook inbox's gathered writes: what is submitted while a write is under way goes in the
next one, each caller gets its own item's result, and a failed write fails only its callers."""

from __future__ import annotations

import asyncio

import pytest

from bot.gathered import Gathered


class Writes:
    """A write that records its batches and waits at `gate` until the test opens it."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.fail_on = fail_on

    async def write(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.started.set()
        await self.gate.wait()
        if self.fail_on in items:
            raise ConnectionError("database away")
        return [item * 10 for item in items]


async def test_items_submitted_during_a_write_go_together_in_the_next() -> None:
    """Items submitted while a write is under way go in one next write; each caller gets its
    result."""
    writes = Writes()
    gathered: Gathered[int, int] = Gathered(writes.write)
    first = asyncio.create_task(gathered.submit(1))
    await writes.started.wait()  # the first write is under way, held at the gate
    later = [asyncio.create_task(gathered.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)  # they get to submit
    writes.gate.set()
    assert [await first, *[await task for task in later]] == [10, 20, 30, 40]
    assert writes.batches == [[1], [2, 3, 4]]


async def test_a_failed_write_fails_its_callers_only() -> None:
    """A write that raises fails its own callers; earlier and later writes are unaffected."""
    writes = Writes(fail_on=2)
    gathered: Gathered[int, int] = Gathered(writes.write)
    first = asyncio.create_task(gathered.submit(1))
    await writes.started.wait()
    failing = [asyncio.create_task(gathered.submit(n)) for n in (2, 3)]
    await asyncio.sleep(0)
    writes.gate.set()
    assert await first == 10
    for task in failing:
        with pytest.raises(ConnectionError):
            await task
    assert await gathered.submit(5) == 50  # the next write goes ahead
    assert writes.batches == [[1], [2, 3], [5]]
