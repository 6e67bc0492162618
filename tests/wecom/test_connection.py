"""Our client of WeCom's AI bot long connection against the fake: subscription, heartbeat,
reconnecting, answers correlated by req_id, errcodes through the one retry policy, and the
chunked media upload."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes.wecom import BOT_ID, RATE_LIMITED, SECRET, FakeWeCom

from bot.http import RetryPolicy
from bot.wecom.connection import (
    CHUNK_BYTES,
    SEND,
    Displaced,
    LongConnection,
    Rejected,
    WeComError,
)

WAIT = 10  # seconds: a bound for a hung connection, not a timing under test


class Beats:
    """A sleep the test steps: each call waits until the test lets one beat go."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.go = asyncio.Semaphore(0)

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.go.acquire()


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom() as server:
        yield server


async def _noop(_frame: dict[str, Any]) -> None:
    return None


async def test_wrong_credentials_are_refused_at_start(fake: FakeWeCom) -> None:
    """A refused subscription ends the connection with `Rejected`, not endless reconnects."""
    connection = LongConnection(BOT_ID, "wrong", fake.url, _noop)
    with pytest.raises(Rejected) as refused:
        await asyncio.wait_for(connection.start(), WAIT)
    assert refused.value.code == 40001 and fake.refused == 1
    assert not connection.subscribed.is_set()
    await connection.stop()


async def test_callbacks_arrive_in_order_and_pings_keep_it_alive(fake: FakeWeCom) -> None:
    """Callbacks reach `on_frame` as sent; a ping goes out each beat and is answered."""
    got: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def on_frame(frame: dict[str, Any]) -> None:
        got.append(frame)
        if len(got) == 2:
            arrived.set()

    beats = Beats()
    connection = LongConnection(BOT_ID, SECRET, fake.url, on_frame, sleep=beats)
    await asyncio.wait_for(connection.start(), WAIT)
    assert connection.subscribed.is_set()
    await fake.push(fake.text_message("grp1", "u1", "/help"))
    await fake.push(fake.text_message("u1", "u1", "你好", group=False))
    await asyncio.wait_for(arrived.wait(), WAIT)
    assert [f["body"]["text"]["content"] for f in got] == ["@党建助手 /help", "你好"]
    beats.go.release()
    await asyncio.wait_for(fake.until(lambda: fake.pings == 1), WAIT)
    await connection.stop()


async def test_a_dropped_connection_is_opened_again_and_logged(
        fake: FakeWeCom, caplog: pytest.LogCaptureFixture) -> None:
    """When WeCom closes the socket, the client says so, waits its pause and subscribes
    again; what was pushed meanwhile arrives."""
    got = asyncio.Event()
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        if seconds != 30.0:  # not the heartbeat
            return
        await asyncio.Event().wait()

    async def on_frame(frame: dict[str, Any]) -> None:
        got.set()

    connection = LongConnection(BOT_ID, SECRET, fake.url, on_frame, sleep=pause)
    await asyncio.wait_for(connection.start(), WAIT)
    await fake.disconnect()
    await fake.push(fake.text_message("grp1", "u1", "在吗"))  # held until subscribed again
    await asyncio.wait_for(got.wait(), WAIT)
    assert fake.subscriptions == 2
    assert connection.reconnects == 1 and 1.0 in pauses
    assert "reconnecting in 1 s (attempt 1)" in caplog.text
    await connection.stop()


async def test_a_rate_limit_is_waited_out_and_the_push_sent_once(fake: FakeWeCom) -> None:
    """45009 is the retry policy's RateLimited: waited out, then the push goes through once;
    another errcode is WeComError with its code."""
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    connection = LongConnection(BOT_ID, SECRET, fake.url, _noop,
                                policy=RetryPolicy(sleep=sleep))
    await asyncio.wait_for(connection.start(), WAIT)
    fake.rate_limit(2)
    body = {"chatid": "grp1", "msgtype": "markdown", "markdown": {"content": "通知"}}
    await connection.request(SEND, body)
    assert [f.errcode for f in fake.of(SEND)] == [RATE_LIMITED, RATE_LIMITED, 0]
    assert waited == [1.0, 1.0] and fake.texts("grp1") == ["通知"]
    fake.fail(40058)
    with pytest.raises(WeComError) as refused:
        await connection.request(SEND, body)
    assert refused.value.code == 40058
    await connection.stop()


async def test_media_is_uploaded_in_chunks(fake: FakeWeCom) -> None:
    """A file over one chunk goes in several, and WeCom's media_id names the whole."""
    connection = LongConnection(BOT_ID, SECRET, fake.url, _noop)
    await asyncio.wait_for(connection.start(), WAIT)
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 10)
    media_id = await connection.upload("file", "台账.xlsx", data)
    assert fake.media[media_id] == ("file", "台账.xlsx", data)
    assert len(fake.of("aibot_upload_media_chunk")) == 3
    await connection.stop()


async def test_a_second_connection_takes_the_bot_and_the_first_lets_it(fake: FakeWeCom) -> None:
    """WeCom keeps one connection per bot: the displaced one says so and does not take it back
    (which would only displace the other in turn); the newer one goes on."""
    first = LongConnection(BOT_ID, SECRET, fake.url, _noop)
    await asyncio.wait_for(first.start(), WAIT)
    second = LongConnection(BOT_ID, SECRET, fake.url, _noop)
    await asyncio.wait_for(second.start(), WAIT)
    assert first._task is not None
    await asyncio.wait_for(first._task, WAIT)  # it ended: no reconnecting
    assert isinstance(first.error, Displaced) and not first.subscribed.is_set()
    assert second.subscribed.is_set() and fake.subscriptions == 2
    await first.stop()
    await second.stop()
