"""lark-oapi's own long-connection client (`ws.Client`, on its thread) against the fake
platform: endpoint discovery, the WebSocket, ping/pong, events pushed as protobuf frames and
the client's acknowledgements carrying a card action's answer. The fake is served on the test's
loop, so this also pins down that the client never blocks it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes.feishu import APP_ID, APP_SECRET, FakeFeishu

from bot.feishu.longconn import LongConnection

GROUP, MEMBER = "oc_group0001", "ou_member"
TOAST = {"toast": {"type": "success", "content": "已签到"}}
WAIT = 10  # seconds: a bound for a hung connection, not a timing under test


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeishu]:
    async with FakeFeishu() as server:
        yield server


async def test_events_pushed_over_the_long_connection_reach_our_loop(fake: FakeFeishu) -> None:
    """A message event and a card tap come through as the same envelopes the fake sent; the
    tap's acknowledgement carries our answer (a toast), the message's none."""
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def on_event(event: dict[str, Any]) -> dict[str, Any] | None:
        assert asyncio.get_running_loop() is loop
        await received.put(event)
        return TOAST if event["header"]["event_type"] == "card.action.trigger" else None

    connection = LongConnection(APP_ID, APP_SECRET, fake.url, on_event)
    connection.start()
    try:
        await asyncio.wait_for(fake.connected(), WAIT)
        message = fake.message_event(GROUP, MEMBER, "党课什么时候上？", mention_bot=True)
        ack = await asyncio.wait_for(fake.push(message), WAIT)
        assert ack["code"] == 200 and not ack.get("data")
        assert received.get_nowait() == message  # acknowledged once handled
        ack = await asyncio.wait_for(fake.push(message, parts=3), WAIT)  # a large event
        assert ack["code"] == 200 and received.get_nowait() == message

        tap = fake.card_action("om_1", GROUP, MEMBER, {"action": "att:in", "id": 7})
        ack = await asyncio.wait_for(fake.push(tap), WAIT)
        assert ack == {"code": 200, "data": TOAST}
        assert received.get_nowait() == tap
        assert fake.pings >= 1  # the client pings as soon as it is connected
        assert fake.ws_connections == 1
        [discovery] = fake.calls_to("POST", "/callback/ws/endpoint")
        assert discovery.body == {"AppID": APP_ID, "AppSecret": APP_SECRET}
    finally:
        await connection.stop()
    assert connection.ended.is_set() and connection.error is None


async def test_rejected_credentials_end_the_connection_with_the_reason(
        fake: FakeFeishu) -> None:
    async def on_event(event: dict[str, Any]) -> None:
        raise AssertionError("no event expected")

    connection = LongConnection(APP_ID, "wrong-secret", fake.url, on_event)
    connection.start()
    assert await asyncio.to_thread(connection.ended.wait, WAIT)
    assert "invalid app credentials" in str(connection.error)
    assert fake.ws_connections == 0


async def test_a_tap_waiting_for_its_answer_does_not_hold_up_the_next(fake: FakeFeishu) -> None:
    """The first tap's answer waits until the second tap has been handled: answered one at a
    time (as lark-oapi's own handling does) this could not finish."""
    second_seen = asyncio.Event()

    async def on_event(event: dict[str, Any]) -> dict[str, Any]:
        value = event["event"]["action"]["value"]
        if value["n"] == 1:
            await second_seen.wait()
        else:
            second_seen.set()
        return {"toast": {"type": "info", "content": f"第{value['n']}次"}}

    connection = LongConnection(APP_ID, APP_SECRET, fake.url, on_event)
    connection.start()
    try:
        taps = [fake.card_action("om_1", GROUP, MEMBER, {"n": n}) for n in (1, 2)]
        acks = await asyncio.wait_for(asyncio.gather(*map(fake.push, taps)), WAIT)
        assert [ack["data"]["toast"]["content"] for ack in acks] == ["第1次", "第2次"]
    finally:
        await connection.stop()


async def test_an_event_whose_handling_fails_is_acknowledged_as_failed(
        fake: FakeFeishu) -> None:
    """Not stored, so not acknowledged as done: Feishu delivers it again."""
    async def on_event(event: dict[str, Any]) -> None:
        raise OSError("database unreachable")

    connection = LongConnection(APP_ID, APP_SECRET, fake.url, on_event)
    connection.start()
    try:
        ack = await asyncio.wait_for(fake.push(fake.bot_added(GROUP, MEMBER)), WAIT)
        assert ack == {"code": 500}
    finally:
        await connection.stop()
