"""The Stream connection against the fake gateway on the test's loop: frames in the SDK's JSON
format handed to the store and acknowledged after it, a refusal to store answered so that
DingTalk delivers again, and a dropped connection reported and connected again (the pause
before it recorded, not waited)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes.dingtalk import (
    CARD_TOPIC,
    CLIENT_ID,
    CLIENT_SECRET,
    MESSAGE_TOPIC,
    FakeDingTalk,
    Message,
)

from bot.dingtalk.api import DingTalkApi
from bot.dingtalk.stream import StreamClient
from bot.http import PAUSES


class Store:
    """What the client handed over; refuses while `failing`."""

    def __init__(self) -> None:
        self.stored: list[tuple[str, dict[str, Any], str]] = []
        self.failing = False

    async def __call__(self, topic: str, data: dict[str, Any], key: str) -> bool:
        if self.failing:
            raise ConnectionError("database away")
        self.stored.append((topic, data, key))
        return True


class Pauses:
    """Reconnect pauses: recorded, each returning once the test lets it."""

    def __init__(self) -> None:
        self.taken: list[float] = []
        self.called = asyncio.Event()
        self.go = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        self.called.set()
        await self.go.wait()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingTalk]:
    async with FakeDingTalk() as server:
        yield server


@pytest.fixture
async def running(fake: FakeDingTalk) -> AsyncIterator[tuple[StreamClient, Store, Pauses]]:
    api = DingTalkApi(CLIENT_ID, CLIENT_SECRET, api=fake.url, oapi=fake.url)
    store, pauses = Store(), Pauses()
    client = StreamClient(api, store, sleep=pauses)
    task = asyncio.create_task(client.start())
    await asyncio.wait_for(fake.connected(), 10)
    yield client, store, pauses
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await api.close()


async def test_a_robot_message_is_stored_then_acknowledged(
        fake: FakeDingTalk, running: tuple[StreamClient, Store, Pauses]) -> None:
    client, store, _ = running
    assert client.connected
    data = fake.robot_message("cidG==", "staff1", "/help", is_admin=True)
    ack = await fake.push(MESSAGE_TOPIC, data)
    assert ack["code"] == 200 and json.loads(ack["data"]) == {"response": "OK"}
    assert store.stored == [(MESSAGE_TOPIC, data, data["msgId"])]
    subscribed = fake.calls_to("POST", "/v1.0/gateway/connections/open")[0].body["subscriptions"]
    assert {s["topic"] for s in subscribed} == {MESSAGE_TOPIC, CARD_TOPIC}


async def test_a_tap_is_keyed_by_its_frame(
        fake: FakeDingTalk, running: tuple[StreamClient, Store, Pauses]) -> None:
    _, store, _ = running
    fake.messages["djc1.x"] = Message("djc1.x", "cidG==", "card", {})
    ack = await fake.push(CARD_TOPIC, fake.tap("djc1.x", "staff1", "att:in:1"), "frame-7")
    assert ack["code"] == 200
    assert store.stored[0][0] == CARD_TOPIC and store.stored[0][2] == "frame-7"


async def test_what_cannot_be_stored_is_not_acknowledged(
        fake: FakeDingTalk, running: tuple[StreamClient, Store, Pauses]) -> None:
    _, store, _ = running
    store.failing = True
    ack = await fake.push(MESSAGE_TOPIC, fake.robot_message(None, "staff1", "/help"))
    assert ack["code"] == 500 and store.stored == []


async def test_a_dropped_connection_is_shown_and_connected_again(
        fake: FakeDingTalk, running: tuple[StreamClient, Store, Pauses],
        caplog: pytest.LogCaptureFixture) -> None:
    client, store, pauses = running
    await fake.drop_connection()
    await asyncio.wait_for(pauses.called.wait(), 10)
    assert not client.connected and pauses.taken == [PAUSES[0]]
    assert "reconnecting (attempt 1)" in caplog.text
    pauses.go.set()
    await asyncio.wait_for(fake.opened(2), 10)
    data = fake.robot_message(None, "staff1", "/help")
    assert (await fake.push(MESSAGE_TOPIC, data))["code"] == 200
    assert client.connected and client.reconnects == 1 and fake.connections == 2


async def test_pings_are_answered_and_a_disconnect_is_connected_again(
        fake: FakeDingTalk, running: tuple[StreamClient, Store, Pauses]) -> None:
    """DingTalk's SYSTEM frames: a ping gets its data back; `disconnect` (before a gateway
    restarts) closes the connection, and a new one is opened."""
    client, _, pauses = running
    ack = await fake.system("ping", {"opaque": "x1"})
    assert ack is not None and ack["code"] == 200 and json.loads(ack["data"]) == {"opaque": "x1"}
    await fake.system("disconnect")
    await asyncio.wait_for(pauses.called.wait(), 10)
    pauses.go.set()
    await asyncio.wait_for(fake.opened(2), 10)
