"""Meetings through the real Application: /remind, taps, live counts, /checkin, leave, /proxy."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from attendance_bot import answers, attendance_bot, texts
from attendance_world import BRANCH, OTHER, SECRETARY, START
from sqlmodel import select

from bot.config import Settings
from storage.models import Activity, Attendance, AuditLog, BranchMembership

BEFORE = START - timedelta(minutes=10)


def attendance_rows(bot) -> list[tuple[int, str, str, str]]:
    with bot.services.db.session() as session:
        return [(r.user_id, r.status, r.method, r.reason)
                for r in session.exec(select(Attendance).order_by(Attendance.user_id))]


async def post_meeting(bot, text: str = "15:00 主题党日 学习党章 地点：三楼会议室 主持人：王书记"):
    calls = await bot.say(f"/remind {text}", SECRETARY, BRANCH)
    [post] = [c for c in calls if c.method == "sendMessage"]
    return post


async def test_remind_posts_buttons_and_taps_edit_the_counts(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        post = await post_meeting(bot)
        assert int(post.params["chat_id"]) == BRANCH
        assert "已签到 0 / 请假 0" in post.text and "地点：三楼会议室" in post.text
        assert [label for label, _ in post.buttons] == ["签到", "请假"]
        calls = await bot.tap(post, "签到", user_id=2)
        assert answers(calls) == ["签到成功！"]
        [edit] = [c for c in await bot.settle() if c.method == "editMessageText"]
        assert int(edit.params["message_id"]) == post.result["message_id"]
        assert "已签到 1 / 请假 0" in edit.text and edit.buttons == post.buttons
    assert attendance_rows(bot) == [(2, "present", "self", "")]


async def test_remind_on_a_rest_day_posts_and_says_how_to_move_it(settings: Settings) -> None:
    """A meeting set for Sunday is posted, and the secretary is told it is a rest day, with the
    commands that move it; without a time nothing is posted and the bot asks."""
    async with attendance_bot(settings, BEFORE) as bot:  # Friday 14:50 in Beijing
        calls = await bot.say("/remind 后天上午9点 主题党日", SECRETARY, BRANCH)
        asked = await bot.say("/remind 主题党日 学习党章", SECRETARY, BRANCH)
    post, note = texts(calls, chat_id=BRANCH)
    assert post.startswith("📢 主题党日") and "11月22日（周日）09:00" in post
    assert "不是工作日" in note and "/remind 11月23日 09:00-11:00 主题党日（顺延）" in note
    assert "/remind 11月20日" not in note  # Friday 09:00 has passed: no 提前
    [question] = texts(asked)
    assert "写明活动时间" in question
    with bot.services.db.session() as session:
        assert len(session.exec(select(Activity)).all()) == 1


async def test_double_tap_and_redelivered_update_record_once(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        post = await post_meeting(bot)
        await bot.tap(post, "签到", user_id=2)
        again = await bot.tap(post, "签到", user_id=2)
        payload = bot.updates.callback(dict(post.buttons)["签到"], user_id=3, message=post.result)
        first = await bot.process(payload)
        redelivered = await bot.process(payload)
    assert answers(again) == ["您已签到，无需重复签到。"]
    assert answers(first) == ["签到成功！"] and answers(redelivered) == ["您已签到，无需重复签到。"]
    assert [row[0] for row in attendance_rows(bot)] == [2, 3]


async def test_a_redelivered_remind_posts_once(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        payload = bot.updates.message("/remind 15:00 主题党日", user_id=SECRETARY, chat_id=BRANCH,
                                      date=int(BEFORE.timestamp()))
        first = await bot.process(payload)
        again = await bot.process(payload)
    assert len(texts(first, chat_id=BRANCH)) == 1 and texts(again) == []
    with bot.services.db.session() as session:
        assert len(session.exec(select(Activity)).all()) == 1


async def test_a_burst_of_taps_makes_few_edits(settings: Settings) -> None:
    """Thirty taps within an edit interval: an edit at once (in the background), the rest
    folded into one trailing edit with the final counts."""
    async with attendance_bot(settings, BEFORE) as bot:
        post = await post_meeting(bot)
        calls = []
        for user_id in range(100, 130):
            calls += await bot.tap(post, "签到", user_id=user_id)
        calls += await bot.settle()
    edits = [c for c in calls if c.method == "editMessageText"]
    assert len(edits) == 2
    assert "已签到 30 / 请假 0" in edits[-1].text
    assert answers(calls).count("签到成功！") == 30


async def test_checkin_command_uses_the_message_time(settings: Settings) -> None:
    """A /checkin sent on time but processed hours later (downtime backlog) is on time."""
    async with attendance_bot(settings, BEFORE) as bot:
        post = await post_meeting(bot)
        bot.clock.now = START + timedelta(hours=5)
        calls = await bot.say("/checkin", 2, BRANCH, at=START + timedelta(minutes=5))
        late = await bot.say("/checkin 主题党日", 3, BRANCH, at=START + timedelta(minutes=40))
        closed = await bot.say("/checkin", 4, BRANCH, at=START + timedelta(hours=3))
        tapped_now = await bot.tap(post, "签到", user_id=5)
    assert texts(calls, chat_id=BRANCH) == ["签到成功！"]
    assert texts(late, chat_id=BRANCH) == ["签到成功（迟到）。"]
    assert texts(closed) == ["当前没有正在签到的活动。用法：/checkin [活动号或活动名称]"]
    assert answers(tapped_now) == ["签到已截止，如需补签请联系支部书记。"]
    assert attendance_rows(bot) == [(2, "present", "self", ""), (3, "present", "late", "")]


async def test_leave_tap_asks_privately_and_the_reason_is_not_a_question(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        post = await post_meeting(bot)
        tapped = await bot.tap(post, "请假", user_id=2)
        double = await bot.tap(post, "请假", user_id=2)
        reason = await bot.say("出差在外地", 2)
        edits = await bot.settle()
        later = await bot.say("党费怎么交？", 2)
    [ask] = texts(tapped, chat_id=2)
    assert "请直接回复请假原因" in ask
    assert answers(tapped) == ["请在与我的私聊中回复请假原因。"]
    assert answers(double) == ["请回复提示消息说明请假原因。"] and texts(double) == []
    assert texts(reason) == ["已为您登记请假：“主题党日 学习党章”（11月20日（周五）15:00），原因：出差在外地。"]
    assert any("请假 1" in c.text for c in reason + edits if c.method == "editMessageText")
    assert texts(later) and "请假" not in texts(later)[0]  # an ordinary question again
    assert attendance_rows(bot) == [(2, "leave", "self", "出差在外地")]


async def test_leave_reason_in_the_group_when_private_chat_is_closed(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE, closed_dms={2}) as bot:
        post = await post_meeting(bot)
        tapped = await bot.tap(post, "请假", user_id=2)
        [prompt] = [c for c in tapped if c.method == "sendMessage" and c.result]
        chatter = await bot.say("大家好", 2, BRANCH)
        reason = await bot.say("孩子生病", 2, BRANCH, reply_to=prompt.result)
    assert int(prompt.params["chat_id"]) == BRANCH and "tg://user?id=2" in prompt.text
    assert answers(tapped) == ["请回复群里的提示消息说明请假原因。"]
    assert texts(chatter) == []
    assert texts(reason, chat_id=BRANCH)[0].endswith("原因：孩子生病。")
    assert attendance_rows(bot) == [(2, "leave", "self", "孩子生病")]


async def test_leave_command_inline(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        await post_meeting(bot)
        calls = await bot.say("/leave 1 外出培训", 2, BRANCH)
        usage = await bot.say("/leave", 3, BRANCH)
    assert texts(calls)[0].endswith("原因：外出培训。")
    assert texts(usage) == ["请说明请假原因。用法：/leave [活动号] 请假原因，例如 /leave 12 出差在外"]


async def test_proxy_by_reply_or_id_is_audited_and_members_are_refused(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        await post_meeting(bot)
        said = bot.updates.message("我手机没电了", user_id=3, chat_id=BRANCH)
        await bot.process(said)
        said = said["message"]
        by_reply = await bot.say("/proxy 1 补签 手机没电", SECRETARY, BRANCH, reply_to=said)
        by_id = await bot.say("/proxy 1 4 请假 临时出差", SECRETARY, BRANCH)
        refused = await bot.say("/proxy 1 5 补签", 2, BRANCH)
        no_reason = await bot.say("/proxy 1 5", SECRETARY, BRANCH)
    assert texts(by_reply)[0].startswith("已为 用户3 补登活动 #1：未登记 → 出席，原因：补签 手机没电")
    assert texts(by_id)[0].startswith("已为 用户4 补登活动 #1：未登记 → 请假")
    assert texts(refused) == ["抱歉，此操作仅限本支部书记（群管理员）或授权人员使用。"]
    assert texts(no_reason)[0].startswith("请写明补签/代签原因。用法：/proxy")
    assert attendance_rows(bot) == [(3, "present", "proxy", "补签 手机没电"),
                                    (4, "leave", "proxy", "临时出差")]
    with bot.services.db.session() as session:
        assert [a.entity_id for a in session.exec(select(AuditLog))] == ["1:3", "1:4"]


async def test_tap_forged_from_another_group_is_refused(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        post = await post_meeting(bot)
        elsewhere = dict(post.result, chat=bot.updates.chat(OTHER))
        calls = await bot.process(bot.updates.callback("att:in:1", user_id=60, message=elsewhere))
    assert answers(calls) == ["该活动不属于本群，请在活动所在的支部群操作。"]
    assert attendance_rows(bot) == []


async def test_activities_list_and_cancel_edit_the_post(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        await post_meeting(bot)
        listed = await bot.say("/activities", SECRETARY, BRANCH)
        cancelled = await bot.say("/activities 取消 1", SECRETARY, BRANCH)
        cancelled += await bot.settle()
        bad = await bot.say("/activities 删除", SECRETARY, BRANCH)
    assert texts(listed)[0].splitlines()[1].startswith("#1 11月20日（周五）15:00 【主题党日】")
    assert texts(cancelled)[0] == "已取消活动 #1：主题党日 学习党章"
    [edit] = [c for c in cancelled if c.method == "editMessageText"]
    assert "已取消" in edit.text and edit.buttons == []
    assert texts(bad) == ["用法：/activities 查看本支部活动；/activities 取消 活动号"]
    with bot.services.db.session() as session:
        assert session.exec(select(Activity.status)).one() == "cancelled"


async def test_roster_follows_the_group(settings: Settings) -> None:
    """Whoever speaks in the group or joins it is on the roster; leaving takes them off, and
    speaking again after leaving opens a second stay."""
    async with attendance_bot(settings, BEFORE) as bot:
        await bot.say("大家好", 7, BRANCH)
        joined = bot.updates.message("", user_id=8, chat_id=BRANCH, date=stamp(BEFORE))
        joined["message"]["new_chat_members"] = [bot.updates.user(9)]
        await bot.process(joined)
        gone_at = BEFORE + timedelta(hours=1)
        left = bot.updates.message("", user_id=7, chat_id=BRANCH, date=stamp(gone_at))
        left["message"]["left_chat_member"] = bot.updates.user(7)
        await bot.process(left)
        await bot.say("大家好", 8, BRANCH, at=BEFORE + timedelta(hours=2))  # already there
        back_at = BEFORE + timedelta(days=3)
        await bot.say("我回来了", 7, BRANCH, at=back_at)
    with bot.services.db.session() as session:
        stays = {(m.user_id, m.joined_at, m.left_at) for m in session.exec(
            select(BranchMembership).where(BranchMembership.chat_id == BRANCH))}
    assert stays == {(7, BEFORE, gone_at), (7, back_at, None), (8, BEFORE, None),
                     (9, BEFORE, None)}


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())


HUGE = "9223372036854775808"


@pytest.mark.parametrize("command", [
    f"/checkin {HUGE}", f"/leave {HUGE} 出差", f"/study {HUGE}", f"/proxy {HUGE} 3 补签",
    f"/proxy 1 {HUGE} 补签", f"/activities 取消 {HUGE}", f"/me {HUGE}", f"/grant {HUGE}",
    "/checkin 2147483648", "/study ＃１２",
])
async def test_numbers_beyond_the_database_are_answered_politely(settings: Settings,
                                                                 command: str) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        await post_meeting(bot)
        calls = await bot.say(command, SECRETARY, BRANCH)
    [answer] = texts(calls)
    assert answer.startswith(("没有找到", "无法识别成员", "当前没有")), answer
