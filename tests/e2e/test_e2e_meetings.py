"""Meetings that count, through the real process over HTTP: a meeting held now and one for
tomorrow, taps, /stats counting only the held one (the secretary who posted it present), then
/minutes with text and a file, and a 补录 that posts no buttons."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from botproc import BotProcess
from fake_bot_api import FakeBotApi, HttpCall, exchange

GROUP = -100900
SECRETARY, MEMBER, SILENT = 901, 902, 903
GROUP_ADMINS = {GROUP: SECRETARY}


def number(post: HttpCall) -> int:
    return int(re.search(r"活动号：#(\d+)", post.text).group(1))


@pytest.fixture(scope="module")
def meetings(api: FakeBotApi, bot: BotProcess) -> tuple[HttpCall, HttpCall]:
    """A 党小组会 the secretary opens now (no 主持人 named: they host), a member's tap, a member
    who only chatted; and a 支部大会 announced for tomorrow."""
    api.send("/start", user_id=SECRETARY)
    now = exchange(api, "/remind 现在 党小组学习会 学习党章 地点：会议室", user_id=SECRETARY,
                   chat_id=GROUP)
    api.send("收到", user_id=SILENT, chat_id=GROUP)
    mark = api.mark()
    api.tap(now, "签到", user_id=MEMBER)
    api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark)
    tomorrow = exchange(api, "/remind 明天下午3点 支部大会 选举支委", user_id=SECRETARY,
                        chat_id=GROUP)
    return now, tomorrow


def test_stats_count_the_held_meeting_only(api: FakeBotApi, bot: BotProcess,
                                           meetings: tuple[HttpCall, HttpCall]) -> None:
    """/stats: the meeting under way counts with its host present and the silent member absent;
    tomorrow's is 待召开 and absent from the figures and the private non-responder list."""
    held, coming = meetings
    assert "【党小组会】" in held.text and "【支部党员大会】" in coming.text
    mark = api.mark()
    report = exchange(api, "/stats 本年", user_id=SECRETARY, chat_id=GROUP, timeout=20)
    assert "活动 1 次，总体出席率 67%（实到/应到；应到依据：群内成员）" in report.text
    assert "应到 3，实到 2，请假 0，缺席 1" in report.text
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)
    if tomorrow.month != 1 or tomorrow.day != 1:  # still this year
        assert re.search(r"【支部党员大会】支部大会 选举支委：待召开", report.text)
    private = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == SECRETARY
                           and "未响应" in c.text, since=mark, timeout=20)
    assert f"#{number(held)}" in private.text and f"#{number(coming)}" not in private.text
    api.wait_for(lambda c: c.chat_id == GROUP and "已私信发送" in (c.text or ""), since=mark,
                 timeout=20)
    assert dict(bot.query(f"SELECT user_id, method FROM attendance "
                          f"WHERE activity_id = {number(held)}")) == {SECRETARY: "role",
                                                                      MEMBER: "self"}


def test_minutes_text_and_file_are_stored(api: FakeBotApi, bot: BotProcess,
                                          meetings: tuple[HttpCall, HttpCall]) -> None:
    """/minutes with 议题/决议/纪要, then a file captioned /minutes N; tomorrow's meeting takes
    none yet; a member may not write them."""
    held, coming = meetings
    n = number(held)
    done = exchange(api, f"/minutes {n} 议题：学习党章第一章 决议：每月集中学习一次 纪要：全体参加讨论",
                    user_id=SECRETARY, chat_id=GROUP)
    assert done.text.startswith(f"✅ 已记入活动 #{n}") and "议题、决议、纪要" in done.text
    mark = api.mark()
    api.upload("会议记录.docx", b"minutes", user_id=SECRETARY, chat_id=GROUP,
               caption=f"/minutes {n}")
    filed = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP, since=mark)
    assert "附件" in filed.text
    early = exchange(api, f"/minutes {number(coming)} 纪要：提前写", user_id=SECRETARY,
                     chat_id=GROUP)
    assert "尚未召开" in early.text
    refused = exchange(api, f"/minutes {n} 纪要：我来写", user_id=MEMBER, chat_id=GROUP)
    assert "仅限" in refused.text
    assert bot.query(f"SELECT topics, decisions, minutes FROM activity WHERE id = {n}") == [
        ("学习党章第一章", "每月集中学习一次", "全体参加讨论")]
    assert bot.query("SELECT name, kind FROM meetingfile") == [("会议记录.docx", "document")]
    assert bot.query("SELECT COUNT(*) FROM document WHERE name LIKE '会议记录%'") == [(0,)]


def test_backfill_posts_no_buttons(api: FakeBotApi, bot: BotProcess,
                                   meetings: tuple[HttpCall, HttpCall]) -> None:
    """/remind 补录 answers with the number and how to record attendance, and posts no notice."""
    mark = api.mark()
    answer = exchange(api, "/remind 补录 昨天 15:00 支委会议 原因：系统未上线",
                      user_id=SECRETARY, chat_id=GROUP)
    assert answer.text.startswith("✅ 已补录会议 #") and "（补录）" in answer.text
    assert "/proxy" in answer.text and not answer.buttons
    assert not [c for c in api.calls[mark:] if c.buttons]
    assert bot.query("SELECT kind, backfill_reason FROM activity WHERE backfill_reason != ''") \
        == [("支委会", "系统未上线")]
