"""LiveCounts on its own, on a manual clock: edits in the background, one per interval, and a
stop that does not wait for edits held back by a group's limit."""

from __future__ import annotations

import asyncio
import contextlib

from manual_time import ManualTime, until

from handlers.posts import LiveCounts


async def test_changes_fold_into_one_trailing_edit_per_interval() -> None:
    time = ManualTime()
    start = time.now
    counts = LiveCounts(interval=3.0, clock=time.clock, sleep=time.sleep)
    edits: list[tuple[int, float]] = []

    def edit_of(post: int):  # type: ignore[no-untyped-def]
        async def edit() -> None:
            edits.append((post, time.now))
        return edit

    counts.changed(("Activity", 1), edit_of(1))
    counts.changed(("Activity", 2), edit_of(2))  # another post is not held back by the first
    await until(lambda: len(edits) == 2)  # the first change of each edits at once
    time.advance(1.0)
    for _ in range(10):
        counts.changed(("Activity", 1), edit_of(1))
    await until(lambda: time.sleeping)
    assert time.sleeping == [start + 3.0]  # ten changes, one trailing edit, at the interval
    time.advance(1.9)
    await until(lambda: True)
    assert len(edits) == 2
    time.advance(0.1)
    await counts.drain()
    assert edits == [(1, start), (2, start), (1, start + 3.0)]


async def test_drain_on_stop_gives_up_on_edits_that_cannot_go_out() -> None:
    counts = LiveCounts()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def held_back_edit() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a group's 20/min bucket is full: never sent
        except asyncio.CancelledError:
            cancelled.set()
            raise

    counts.changed(("Activity", 1), held_back_edit)
    draining = asyncio.create_task(counts.drain())
    await started.wait()
    draining.cancel()  # the stop gives up waiting
    with contextlib.suppress(asyncio.CancelledError):
        await draining
    assert cancelled.is_set()  # the held-back edit was cancelled with it
    await counts.drain()  # nothing is left to wait for


async def test_a_platforms_own_interval_replaces_the_default() -> None:
    """A post on a platform with a shorter interval (WeCom: a card is replaced only within 5 s
    of a tap) gets its trailing edit that much sooner."""
    time = ManualTime()
    start = time.now
    counts = LiveCounts(interval=3.0, clock=time.clock, sleep=time.sleep)
    edits: list[float] = []

    async def edit() -> None:
        edits.append(time.now)

    counts.changed(("Activity", 1), edit, 1.0)
    await until(lambda: len(edits) == 1)
    time.advance(0.5)
    counts.changed(("Activity", 1), edit, 1.0)
    await until(lambda: time.sleeping)
    assert time.sleeping == [start + 1.0]
    time.advance(0.5)
    await counts.drain()
    assert edits == [start, start + 1.0]
