"""What the WeCom runner adds to the inbox: a callback's key is its msgid (so WeCom sending it
twice is one row), and stopping waits for the callbacks in hand, whose replies need the
connection."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fakes.wecom import Card, FakeWeCom

from bot.inbox import Inbox
from bot.ordering import PerUserOrder
from bot.wecom.runner import frame_number, sender_of, tap_of
from storage.db import Database


def frame(body: dict[str, Any], req_id: str) -> dict[str, Any]:
    return {"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body}


def test_a_callback_is_keyed_by_its_msgid_and_a_tap_names_its_card() -> None:
    fake = FakeWeCom()
    body = fake.text_message("grp", "u1", "/help")
    assert frame_number(frame(body, "a")) == frame_number(frame(body, "b")) < 0
    assert frame_number(frame(fake.text_message("grp", "u1", "/help"), "a")) != \
        frame_number(frame(body, "a"))
    fake.groups.add("grp")
    tap = fake.tap(Card("grp", "task9", {"button_list": [{"text": "签到", "key": "att:in:9"}]}),
                   "u2", "签到")
    assert tap_of({"headers": {"req_id": "r1"}, "body": tap}) == ("task9", "r1")
    assert tap_of(frame(body, "a")) is None


async def test_drain_waits_for_the_callbacks_in_hand(sqlite_db: Database) -> None:
    """`drain` returns once what was received is handled, and at its bound when it is not."""
    gate, handled = asyncio.Event(), []

    async def run(update: dict[str, Any]) -> None:
        await gate.wait()
        handled.append(update["body"]["msgid"])

    inbox: Inbox[dict[str, Any]] = Inbox(sqlite_db, "test:wecom", key=frame_number,
                                         decode=json.loads, run=run)
    body = FakeWeCom().text_message("grp", "u1", "/help")
    assert await inbox.receive(frame(body, "a"), json.dumps(frame(body, "a")))
    assert not await inbox.receive(frame(body, "b"), json.dumps(frame(body, "b")))
    await inbox.drain(0.01)  # bounded: still in hand
    assert handled == []
    gate.set()
    await inbox.drain(10)
    assert handled == [body["msgid"]]


async def test_a_members_callbacks_are_handled_in_order_others_beside_them() -> None:
    """A leave reason waits for its [请假] tap: one member's callbacks run one after another,
    another member's do not wait for them."""
    fake = FakeWeCom()
    order = PerUserOrder(4, key=sender_of)
    first_gate, other_done, log = asyncio.Event(), asyncio.Event(), []

    async def handle(name: str, gate: asyncio.Event | None = None) -> None:
        if gate is not None:
            await gate.wait()
        log.append(name)
        if name == "other":
            other_done.set()

    tap = frame(fake.text_message("grp", "u1", "[请假]"), "a")
    reason = frame(fake.text_message("u1", "u1", "出差", group=False), "b")
    other = frame(fake.text_message("grp", "u2", "/checkin"), "c")
    assert sender_of(tap) == sender_of(reason) != sender_of(other)
    running = [asyncio.create_task(order.do_process_update(tap, handle("tap", first_gate))),
               asyncio.create_task(order.do_process_update(reason, handle("reason"))),
               asyncio.create_task(order.do_process_update(other, handle("other")))]
    await asyncio.wait_for(other_done.wait(), 10)
    assert log == ["other"]  # the reason waits for the tap; the other member does not
    first_gate.set()
    await asyncio.gather(*running)
    assert log == ["other", "tap", "reason"]
