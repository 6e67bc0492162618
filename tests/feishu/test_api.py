"""The Feishu Open API client against the fake platform over real HTTP. The fake is served on
the test's own event loop: a blocking call in the client (lark-oapi's own token fetch) would
deadlock these tests, so they also pin down that the client never blocks the loop.

The retry policy's pauses go through a recording sleep that returns at once (and moves the
fake's clock when the test gives it one), so no test waits for a backoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fakes.feishu import APP_ID, APP_SECRET, BOT_NAME, BOT_OPEN_ID, FakeFeishu
from manual_time import ManualTime, Pauses

from bot.channels.base import TooLarge
from bot.feishu.api import FeishuApi, FeishuError
from bot.http import PAUSES, RATE_LIMIT_WAITS, RateLimited, RetryPolicy

GROUP = "oc_group0001"
OWNER, MANAGER, MEMBER = "ou_owner", "ou_manager", "ou_member"


@pytest.fixture
def time() -> ManualTime:
    return ManualTime()


@pytest.fixture
async def fake(time: ManualTime) -> AsyncIterator[FakeFeishu]:
    async with FakeFeishu(clock=time.clock) as server:
        server.add_chat(GROUP, OWNER, managers=[MANAGER],
                        members=[(OWNER, "张书记"), (MANAGER, "李委员"), (MEMBER, "王党员")])
        yield server


@pytest.fixture
def pauses(time: ManualTime) -> Pauses:
    return Pauses(time)


@pytest.fixture
async def api(fake: FakeFeishu, pauses: Pauses, time: ManualTime) -> AsyncIterator[FeishuApi]:
    client = FeishuApi(APP_ID, APP_SECRET, fake.url, policy=RetryPolicy(sleep=pauses),
                       clock=time.clock)
    yield client
    await client.close()


async def test_the_tenant_token_is_fetched_once_and_passed_with_every_call(
        api: FeishuApi, fake: FakeFeishu) -> None:
    """Three calls, one token request; each call carries that token as its bearer."""
    await api.send_text(GROUP, "一")
    await api.send_text(GROUP, "二")
    await api.bot_info()
    assert fake.tokens_issued == 1
    [token] = fake.tokens
    assert {c.headers["Authorization"] for c in fake.calls if c.path.startswith("/open-apis/im")
            or c.path.startswith("/open-apis/bot")} == {f"Bearer {token}"}


async def test_calls_share_one_kept_alive_connection(api: FeishuApi, fake: FakeFeishu) -> None:
    """One pooled client (lark-oapi's async calls open a client, an SSL context and a
    connection for each)."""
    for text in "一二三四":
        await api.send_text(GROUP, text)
    await api.chat_members(GROUP)
    assert len(fake.calls) == 6
    assert len({c.client_port for c in fake.calls}) == 1


async def test_a_token_that_expires_before_its_time_runs_out_is_replaced(
        api: FeishuApi, fake: FakeFeishu, time: ManualTime) -> None:
    """A cached token nearing its expiry (Feishu's 7200 s) is fetched again before use."""
    await api.send_text(GROUP, "一")
    time.now += 7200 - 299
    await api.send_text(GROUP, "二")
    assert fake.tokens_issued == 2


async def test_an_invalid_token_is_fetched_again_once_and_the_call_repeated(
        api: FeishuApi, fake: FakeFeishu, pauses: Pauses) -> None:
    """99991663: one new token, the call made again at once, one message posted."""
    await api.send_text(GROUP, "一")
    fake.expire_tokens()
    await api.send_text(GROUP, "二")
    sends = fake.calls_to("POST", "/open-apis/im/v1/messages")
    assert [c.code for c in sends] == [0, 99991663, 0]
    assert fake.tokens_issued == 2
    assert [m.content["text"] for m in fake.sent(GROUP)] == ["一", "二"]
    assert pauses.taken == []


async def test_a_token_refused_again_after_refreshing_is_an_error_not_a_loop(
        api: FeishuApi, fake: FakeFeishu) -> None:
    """When the fresh token is refused too, the call fails after one refresh."""
    fake.expire_tokens(always=True)
    with pytest.raises(FeishuError) as error:
        await api.send_text(GROUP, "一")
    assert error.value.code == 99991663
    assert fake.tokens_issued == 2
    assert fake.sent() == []


async def test_a_429_is_waited_out_for_as_long_as_the_reset_header_says(
        api: FeishuApi, fake: FakeFeishu, pauses: Pauses) -> None:
    """99991400 with x-ogw-ratelimit-reset: 3 -> paused 3 s, then sent once."""
    await api.bot_info()
    fake.rate_limit(2, reset=3)
    await api.send_text(GROUP, "通知")
    assert pauses.taken == [3.0, 3.0]
    assert [c.status for c in fake.calls_to("POST", "/open-apis/im/v1/messages")] == [
        429, 429, 200]
    assert len(fake.sent(GROUP)) == 1


async def test_429s_beyond_the_policys_waits_reach_the_caller(
        api: FeishuApi, fake: FakeFeishu, pauses: Pauses) -> None:
    fake.rate_limit(RATE_LIMIT_WAITS + 1, reset=2)
    with pytest.raises(RateLimited):
        await api.send_text(GROUP, "通知")
    assert pauses.taken == [2.0] * RATE_LIMIT_WAITS
    assert fake.sent() == []


async def test_card_updates_beyond_five_a_second_wait_for_the_next_second(
        api: FeishuApi, fake: FakeFeishu, pauses: Pauses) -> None:
    """The sixth patch of one message within a second gets 230020; the policy waits a second
    and every update lands, the last one shown."""
    message_id = await api.send_card(GROUP, {"elements": [{"tag": "markdown", "content": "0"}]})
    for n in range(1, 8):
        await api.update_card(message_id, {"elements": [{"tag": "markdown", "content": str(n)}]})
    patches = fake.calls_to("PATCH", "/open-apis/im/v1/messages/")
    assert [c.code for c in patches].count(230020) == 1
    assert pauses.taken == [1.0]
    message = fake.messages[message_id]
    assert [u["elements"][0]["content"] for u in message.updates] == list("1234567")
    assert message.content["elements"][0]["content"] == "7"


async def test_members_are_read_over_every_page(api: FeishuApi, fake: FakeFeishu) -> None:
    """250 members come in three pages of 100, in order, none twice."""
    people = [(f"ou_m{i:03d}", f"党员{i}") for i in range(250)]
    fake.add_chat("oc_big", people[0][0], members=people)
    assert await api.chat_members("oc_big") == people
    pages = fake.calls_to("GET", "/open-apis/im/v1/chats/oc_big/members")
    assert [c.query.get("page_token") for c in pages] == [None, "100", "200"]
    assert {c.query["member_id_type"] for c in pages} == {"open_id"}


async def test_the_owner_and_managers_of_a_chat(api: FeishuApi) -> None:
    assert await api.chat_owner_and_managers(GROUP) == {OWNER, MANAGER}


async def test_a_file_uploaded_and_sent_downloads_as_the_same_bytes(
        api: FeishuApi, fake: FakeFeishu) -> None:
    """upload -> send -> download round trip; the upload names the file and its Feishu type."""
    content = b"PK\x03\x04 workbook " * 1000
    key = await api.upload_file("台账.xlsx", content)
    message_id = await api.send_file(MEMBER, key)
    assert fake.messages[message_id].chat_id == MEMBER
    assert await api.download(message_id, key, limit=len(content)) == content
    [upload] = fake.calls_to("POST", "/open-apis/im/v1/files")
    assert upload.body["file_name"] == "台账.xlsx" and upload.body["file_type"] == "xls"
    assert fake.calls_to("POST", "/open-apis/im/v1/messages")[-1].query == {
        "receive_id_type": "open_id"}


async def test_an_image_uploaded_and_sent_downloads_as_the_same_bytes(
        api: FeishuApi, fake: FakeFeishu) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
    key = await api.upload_image(png)
    message_id = await api.send_image(GROUP, key)
    assert fake.messages[message_id].content == {"image_key": key}
    assert await api.download(message_id, key, "image", limit=len(png)) == png


async def test_a_file_a_member_sent_is_downloaded_up_to_its_bound(
        api: FeishuApi, fake: FakeFeishu) -> None:
    message_id, key = fake.receive_file("oc_p2p", "计划.docx", b"docx bytes")
    assert await api.download(message_id, key, limit=10) == b"docx bytes"
    with pytest.raises(TooLarge):
        await api.download(message_id, key, limit=9)


async def test_a_reply_quotes_the_message_and_a_refusal_is_not_repeated(
        api: FeishuApi, fake: FakeFeishu, pauses: Pauses) -> None:
    """reply_text answers in the original's chat; a chat the bot is not in is an error at
    once (230002), not retried."""
    original = await api.send_text(GROUP, "问题")
    reply = await api.reply_text(original, "答案")
    assert fake.messages[reply].reply_to == original
    assert fake.messages[reply].chat_id == GROUP
    with pytest.raises(FeishuError) as error:
        await api.send_text("oc_elsewhere", "你好")
    assert error.value.code == 230002
    assert len(fake.calls_to("POST", "/open-apis/im/v1/messages")) == 2
    assert pauses.taken == []


async def test_a_send_repeated_with_its_key_posts_once(api: FeishuApi, fake: FakeFeishu) -> None:
    """Sends carry a uuid: the same key again (a repeat after an uncertain failure) is one
    message in Feishu."""
    first = await api.send_text(GROUP, "提醒", dedup_key="reminder-7-2026-12-01")
    second = await api.send_text(GROUP, "提醒", dedup_key="reminder-7-2026-12-01")
    assert first == second
    assert len(fake.sent(GROUP)) == 1


async def test_a_send_feishu_may_have_acted_on_is_repeated_and_posted_once(
        api: FeishuApi, fake: FakeFeishu, pauses: Pauses) -> None:
    """A 502 from a proxy, then a connection cut after Feishu acted: the send is repeated
    (PAUSES apart) with its uuid, so the chat gets the message once."""
    fake.fail(1, status=502)
    fake.drop(1)
    message_id = await api.send_text(GROUP, "通知")
    sends = fake.calls_to("POST", "/open-apis/im/v1/messages")
    assert [c.status for c in sends] == [502, 200, 200]
    assert len({c.body["uuid"] for c in sends}) == 1
    assert [m.message_id for m in fake.sent(GROUP)] == [message_id]
    assert pauses.taken == list(PAUSES[:2])


async def test_bot_info(api: FeishuApi) -> None:
    info = await api.bot_info()
    assert (info.open_id, info.name) == (BOT_OPEN_ID, BOT_NAME)


def test_the_fake_serves_from_its_own_thread_for_synchronous_callers() -> None:
    """`in_thread()`: what a test of a bot process uses; the fake answers while the caller
    blocks."""
    with FakeFeishu().in_thread() as fake:
        fake.add_chat(GROUP, OWNER)

        async def send() -> str:
            client = FeishuApi(APP_ID, APP_SECRET, fake.url)
            try:
                return await client.send_text(GROUP, "你好")
            finally:
                await client.close()

        message_id = asyncio.run(send())
        assert fake.messages[message_id].content == {"text": "你好"}
