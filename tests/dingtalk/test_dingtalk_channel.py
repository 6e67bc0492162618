"""DingTalkChannel: Stream callbacks (as the fake writes them, after DingTalk's documented
payloads) into neutral events, and neutral operations into robot API calls on the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakes.dingtalk import (
    CARD_TOPIC,
    CLIENT_ID,
    CLIENT_SECRET,
    MESSAGE_TOPIC,
    ROBOT_CODE,
    FakeDingTalk,
    card_buttons,
    card_text,
)

from bot.channels.base import Content, Unreachable
from bot.channels.dingtalk import DingTalkChannel, card_id, chat_of_card
from bot.dingtalk.api import DingTalkApi

GROUP, SECRETARY, MEMBER = "cidGroup01+/==", "sec01", "member01"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingTalk]:
    async with FakeDingTalk() as server:
        yield server


@pytest.fixture
async def channel(fake: FakeDingTalk) -> AsyncIterator[DingTalkChannel]:
    api = DingTalkApi(CLIENT_ID, CLIENT_SECRET, ROBOT_CODE, api=fake.url, oapi=fake.url)
    yield DingTalkChannel(api)
    await api.close()


def test_a_group_message_that_mentions_the_bot(fake: FakeDingTalk,
                                               channel: DingTalkChannel) -> None:
    data = fake.robot_message(GROUP, SECRETARY, "/remind  现在 主题党日", nick="王书记",
                              is_admin=True, title="第一党支部")
    event = channel.to_event(MESSAGE_TOPIC, data)
    assert event is not None
    assert (event.chat.id, event.chat.kind, event.chat.title) == (GROUP, "group", "第一党支部")
    assert (event.sender.id, event.sender.name) == (SECRETARY, "王书记")
    assert event.text == "/remind 现在 主题党日" and event.is_command and event.mentioned
    assert event.message_id == data["msgId"]


def test_a_private_message_is_the_persons_chat(fake: FakeDingTalk,
                                              channel: DingTalkChannel) -> None:
    event = channel.to_event(MESSAGE_TOPIC, fake.robot_message(None, MEMBER, "党费怎么交"))
    assert event is not None
    assert event.chat.id == MEMBER and event.chat.kind == "private"
    assert not event.is_command and not event.mentioned


def test_files_pictures_and_other_kinds(fake: FakeDingTalk, channel: DingTalkChannel) -> None:
    data = fake.file_message(MEMBER, "学习计划.docx", b"docx")
    event = channel.to_event(MESSAGE_TOPIC, data)
    assert event is not None and event.attachment is not None
    assert event.attachment.kind == "file" and event.attachment.name == "学习计划.docx"
    assert event.attachment.ref == data["content"]["downloadCode"]
    picture = channel.to_event(MESSAGE_TOPIC, fake.robot_message(
        None, MEMBER, msgtype="picture", content={"downloadCode": "dc1"}))
    assert picture is not None and picture.attachment is not None
    assert picture.attachment.kind == "photo" and picture.attachment.ref == "dc1"
    voice = channel.to_event(MESSAGE_TOPIC, fake.robot_message(None, MEMBER, msgtype="audio"))
    assert voice is not None and voice.has_other_content
    mixed = channel.to_event(MESSAGE_TOPIC, fake.robot_message(
        None, MEMBER, msgtype="richText", content={"richText": [
            {"text": "这张照片里的"}, {"downloadCode": "dc2", "type": "picture"},
            {"text": "会议怎么记录"}]}))
    assert mixed is not None and mixed.text == "这张照片里的 会议怎么记录"
    assert not mixed.has_other_content


async def test_is_admin_is_the_flag_of_the_persons_last_message_in_that_group(
        fake: FakeDingTalk, channel: DingTalkChannel) -> None:
    assert not await channel.is_admin(GROUP, SECRETARY)
    channel.to_event(MESSAGE_TOPIC, fake.robot_message(GROUP, SECRETARY, "hi", is_admin=True,
                                                       nick="王书记"))
    channel.to_event(MESSAGE_TOPIC, fake.robot_message(GROUP, MEMBER, "hi"))
    assert await channel.is_admin(GROUP, SECRETARY)
    assert not await channel.is_admin(GROUP, MEMBER)
    assert not await channel.is_admin("cidOther==", SECRETARY)
    assert [(p.id, p.name) for p in await channel.admins(GROUP)] == [(SECRETARY, "王书记")]
    channel.to_event(MESSAGE_TOPIC, fake.robot_message(GROUP, SECRETARY, "hi", is_admin=False))
    assert not await channel.is_admin(GROUP, SECRETARY)
    assert await channel.members(GROUP) is None


def test_a_cards_id_carries_its_chat() -> None:
    for chat in (GROUP, MEMBER):
        assert chat_of_card(card_id(chat)) == chat
    assert chat_of_card("pqk000001abc") is None


async def test_buttons_make_a_card_whose_taps_come_back_as_actions(
        fake: FakeDingTalk, channel: DingTalkChannel) -> None:
    sent = await channel.send(GROUP, Content.of("📢 <b>主题党日</b>\n已签到 0",
                                                [[("签到", "att:in:7"), ("请假", "att:leave:7")]]))
    card = fake.messages[sent.message_id]
    assert card.kind == "card" and card_text(card) == "📢 **主题党日**  \n已签到 0"
    assert card_buttons(card) == {"签到": "att:in:7", "请假": "att:leave:7"}
    fresh = DingTalkChannel(channel.api)  # another replica, or after a restart
    event = fresh.to_event(CARD_TOPIC, fake.tap(sent.message_id, MEMBER, "att:in:7"), "f1")
    assert event is not None and event.kind == "action" and event.action == "att:in:7"
    assert event.chat.id == GROUP and event.chat.kind == "group"
    assert event.reply_to is not None and event.reply_to.message_id == sent.message_id
    await channel.edit(GROUP, sent.message_id, Content.of("已签到 1", [[("签到", "att:in:7")]]))
    assert card_text(card) == "已签到 1" and len(card.updates) == 1


async def test_a_text_cannot_be_edited_so_it_is_posted_anew(
        fake: FakeDingTalk, channel: DingTalkChannel) -> None:
    sent = await channel.send(GROUP, Content("第一版"))
    await channel.edit(GROUP, sent.message_id, Content("第二版"))
    assert [card_text(m) for m in fake.sent(GROUP)] == ["第一版", "第二版"]


async def test_a_taps_answer_goes_privately(fake: FakeDingTalk,
                                           channel: DingTalkChannel) -> None:
    sent = await channel.send(GROUP, Content.of("通知", [[("签到", "att:in:1")]]))
    event = channel.to_event(CARD_TOPIC, fake.tap(sent.message_id, MEMBER, "att:in:1"), "f2")
    assert event is not None
    await channel.answer(event, "签到成功！")
    await channel.drain()  # answers go in the background
    assert [card_text(m) for m in fake.sent(MEMBER)] == ["签到成功！"]
    fake.staff = {SECRETARY}  # the member cannot be reached: the card's counts still show it
    await channel.answer(event, "您已签到")
    await channel.drain()
    fake.staff = set()
    fake.rate_limit(10)  # rate-limited past the policy's waits: given up, not raised
    channel.api.policy.sleep = _at_once
    await channel.answer(event, "您已签到")
    await channel.drain()
    assert len(fake.sent(MEMBER)) == 1


async def _at_once(seconds: float) -> None:
    return None


async def test_a_person_outside_the_organization_is_unreachable(
        fake: FakeDingTalk, channel: DingTalkChannel) -> None:
    fake.staff = {SECRETARY}
    with pytest.raises(Unreachable):
        await channel.send(MEMBER, Content("名单"))


async def test_images_and_files_are_uploaded_then_sent(fake: FakeDingTalk,
                                                      channel: DingTalkChannel) -> None:
    await channel.send_image(GROUP, b"\x89PNG", filename="chart.png", caption="本月统计")
    await channel.send_file(MEMBER, b"xlsx", filename="台账.xlsx")
    image, caption = fake.sent(GROUP)
    assert image.kind == "sampleImageMsg" and fake.media[image.content["photoURL"]][0] == "image"
    assert card_text(caption) == "本月统计"
    (sheet,) = fake.sent(MEMBER)
    assert sheet.kind == "sampleFile" and sheet.content["fileType"] == "xlsx"
    assert fake.media[sheet.content["mediaId"]] == ("file", "台账.xlsx", b"xlsx")
    event = channel.to_event(MESSAGE_TOPIC, fake.file_message(MEMBER, "a.txt", b"text"))
    assert event is not None and event.attachment is not None
    assert await channel.download(event.attachment, 4) == b"text"
