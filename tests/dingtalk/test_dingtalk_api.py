"""The DingTalk API client against the fake DingTalk over real HTTP, served on the test's own
loop: a blocking call in the client (as dingtalk-stream's own helpers make) would deadlock
these tests. The retry policy's pauses are recorded, never waited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from fakes.dingtalk import (
    CLIENT_ID,
    CLIENT_SECRET,
    ROBOT_CODE,
    SEND_TO_PEOPLE,
    TOKEN_LIFETIME,
    FakeDingTalk,
)
from manual_time import ManualTime, Pauses

from bot.channels.base import TooLarge
from bot.dingtalk.api import (
    PEOPLE_PER_SEND,
    RATE_LIMIT_PAUSE,
    TOKEN_MARGIN,
    DingTalkApi,
    DingTalkError,
)
from bot.http import RATE_LIMIT_WAITS, RateLimited, RetryPolicy

GROUP, USER = "cidGroup01==", "staff01"


@pytest.fixture
def time() -> ManualTime:
    return ManualTime()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingTalk]:
    async with FakeDingTalk() as server:
        yield server


@pytest.fixture
def pauses(time: ManualTime) -> Pauses:
    return Pauses(time)


@pytest.fixture
async def api(fake: FakeDingTalk, pauses: Pauses, time: ManualTime
              ) -> AsyncIterator[DingTalkApi]:
    client = DingTalkApi(CLIENT_ID, CLIENT_SECRET, ROBOT_CODE, api=fake.url, oapi=fake.url,
                         policy=RetryPolicy(sleep=pauses), clock=time.clock)
    yield client
    await client.close()


async def test_a_group_text_goes_to_the_conversation_and_a_person_by_batch_send(
        api: DingTalkApi, fake: FakeDingTalk) -> None:
    """A `cid…` id is a group (groupMessages/send), anything else a staffId (batchSend)."""
    first = await api.send_message(GROUP, "sampleText", {"content": "大家好"})
    second = await api.send_message(USER, "sampleText", {"content": "您好"})
    assert fake.messages[first].chat == GROUP and fake.messages[second].chat == USER
    group_call = fake.calls_to("POST", "/v1.0/robot/groupMessages/send")[0]
    assert group_call.body["openConversationId"] == GROUP
    assert json.loads(group_call.body["msgParam"]) == {"content": "大家好"}
    assert fake.calls_to("POST", SEND_TO_PEOPLE)[0].body["userIds"] == [USER]


async def test_one_message_to_many_people_at_once_goes_twenty_a_call(
        api: DingTalkApi, fake: FakeDingTalk) -> None:
    """Sends asked for together: one batchSend per message and twenty people, a person twice
    in two calls (each copy arrives), a person who is no staff refused alone."""
    people = [f"member{n:02d}" for n in range(PEOPLE_PER_SEND + 5)]
    fake.staff = {*people, USER}
    sends = [*((p, "签到成功！") for p in people), (USER, "签到成功！"), (USER, "签到成功！"),
             (USER, "请假已登记"), ("stranger", "签到成功！")]
    found = await asyncio.gather(*(api.send_message(p, "sampleText", {"content": text})
                                   for p, text in sends), return_exceptions=True)
    assert isinstance(found[-1], DingTalkError) and found[-1].code == "invalidStaffId"
    assert all(isinstance(key, str) and key for key in found[:-1])
    calls = fake.calls_to("POST", SEND_TO_PEOPLE)
    assert sorted(len(c.body["userIds"]) for c in calls) == [1, 1, 7, PEOPLE_PER_SEND]
    for person in people:
        assert [m.content["content"] for m in fake.sent(person)] == ["签到成功！"]
    assert sorted(m.content["content"] for m in fake.sent(USER)) == ["签到成功！", "签到成功！",
                                                                     "请假已登记"]
    assert fake.sent("stranger") == []


async def test_the_token_is_cached_and_renewed_before_it_expires(
        api: DingTalkApi, fake: FakeDingTalk, time: ManualTime) -> None:
    await api.send_message(GROUP, "sampleText", {"content": "1"})
    await api.send_message(GROUP, "sampleText", {"content": "2"})
    assert fake.tokens_issued == 1
    time.now += TOKEN_LIFETIME - TOKEN_MARGIN + 1
    await api.send_message(GROUP, "sampleText", {"content": "3"})
    assert fake.tokens_issued == 2


async def test_a_token_dingtalk_calls_invalid_is_fetched_again_once(
        api: DingTalkApi, fake: FakeDingTalk) -> None:
    await api.send_message(GROUP, "sampleText", {"content": "1"})
    fake.expire_tokens()
    await api.send_message(GROUP, "sampleText", {"content": "2"})
    assert fake.tokens_issued == 2
    assert [c.status for c in fake.calls_to("POST", "/v1.0/robot/groupMessages/send")] == \
        [200, 401, 200]


async def test_wrong_credentials_are_refused_not_repeated(fake: FakeDingTalk,
                                                          pauses: Pauses) -> None:
    client = DingTalkApi(CLIENT_ID, "wrong", api=fake.url, oapi=fake.url,
                         policy=RetryPolicy(sleep=pauses))
    try:
        with pytest.raises(DingTalkError, match="invalidClientIdOrSecret"):
            await client.access_token()
    finally:
        await client.close()
    assert pauses.taken == [] and len(fake.calls_to("POST", "/v1.0/oauth2/accessToken")) == 1


async def test_the_qps_limit_is_waited_out_by_the_one_retry_policy(
        api: DingTalkApi, fake: FakeDingTalk, pauses: Pauses) -> None:
    """403 Forbidden.AccessDenied.QpsLimitForApi: DingTalk did not act, so even a send is
    repeated, a second later; past RATE_LIMIT_WAITS the caller is told."""
    fake.rate_limit(2)
    key = await api.send_message(GROUP, "sampleText", {"content": "通知"})
    assert pauses.taken == [RATE_LIMIT_PAUSE, RATE_LIMIT_PAUSE]
    assert len(fake.sent(GROUP)) == 1 and fake.sent(GROUP)[0].message_id == key
    fake.rate_limit(RATE_LIMIT_WAITS + 1)
    with pytest.raises(RateLimited):
        await api.send_message(GROUP, "sampleText", {"content": "再通知"})


async def test_the_old_apis_rate_limit_errcode_is_waited_out_too(
        api: DingTalkApi, fake: FakeDingTalk, pauses: Pauses) -> None:
    await api.access_token()
    fake.rate_limit(1)
    media = await api.upload("image", "chart.png", b"\x89PNG....")
    assert pauses.taken == [RATE_LIMIT_PAUSE] and fake.media[media][2] == b"\x89PNG...."


async def test_a_card_is_posted_under_our_id_and_updated_in_place(
        api: DingTalkApi, fake: FakeDingTalk) -> None:
    await api.send_card(GROUP, "djc1", {"contents": [{"type": "markdown", "text": "已签到 0"}]})
    await api.send_card(USER, "djc2", {"contents": []})
    await api.update_card("djc1", {"contents": [{"type": "markdown", "text": "已签到 1"}]})
    assert fake.messages["djc1"].updates[-1]["contents"][0]["text"] == "已签到 1"
    assert fake.messages["djc2"].chat == USER
    sent = fake.calls_to("POST", "/v1.0/im/v1.0/robot/interactiveCards/send")
    assert [c.body["cardTemplateId"] for c in sent] == ["StandardCard", "StandardCard"]
    assert json.loads(sent[1].body["singleChatReceiver"]) == {"userId": USER}


async def test_a_members_file_is_downloaded_by_its_download_code_up_to_its_bound(
        api: DingTalkApi, fake: FakeDingTalk) -> None:
    code = fake.add_file("学习计划.docx", b"PK\x03\x04 docx")
    assert await api.download(code, limit=9) == b"PK\x03\x04 docx"
    with pytest.raises(TooLarge):
        await api.download(code, limit=8)
    with pytest.raises(DingTalkError):
        await api.download("dc_unknown", limit=9)


async def test_a_person_outside_the_organization_is_an_error(
        api: DingTalkApi, fake: FakeDingTalk) -> None:
    fake.staff = {USER}
    with pytest.raises(DingTalkError, match="invalidStaffId"):
        await api.send_message("stranger", "sampleText", {"content": "您好"})


async def test_the_stream_connection_is_registered_with_the_apps_credentials(
        api: DingTalkApi, fake: FakeDingTalk) -> None:
    endpoint, ticket = await api.open_connection(
        [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}], ua="test")
    assert endpoint == f"ws://127.0.0.1:{fake.port}/connect" and ticket
    assert fake.calls_to("POST", "/v1.0/gateway/connections/open")[0].body["clientId"] == \
        CLIENT_ID
