"""LiveCounts on its own: edits in the background, one per interval, and a stop that does not
wait a minute for edits held back by a group's limit."""

from __future__ import annotations

import asyncio
import contextlib
import time

from handlers.posts import LiveCounts


async def test_changes_fold_into_one_trailing_edit_per_interval() -> None:
    counts = LiveCounts(interval=0.2)
    edits: list[tuple[int, float]] = []
    started = time.monotonic()

    def edit_of(post: int):  # type: ignore[no-untyped-def]
        async def edit() -> None:
            edits.append((post, time.monotonic() - started))
        return edit

    counts.changed(("Activity", 1), edit_of(1))
    counts.changed(("Activity", 2), edit_of(2))  # another post is not held back by the first
    for _ in range(10):
        await asyncio.sleep(0.01)
        counts.changed(("Activity", 1), edit_of(1))
    await counts.drain()
    first = [at for post, at in edits if post == 1]
    [second] = [at for post, at in edits if post == 2]
    assert len(first) == 2 and first[1] - first[0] >= 0.19  # the loop may wake a tick early
    assert second < first[1]


async def test_drain_on_stop_gives_up_on_edits_that_cannot_go_out() -> None:
    counts = LiveCounts(interval=0.2)
    held = asyncio.Event()

    async def held_back_edit() -> None:
        await held.wait()  # a group's 20/min bucket is full

    counts.changed(("Activity", 1), held_back_edit)
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.2):
            await counts.drain()
    assert time.monotonic() - started < 1.0
    async with asyncio.timeout(1):  # the held-back edit was cancelled: nothing left to wait for
        await counts.drain()
