"""WeComChannel against the fake: callbacks read as neutral events, content rendered as
markdown or a button_interaction card, a card replaced only in its tap's window, a refusal
told privately, files decrypted, images uploaded and pushed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes.wecom import BOT_ID, NOT_IN_CHAT, SECRET, WINDOW_CLOSED, Card, FakeWeCom

from bot.channels.base import Content, TooLarge, Unreachable
from bot.channels.wecom import LARGEST_FILE, TAP_WINDOW, WeComChannel, decrypt, parts
from bot.wecom.connection import SEND, UPDATE, LongConnection

GROUP, MEMBER, OTHER = "wrgroup01", "lidangyuan", "zhangsan"
WAIT = 10


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _noop(_frame: dict[str, Any]) -> None:
    return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(reachable={MEMBER}) as server:
        server.groups.add(GROUP)
        yield server


@pytest.fixture
async def wired(fake: FakeWeCom) -> AsyncIterator[tuple[WeComChannel, Clock]]:
    clock = Clock()
    connection = LongConnection(BOT_ID, SECRET, fake.url, _noop)
    await asyncio.wait_for(connection.start(), WAIT)
    yield WeComChannel(connection, BOT_ID, clock=clock), clock
    await connection.stop()


def frame_of(body: dict[str, Any], req_id: str = "req-1") -> dict[str, Any]:
    cmd = "aibot_event_callback" if body["msgtype"] == "event" else "aibot_msg_callback"
    return {"cmd": cmd, "headers": {"req_id": req_id}, "body": body}


async def test_messages_become_neutral_events(fake: FakeWeCom,
                                              wired: tuple[WeComChannel, Clock]) -> None:
    """A group text loses the @ that brought it and counts as a mention; a private one is
    keyed by the person; a command is recognised; voice comes as its transcript."""
    channel, _ = wired
    group = await channel.to_event(frame_of(fake.text_message(GROUP, MEMBER, "/checkin 3")))
    assert group is not None and group.chat.kind == "group" and group.chat.id == GROUP
    assert (group.text, group.is_command, group.mentioned) == ("/checkin 3", True, True)
    assert group.sender.id == MEMBER and group.event_id == group.message_id != ""
    private = await channel.to_event(frame_of(fake.text_message(MEMBER, MEMBER, "党费怎么交",
                                                          group=False)))
    assert private is not None and private.chat.kind == "private" and private.chat.id == MEMBER
    assert (private.text, private.is_command, private.mentioned) == ("党费怎么交", False, False)
    voice = fake.text_message(MEMBER, MEMBER, "", group=False)
    voice.update(msgtype="voice", voice={"content": "三会一课是什么"})
    event = await channel.to_event(frame_of(voice))
    assert event is not None and event.text == "三会一课是什么"


async def test_a_card_tap_is_an_action_on_the_card(fake: FakeWeCom,
                                                   wired: tuple[WeComChannel, Clock]) -> None:
    """The event key is our button value, the task id the message the button is on."""
    channel, _ = wired
    sent = await channel.send(GROUP, Content.of("📢 主题党日\n已签到 0 / 请假 0",
                                                [[("签到", "att:in:7"), ("请假", "att:lv:7")]]))
    card = fake.cards[sent.message_id]
    assert card.keys() == {"签到": "att:in:7", "请假": "att:lv:7"}
    assert card.card["card_type"] == "button_interaction"
    assert card.card["main_title"]["title"] == "📢 主题党日"
    event = await channel.to_event(frame_of(fake.tap(card, MEMBER, "签到"), "tap-req"))
    assert event is not None and event.kind == "action" and event.action == "att:in:7"
    assert event.reply_to is not None and event.reply_to.message_id == sent.message_id
    assert event.reply_to.by_bot and "主题党日" in event.reply_to.text
    assert event.action_ref == "tap-req" and event.chat.id == GROUP


async def test_a_card_is_replaced_only_within_its_taps_window(
        fake: FakeWeCom, wired: tuple[WeComChannel, Clock]) -> None:
    """An edit in the window answers the tap with aibot_respond_update_msg under its req_id;
    with no tap open, the card is left as it is (no frame at all)."""
    channel, clock = wired
    sent = await channel.send(GROUP, Content.of("📢 党课\n已签到 0", [[("签到", "att:in:1")]]))
    card = fake.cards[sent.message_id]
    rid = await fake.push(fake.tap(card, MEMBER, "签到"))
    channel.tapped(sent.message_id, rid)
    channel.tapped(sent.message_id, rid)  # the same callback again opens nothing more
    await channel.edit(GROUP, sent.message_id, Content.of("📢 党课\n已签到 1",
                                                          [[("签到", "att:in:1")]]))
    assert [f.req_id for f in fake.of(UPDATE)] == [rid]
    assert "已签到 1" in fake.cards[sent.message_id].text
    await channel.edit(GROUP, sent.message_id, Content.of("📢 党课\n已签到 2"))
    assert len(fake.of(UPDATE)) == 1  # that tap's window was used
    rid = await fake.push(fake.tap(card, OTHER, "签到"))
    channel.tapped(sent.message_id, rid)
    clock.now += TAP_WINDOW + 0.1
    await channel.edit(GROUP, sent.message_id, Content.of("📢 党课\n已签到 2"))
    assert len(fake.of(UPDATE)) == 1 and "已签到 1" in fake.cards[sent.message_id].text
    rid = await fake.push(fake.tap(card, OTHER, "签到"))
    channel.tapped(sent.message_id, rid)
    fake.fail(WINDOW_CLOSED)  # WeCom's window closed before ours: the card stays
    await channel.edit(GROUP, sent.message_id, Content.of("📢 党课\n已签到 2"))
    assert fake.of(UPDATE)[-1].errcode == WINDOW_CLOSED
    assert "已签到 1" in fake.cards[sent.message_id].text


async def test_a_refused_tap_is_told_privately_a_notice_is_not(
        fake: FakeWeCom, wired: tuple[WeComChannel, Clock]) -> None:
    """WeCom has no toast: an alert goes to the member's private chat; an unreachable member
    is Unreachable to the core."""
    channel, _ = wired
    card = Card(GROUP, "task1", {"main_title": {"title": "t"}, "button_list": [
        {"text": "签到", "key": "att:in:1"}]})
    event = await channel.to_event(frame_of(fake.tap(card, MEMBER, "签到")))
    assert event is not None
    await channel.answer(event, "签到成功！")
    await channel.answer(event, "活动已结束，不能签到。", alert=True)
    assert fake.texts(MEMBER) == ["活动已结束，不能签到。"]
    with pytest.raises(Unreachable):
        await channel.send(OTHER, Content("请先私聊我"))
    assert fake.of(SEND)[-1].errcode == NOT_IN_CHAT


async def test_long_text_goes_in_pieces_and_mentions_notify(
        fake: FakeWeCom, wired: tuple[WeComChannel, Clock]) -> None:
    """Markdown over 4000 bytes is cut between lines; a mention becomes <@userid>."""
    channel, _ = wired
    lines = [f"第{i}行：学习党章党规，学习系列讲话" for i in range(300)]
    await channel.send(GROUP, Content('<a href="mention:lidangyuan">李</a> <b>请</b>\n'
                                      + "\n".join(lines)))
    pieces = fake.texts(GROUP)
    assert len(pieces) > 1 and all(len(p.encode()) <= 4000 for p in pieces)
    assert pieces[0].startswith("<@lidangyuan> **请**")
    assert "\n".join(pieces).split("\n")[1:] == lines
    assert parts("x" * 9000, 4000) == ["x" * 4000, "x" * 4000, "x" * 1000]


async def test_files_are_named_downloaded_and_decrypted(
        fake: FakeWeCom, wired: tuple[WeComChannel, Clock]) -> None:
    """A file message's URL gives the file encrypted and its name: the event carries the name
    (fetched once), the flow's download the plain bytes; a second download fetches again."""
    channel, _ = wired
    content = "第一党支部名册\n姓名,党小组\n".encode() * 50
    event = await channel.to_event(frame_of(fake.file_message(MEMBER, MEMBER, "名册.csv",
                                                              content, group=False)))
    assert event is not None and event.attachment is not None
    assert (event.attachment.kind, event.attachment.name) == ("file", "名册.csv")
    assert event.attachment.size == len(content)
    assert await channel.download(event.attachment, len(content)) == content
    assert await channel.download(event.attachment, len(content)) == content
    with pytest.raises(TooLarge):
        await channel.download(event.attachment, len(content) - 1)


async def test_a_file_past_the_largest_a_flow_takes_is_not_read_for_its_name(
        fake: FakeWeCom, wired: tuple[WeComChannel, Clock]) -> None:
    """Its name comes from the headers, its size says it is too large: the flow refuses it
    by its size without reading it."""
    channel, _ = wired
    content = b"x" * (LARGEST_FILE + 100)
    event = await channel.to_event(frame_of(fake.file_message(MEMBER, MEMBER, "录像.docx",
                                                              content, group=False)))
    assert event is not None and event.attachment is not None
    assert event.attachment.name == "录像.docx" and event.attachment.size > LARGEST_FILE
    assert not channel.fetched
    with pytest.raises(ValueError):
        decrypt(b"0" * 32, "A" * 43)


async def test_images_are_uploaded_then_pushed(fake: FakeWeCom,
                                               wired: tuple[WeComChannel, Clock]) -> None:
    """A chart goes as media upload then an image message, its caption after it."""
    channel, _ = wired
    await channel.send_image(GROUP, b"\x89PNG" + bytes(2000), filename="stats.png",
                             caption="本月统计")
    assert fake.texts(GROUP) == ["[image:stats.png]", "本月统计"]


async def test_a_quote_of_our_message_replies_to_the_bot(
        fake: FakeWeCom, wired: tuple[WeComChannel, Clock]) -> None:
    """WeCom's quote carries the quoted text only: ours is recognised by it, another's is
    a member's message."""
    channel, _ = wired
    sent = await channel.send(GROUP, Content("请回复本消息说明请假原因。"))
    ours = fake.text_message(GROUP, MEMBER, "出差", quote={
        "msgtype": "text", "text": {"content": fake.texts(GROUP)[-1]}})
    event = await channel.to_event(frame_of(ours))
    assert event is not None and event.reply_to is not None
    assert event.reply_to.by_bot and event.reply_to.message_id == sent.message_id
    theirs = fake.text_message(GROUP, MEMBER, "同意", quote={
        "msgtype": "text", "text": {"content": "明天开会"}})
    event = await channel.to_event(frame_of(theirs))
    assert event is not None and event.reply_to is not None and not event.reply_to.by_bot
    assert event.reply_to.text == "明天开会"
