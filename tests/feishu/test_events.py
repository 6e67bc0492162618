"""Feishu's HTTP callbacks, delivered by the fake platform over real HTTP to a small callback
server that reads them with bot.feishu.events: the challenge answered, encrypted events
decrypted, and anything tampered with or forged rejected with one log line and no traceback.
The fake's deliveries are also checked against lark-oapi's own dispatcher, so the fake signs
and encrypts as the SDK (and Feishu) expect."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import lark_oapi as lark
import pytest
from aiohttp import web
from fakes.feishu import ENCRYPT_KEY, VERIFICATION_TOKEN, FakeFeishu, signature

from bot.feishu.events import Rejected, challenge_answer, decode_callback, event_type

GROUP, MEMBER = "oc_group0001", "ou_member"


class Callback:
    """A bot's callback endpoint: what it accepted, answering Feishu as a bot must."""

    def __init__(self, encrypt_key: str | None, token: str | None) -> None:
        self.encrypt_key, self.token = encrypt_key, token
        self.events: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        try:
            event = decode_callback(await request.read(), request.headers,
                                    encrypt_key=self.encrypt_key, verification_token=self.token)
        except Rejected:
            return web.json_response({"msg": "rejected"}, status=401)
        if (answer := challenge_answer(event)) is not None:
            return web.json_response(answer)
        self.events.append(event)
        return web.json_response({})


async def serve(callback: Callback) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/feishu/events", callback.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    callback.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/feishu/events"
    return runner


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeishu]:
    async with FakeFeishu() as server:
        yield server


@pytest.fixture
async def bot() -> AsyncIterator[Callback]:
    callback = Callback(ENCRYPT_KEY, VERIFICATION_TOKEN)
    runner = await serve(callback)
    yield callback
    await runner.cleanup()


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session, \
            session.post(url, data=body, headers=headers) as response:
        return response.status


async def test_the_url_verification_challenge_is_answered(fake: FakeFeishu,
                                                          bot: Callback) -> None:
    challenge = fake.url_verification()
    assert await fake.deliver(bot.url, challenge) == (200, {"challenge": challenge["challenge"]})
    assert bot.events == []


async def test_an_unsigned_challenge_is_answered_but_an_unsigned_event_is_not(
        fake: FakeFeishu, bot: Callback) -> None:
    """Only the URL verification may come without signature headers."""
    challenge = fake.url_verification()
    body, headers = fake.signed(challenge)
    plain = {"Content-Type": "application/json"}
    assert await post(bot.url, body, plain) == 200
    body, _ = fake.signed(fake.message_event(GROUP, MEMBER, "你好", mention_bot=True))
    assert await post(bot.url, body, plain) == 401
    assert bot.events == []


async def test_an_encrypted_message_event_is_decrypted(fake: FakeFeishu, bot: Callback) -> None:
    """The body on the wire is only {"encrypt": …}; the bot gets the whole envelope back."""
    event = fake.message_event(GROUP, MEMBER, "党课什么时候上？", mention_bot=True)
    body, _ = fake.signed(event)
    assert list(json.loads(body)) == ["encrypt"]
    assert "党课" not in body.decode()
    assert await fake.deliver(bot.url, event) == (200, {})
    assert bot.events == [event]
    assert event_type(bot.events[0]) == "im.message.receive_v1"
    assert bot.events[0]["event"]["message"]["mentions"][0]["key"] == "@_user_1"


async def test_card_actions_and_bot_added_events_come_through(fake: FakeFeishu,
                                                              bot: Callback) -> None:
    tap = fake.card_action("om_1", GROUP, MEMBER, {"action": "att:in", "id": 7})
    added = fake.bot_added(GROUP, MEMBER)
    for event in (tap, added):
        assert (await fake.deliver(bot.url, event))[0] == 200
    assert [event_type(e) for e in bot.events] == ["card.action.trigger",
                                                    "im.chat.member.bot.added_v1"]
    assert bot.events[0]["event"]["action"]["value"] == {"action": "att:in", "id": 7}


async def test_a_tampered_body_is_rejected_with_one_log_line(
        fake: FakeFeishu, bot: Callback, caplog: pytest.LogCaptureFixture) -> None:
    """One character of the ciphertext changed under the original signature: 401, nothing
    handled, one warning without a traceback."""
    body, headers = fake.signed(fake.message_event(GROUP, MEMBER, "你好"))
    outer = json.loads(body)
    cipher = outer["encrypt"]
    outer["encrypt"] = cipher[:30] + ("A" if cipher[30] != "A" else "B") + cipher[31:]
    caplog.set_level(logging.WARNING, logger="bot.feishu.events")
    assert await post(bot.url, json.dumps(outer).encode(), headers) == 401
    assert bot.events == []
    [record] = caplog.records
    assert record.getMessage() == "Feishu callback rejected: bad signature"
    assert record.exc_info is None


@pytest.mark.parametrize("change, reason", [
    ("token", "wrong verification token"),
    ("cipher", "cannot decrypt the body"),
    ("json", "the body is not JSON"),
])
async def test_forged_requests_are_rejected_for_their_reason(
        fake: FakeFeishu, bot: Callback, caplog: pytest.LogCaptureFixture, change: str,
        reason: str) -> None:
    """Signed with the right key (so the signature passes), but: another app's token, a
    ciphertext that does not decrypt, a body that is not JSON."""
    event = fake.message_event(GROUP, MEMBER, "你好")
    if change == "token":
        event["header"]["token"] = "someone-else"
        body, _ = fake.signed(event)
    elif change == "cipher":
        body = json.dumps({"encrypt": "bm90IGEgY2lwaGVydGV4dA=="}).encode()
    else:
        body = b"<html>not json</html>"
    headers = {"X-Lark-Request-Timestamp": "1765000000", "X-Lark-Request-Nonce": "n0",
               "X-Lark-Signature": signature("1765000000", "n0", body)}
    caplog.set_level(logging.WARNING, logger="bot.feishu.events")
    assert await post(bot.url, body, headers) == 401
    [record] = caplog.records
    assert record.getMessage().startswith(f"Feishu callback rejected: {reason}")
    assert record.exc_info is None
    assert bot.events == []


async def test_plain_callbacks_check_the_verification_token(fake: FakeFeishu) -> None:
    """Without an encrypt key Feishu posts plain JSON: the token is what proves it is Feishu."""
    fake.encrypt_key = None
    callback = Callback(None, VERIFICATION_TOKEN)
    runner = await serve(callback)
    try:
        event = fake.message_event(GROUP, MEMBER, "你好", group=False)
        assert await fake.deliver(callback.url, event) == (200, {})
        forged = fake.message_event(GROUP, MEMBER, "你好", group=False)
        forged["header"]["token"] = "guess"
        assert (await fake.deliver(callback.url, forged))[0] == 401
        assert callback.events == [event]
    finally:
        await runner.cleanup()


def test_lark_oapis_own_dispatcher_accepts_the_fakes_deliveries() -> None:
    """The fake encrypts and signs as the SDK expects: its dispatcher decrypts, verifies and
    dispatches a delivery to the registered handler (and refuses a tampered one)."""
    fake = FakeFeishu()
    seen: list[str] = []
    handler = (lark.EventDispatcherHandler.builder(ENCRYPT_KEY, VERIFICATION_TOKEN)
               .register_p2_im_message_receive_v1(
                   lambda data: seen.append(data.event.message.message_id)).build())
    event = fake.message_event(GROUP, MEMBER, "你好")
    body, headers = fake.signed(event)
    request = lark.RawRequest()
    request.uri, request.body, request.headers = "/feishu/events", body, headers
    assert handler.do(request).status_code == 200
    assert seen == [event["event"]["message"]["message_id"]]
    request.body = body.replace(b"}", b" }")
    assert handler.do(request).status_code == 500
    assert len(seen) == 1
