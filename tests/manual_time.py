"""A clock and a sleep that move only when the test says so: timing rules tested without wall
time, so a slow or loaded machine cannot change what a test sees."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class ManualTime:
    """`clock()` reads the time, `await sleep(seconds)` waits until `advance` passes its end."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a turn of the loop, as asyncio.sleep(0) gives
            return
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), woken))
        await woken

    @property
    def sleeping(self) -> list[float]:
        """When each sleeper that is still waiting wakes."""
        return sorted(at for at, _, woken in self._sleepers if not woken.done())

    def advance(self, seconds: float) -> None:
        """Move the time on and wake every sleep that ends by then."""
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)


async def until(condition: object, *, turns: int = 1000) -> None:
    """Let other tasks run until `condition()` holds; a bounded number of loop turns, not a
    time, so a slow machine only runs slower."""
    for _ in range(turns):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError(f"not reached within {turns} turns of the event loop")


class Pauses:
    """A retry policy's pauses, recorded instead of waited; each moves `time` on when given."""

    def __init__(self, time: ManualTime | None = None) -> None:
        self.taken: list[float] = []
        self.time = time

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        if self.time is not None:
            self.time.now += seconds
