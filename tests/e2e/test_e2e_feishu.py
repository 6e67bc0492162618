"""The real `dangjian run` on Feishu only, against a fake Feishu Open Platform over HTTP: events
POSTed to its callback as Feishu signs and encrypts them, and over the long connection; the
flows are the same ones Telegram's tests drive."""

from __future__ import annotations

import asyncio
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botproc import refused_start, wait_for
from fakes.feishu import FakeFeishu
from feishuproc import ADMIN, FeishuBot, Platform, buttons, message_text

SECRETARY, MEMBER, STRANGER = "ou_sec01", "ou_member01", "ou_stranger01"
BRANCH, OTHER = "oc_branch01", "oc_other01"

@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    fake = FakeFeishu()
    with fake.in_thread():
        fake.add_chat(BRANCH, SECRETARY, members=[(SECRETARY, "王书记"), (MEMBER, "李党员"),
                                                  ("ou_member02", "张党员")], name="第一党支部群")
        fake.add_chat(OTHER, STRANGER, name="别的群")
        yield Platform(fake)


@pytest.fixture(scope="module")
def bot(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeishuBot]:
    process = FeishuBot(platform.fake, tmp_path_factory.mktemp("feishu"), mode="webhook").start()
    yield process
    if process.process is not None:
        assert process.end() == 0


def deliver(platform: Platform, bot: FeishuBot, event: dict[str, Any]) -> tuple[int, Any]:
    return platform.run(platform.fake.deliver(bot.callback, event))


def say(platform: Platform, bot: FeishuBot, chat: str, sender: str, text: str, *,
        group: bool = True) -> None:
    status, _ = deliver(platform, bot, platform.fake.message_event(
        chat, sender, text, group=group, mention_bot=group))
    assert status == 200


def test_the_callback_answers_feishus_challenge_and_refuses_a_forged_body(
        platform: Platform, bot: FeishuBot) -> None:
    status, answer = deliver(platform, bot, platform.fake.url_verification())
    assert status == 200 and "challenge" in answer
    forged = urllib.request.Request(bot.callback, data=b'{"encrypt": "AAAA"}', method="POST",
                                    headers={"X-Lark-Request-Timestamp": "1",
                                             "X-Lark-Request-Nonce": "n",
                                             "X-Lark-Signature": "0" * 64})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=5)
    assert refused.value.code == 400
    assert "Traceback" not in bot.log()


def test_wrong_credentials_stop_the_start_with_one_line(platform: Platform,
                                                        tmp_path: Path) -> None:
    env = {**FeishuBot(platform.fake, tmp_path, mode="webhook").env, "FEISHU_APP_SECRET": "wrong"}
    assert "飞书拒绝了应用凭证" in refused_start(env)


def test_an_admin_adding_the_bot_registers_the_branch(platform: Platform, bot: FeishuBot) -> None:
    status, _ = deliver(platform, bot, platform.fake.bot_added(BRANCH, ADMIN, "第一党支部群"))
    assert status == 200
    platform.said(BRANCH, "已登记为党支部：第一党支部群")


def test_an_unregistered_group_gets_the_one_line(platform: Platform, bot: FeishuBot) -> None:
    say(platform, bot, OTHER, STRANGER, "/checkin")
    assert platform.said(OTHER, "本群尚未登记为党支部") == \
        "本群尚未登记为党支部，请组织管理员在群内发送 /bind 支部名称。"


def test_a_notice_is_a_card_its_taps_count_once_and_update_it(
        platform: Platform, bot: FeishuBot) -> None:
    fake = platform.fake
    say(platform, bot, BRANCH, SECRETARY, "/remind 现在 主题党日 地点：三楼会议室")
    platform.said(BRANCH, "📢 主题党日")
    card = next(m for m in fake.sent(BRANCH) if "主题党日" in message_text(m))
    values = buttons(card)
    assert list(values) == ["签到", "请假"]
    tap = fake.card_action(card.message_id, BRANCH, MEMBER, {"v": values["签到"]})
    status, answer = deliver(platform, bot, tap)
    assert status == 200 and answer["toast"]["content"] == "签到成功！"
    status, again = deliver(platform, bot, tap)  # Feishu delivers the same event again
    assert status == 200 and again == {}
    second = fake.card_action(card.message_id, BRANCH, MEMBER, {"v": values["签到"]})
    assert deliver(platform, bot, second)[1]["toast"]["content"] == "您已签到，无需重复签到。"
    wait_for(lambda: "已签到 2" in message_text(fake.messages[card.message_id]),
             why=lambda: message_text(fake.messages[card.message_id]))
    assert fake.calls_to("PATCH", f"/open-apis/im/v1/messages/{card.message_id}")


def test_members_ask_by_mentioning_the_bot(platform: Platform, bot: FeishuBot) -> None:
    before = len(platform.texts(BRANCH))
    say(platform, bot, BRANCH, MEMBER, "廉政党课怎么安排")
    assert "出处" in platform.said(BRANCH, "出处", since=before)


def test_stats_draw_a_chart_and_the_list_goes_privately(platform: Platform,
                                                        bot: FeishuBot) -> None:
    fake = platform.fake
    before = len(platform.texts(BRANCH))
    say(platform, bot, BRANCH, SECRETARY, "/stats")
    platform.said(SECRETARY, "未响应")
    # 应到 is the group's member list (three people), not who happened to speak
    assert "应到 3" in platform.said(BRANCH, "应到", since=before)
    wait_for(lambda: any(m.msg_type == "image" for m in fake.sent(BRANCH)))
    assert fake.images


def test_a_member_is_refused_politely(platform: Platform, bot: FeishuBot) -> None:
    before = len(platform.texts(BRANCH))
    say(platform, bot, BRANCH, MEMBER, "/task 学习党章")
    assert "仅限本支部书记" in platform.said(BRANCH, "仅限", since=before)


def test_nothing_is_lost_or_doubled_across_a_kill(platform: Platform, bot: FeishuBot) -> None:
    """Killed while a tap's count edit waits out a 429: the restarted bot shows the count
    without another tap, and the tap delivered again counts once."""
    fake = platform.fake
    card = next(m for m in fake.sent(BRANCH) if "主题党日" in message_text(m))
    tap = fake.card_action(card.message_id, BRANCH, "ou_member02", {"v": buttons(card)["签到"]})
    fake.rate_limit(1, reset=60)
    assert deliver(platform, bot, tap)[1]["toast"]["content"] == "签到成功！"
    wait_for(lambda: any(call.status == 429 for call in fake.calls_to(
        "PATCH", f"/open-apis/im/v1/messages/{card.message_id}")))
    bot.end(signal.SIGKILL)
    assert "已签到 2" in message_text(fake.messages[card.message_id])
    bot.start()
    wait_for(lambda: "已签到 3" in message_text(fake.messages[card.message_id]),
             why=lambda: message_text(fake.messages[card.message_id]))
    assert deliver(platform, bot, tap)[1] == {}  # Feishu's redelivery: a repeat, dropped
    again = fake.card_action(card.message_id, BRANCH, "ou_member02", {"v": buttons(card)["签到"]})
    assert deliver(platform, bot, again)[1]["toast"]["content"] == "您已签到，无需重复签到。"


def test_a_429_is_waited_out_and_the_reply_sent_once(platform: Platform, bot: FeishuBot) -> None:
    fake = platform.fake
    before = len(platform.texts(SECRETARY))
    fake.rate_limit(1, reset=0.5)
    say(platform, bot, SECRETARY, SECRETARY, "/help", group=False)
    platform.said(SECRETARY, "党建助手", since=before)
    assert sum("党建助手" in t for t in platform.texts(SECRETARY)[before:]) == 1


def test_the_long_connection_serves_the_same_flows(platform: Platform,
                                                   tmp_path: Path) -> None:
    fake = platform.fake
    process = FeishuBot(fake, tmp_path, mode="ws").start()
    try:
        platform.run(asyncio.wait_for(fake.connected(), 20))
        before = len(platform.texts(ADMIN))
        ack = platform.run(fake.push(fake.message_event(ADMIN, ADMIN, "/help", group=False)))
        assert ack["code"] == 200
        platform.said(ADMIN, "/checkin", since=before)
    finally:
        assert process.end() == 0


def test_a_secretary_adds_a_plan_by_sending_it_privately(platform: Platform,
                                                         bot: FeishuBot) -> None:
    plan = "2031年要点\n一、学习\n1.读书班。每季度举办一次读书班。\n".encode()
    before = len(platform.texts(SECRETARY))
    event = platform.fake.file_event("oc_p2p_sec01", SECRETARY, "读书计划.txt", plan)
    assert deliver(platform, bot, event)[0] == 200
    assert "已加入知识库" in platform.said(SECRETARY, "知识库", since=before)
    before = len(platform.texts(BRANCH))
    say(platform, bot, BRANCH, MEMBER, "读书班多久办一次")
    assert "每季度举办一次读书班" in platform.said(BRANCH, "读书班", since=before)


def test_a_study_task_and_a_leave_with_its_reason(platform: Platform, bot: FeishuBot) -> None:
    fake = platform.fake
    say(platform, bot, BRANCH, SECRETARY, "/task 学习党章 12月31日前")
    platform.said(BRANCH, "学习党章")
    task = next(m for m in fake.sent(BRANCH) if "已学习" in buttons(m))
    tap = fake.card_action(task.message_id, BRANCH, MEMBER, {"v": buttons(task)["已学习"]})
    assert "学习" in deliver(platform, bot, tap)[1]["toast"]["content"]

    say(platform, bot, BRANCH, SECRETARY, "/remind 明天下午3点 支委会")
    platform.said(BRANCH, "支委会")
    meeting = next(m for m in fake.sent(BRANCH) if "支委会" in message_text(m) and buttons(m))
    leave = fake.card_action(meeting.message_id, BRANCH, MEMBER, {"v": buttons(meeting)["请假"]})
    assert "私聊" in deliver(platform, bot, leave)[1]["toast"]["content"]
    platform.said(MEMBER, "请直接回复请假原因")
    before = len(platform.texts(MEMBER))
    say(platform, bot, "oc_p2p_member01", MEMBER, "出差在外", group=False)
    assert "请假" in platform.said(MEMBER, "请假", since=before)


@pytest.mark.parametrize(("sender", "text", "expected"), [
    (SECRETARY, "/duties", "工作职责"),
    (SECRETARY, "/schedule 每周一 08:30 学习党章", "已设置"),
    (SECRETARY, "/reminders", "定时提醒"),
    (SECRETARY, "/activities", "主题党日"),
    (MEMBER, "/me", "李党员"),
    (MEMBER, "/docs", "知识库文件"),
    (MEMBER, "/roster", "名册"),
    (MEMBER, "/checkin 99", "活动"),
    (MEMBER, "/chekin", "/checkin"),
    (SECRETARY, "/grant", "用法"),
    (SECRETARY, "/remind 2月30日 15:00 党课", "2月30日"),
])
def test_each_command_answers_in_chinese(platform: Platform, bot: FeishuBot, sender: str,
                                         text: str, expected: str) -> None:
    before = len(platform.texts(BRANCH))
    say(platform, bot, BRANCH, sender, text)
    assert expected in platform.said(BRANCH, expected, since=before)


def test_the_admin_lists_branches_privately_and_unbinds(platform: Platform,
                                                        bot: FeishuBot) -> None:
    before = len(platform.texts(ADMIN))
    say(platform, bot, "oc_p2p_admin", ADMIN, "/branches", group=False)
    assert "第一党支部群" in platform.said(ADMIN, "已登记的党支部（", since=before)
    say(platform, bot, OTHER, ADMIN, "/bind 第二支部")
    platform.said(OTHER, "已登记为党支部：第二支部")
    say(platform, bot, OTHER, ADMIN, "/unbind")
    platform.said(OTHER, "已注销党支部「第二支部」")
