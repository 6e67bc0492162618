"""Reminders and duties through the real Application: /schedule, /reminders, /cancel, /duties,
/done, /duty, a fired meeting reminder whose [签到] works, and a group that removed the bot."""

from __future__ import annotations

from datetime import timedelta

from attendance_bot import answers, attendance_bot, texts
from attendance_world import BRANCH, MEMBERS, SECRETARY, START
from sqlmodel import select

from bot.app import core_of
from bot.config import Settings
from bot.scheduler import CoreSender
from storage.models import Attendance, Chat, Delivery, Reminder, StudyRecord

BEFORE = START - timedelta(minutes=10)  # 14:50 in Shanghai, Friday 2026-11-20
MEMBER = MEMBERS[0]
BRANCH_MEETING = "83e743"  # 支部委员会会议一般每月召开1次 (built in)


async def schedule(bot, text: str, user_id: int = SECRETARY) -> str:  # type: ignore[no-untyped-def]
    calls = await bot.say(f"/schedule {text}", user_id, BRANCH)
    [reply] = texts(calls, chat_id=BRANCH)
    return reply


async def test_schedule_confirms_with_the_next_time_in_beijing_time(settings: Settings) -> None:
    """The reply names the kind, the rule and the next fire in Asia/Shanghai."""
    async with attendance_bot(settings, BEFORE) as bot:
        reply = await schedule(bot, "每月最后一个周五 15:00 主题党日 地点：三楼会议室")
    assert "✅ 已设置会议提醒 #1：每月最后一个周五 15:00" in reply
    assert "下次提醒：11月27日（周五）15:00" in reply
    assert "【签到】【请假】" in reply and "/cancel 1" in reply


async def test_a_redelivered_schedule_command_schedules_once(settings: Settings) -> None:
    """The same update twice (a restart before it was acknowledged): one reminder."""
    async with attendance_bot(settings, BEFORE) as bot:
        payload = bot.updates.message("/schedule 每周一 08:30 支部学习", user_id=SECRETARY,
                                      chat_id=BRANCH, date=int(BEFORE.timestamp()))
        first = texts(await bot.process(payload))
        again = texts(await bot.process(payload))
        with bot.services.db.session() as session:
            assert len(session.exec(select(Reminder)).all()) == 1
    assert first == again and "#1" in first[0]


async def test_schedule_refuses_members_and_explains_bad_rules(settings: Settings) -> None:
    """A member is refused; an unreadable rule gets its reason and examples; no rule: usage."""
    async with attendance_bot(settings, BEFORE) as bot:
        refused = await schedule(bot, "每天 08:00 早读", user_id=MEMBER)
        unreadable = await schedule(bot, "下个月找时间 开会")
        past = await schedule(bot, "今天 08:00 开会")
        bare = texts(await bot.say("/schedule", SECRETARY, BRANCH))[0]
        with bot.services.db.session() as session:
            assert session.exec(select(Reminder)).all() == []
    assert "仅限" in refused
    assert "无法识别时间规则" in unreadable and "每月最后一个周五" in unreadable
    assert "已经过去" in past
    assert bare.startswith("用法：/schedule")


async def test_reminders_lists_and_cancel_removes(settings: Settings) -> None:
    """/reminders shows the next fire in Beijing time; /cancel takes it away."""
    async with attendance_bot(settings, BEFORE) as bot:
        await schedule(bot, "每周一 08:30 学习《党章》")
        listed = texts(await bot.say("/reminders", SECRETARY, BRANCH))[0]
        cancelled = texts(await bot.say("/cancel 1", SECRETARY, BRANCH))[0]
        empty = texts(await bot.say("/reminders", SECRETARY, BRANCH))[0]
        wrong = texts(await bot.say("/cancel 99", SECRETARY, BRANCH))[0]
        member = texts(await bot.say("/reminders", MEMBER, BRANCH))[0]
    assert "#1［学习］每周一 08:30｜学习《党章》" in listed
    assert "下次：11月23日（周一）08:30" in listed
    assert cancelled.startswith("已取消提醒 #1")
    assert "暂无定时提醒" in empty and "没有编号为 99" in wrong and "仅限" in member


async def test_a_fired_meeting_reminder_opens_the_activity_and_check_in_works(
        settings: Settings) -> None:
    """The engine posts through the real bot; [签到] on that post records attendance."""
    async with attendance_bot(settings, BEFORE) as bot:
        await schedule(bot, "每周五 15:00 支部委员会会议")
        sender = CoreSender(core_of(bot.app))
        mark = len(bot.api.calls)
        bot.clock.now = START
        await bot.services.reminders.fire(1, START, sender, worker="test")
        [post] = [c for c in bot.api.calls[mark:] if c.method == "sendMessage"]
        assert int(post.params["chat_id"]) == BRANCH and "支部委员会会议" in post.text
        assert [label for label, _ in post.buttons] == ["签到", "请假"]
        tapped = await bot.tap(post, "签到", user_id=MEMBER)
        await bot.services.reminders.fire(1, START, sender, worker="again")
        assert len([c for c in bot.api.calls[mark:] if c.method == "sendMessage"]) == 1
        with bot.services.db.session() as session:
            rows = session.exec(select(Attendance.user_id, Attendance.status)).all()
    assert answers(tapped) == ["签到成功！"]
    assert sorted(rows) == [(SECRETARY, "present"), (MEMBER, "present")]  # who scheduled it hosts


async def test_a_fired_study_reminder_carries_the_study_button(settings: Settings) -> None:
    """[已学习] on the posted task records the member's study."""
    async with attendance_bot(settings, BEFORE) as bot:
        await schedule(bot, "每周五 15:00 学习《中国共产党章程》总纲")
        bot.clock.now = START
        mark = len(bot.api.calls)
        await bot.services.reminders.fire(1, START, CoreSender(core_of(bot.app)), worker="test")
        [post] = [c for c in bot.api.calls[mark:] if c.method == "sendMessage"]
        assert [label for label, _ in post.buttons] == ["已学习"]
        await bot.tap(post, "已学习", user_id=MEMBER)
        with bot.services.db.session() as session:
            assert session.exec(select(StudyRecord.user_id)).all() == [MEMBER]


async def test_a_group_that_blocked_the_bot_is_marked_and_the_secretary_told(
        settings: Settings) -> None:
    """Telegram's 403 on the group: the chat is unreachable, the secretary hears it privately."""
    async with attendance_bot(settings, BEFORE, closed_dms={-1}) as bot:
        await bot.say("/start", SECRETARY)  # the secretary talks to the bot privately
        await schedule(bot, "每周五 15:00 交党费提醒")
        bot.api.closed.add(BRANCH)  # then the group blocks the bot
        bot.clock.now = START
        mark = len(bot.api.calls)
        await bot.services.reminders.fire(1, START, CoreSender(core_of(bot.app)), worker="test")
        told = texts(bot.api.calls[mark:], chat_id=SECRETARY)
        with bot.services.db.session() as session:
            assert not session.get(Chat, BRANCH).reachable
            assert session.exec(select(Delivery.status)).all() == ["unreachable"]
    assert len(told) == 1 and "无法在群" in told[0]


async def test_bot_removed_and_added_back(settings: Settings) -> None:
    """my_chat_member updates switch the group's reachability."""
    async with attendance_bot(settings, BEFORE) as bot:
        for status, reachable in (("kicked", False), ("member", True)):
            await bot.process(member_update(bot, status))
            with bot.services.db.session() as session:
                assert session.get(Chat, BRANCH).reachable is reachable


def member_update(bot, status: str) -> dict:  # type: ignore[no-untyped-def]
    bot_user = {"id": 1000, "is_bot": True, "first_name": "党建助手", "username": "dangjian_bot"}
    member = {"status": status, "user": bot_user}
    if status == "kicked":
        member["until_date"] = 0
    return {"update_id": 99, "my_chat_member": {
        "chat": bot.updates.chat(BRANCH), "from": bot.updates.user(SECRETARY),
        "date": int(START.timestamp()),
        "old_chat_member": {"status": "member", "user": bot_user}, "new_chat_member": member,
    }}


async def test_duties_done_and_duty_in_the_group(settings: Settings) -> None:
    """/duties lists the branch's own duties one line each, the plan's words behind a button
    and /duties 编号; /done records this month's 支委会, which then reads done and moves after
    the open ones; /duty switches one off."""
    async with attendance_bot(settings, BEFORE) as bot:
        [listing] = [c for c in await bot.say("/duties", MEMBER, BRANCH) if c.method == "sendMessage"]
        quoted = texts(await bot.tap(listing, "召开支部委员会会·原文", user_id=MEMBER))
        by_number = texts(await bot.say(f"/duties {BRANCH_MEETING}", MEMBER, BRANCH))
        done = texts(await bot.say(f"/done {BRANCH_MEETING} 11月10日已召开", SECRETARY, BRANCH))[0]
        again = texts(await bot.say("/duties", MEMBER, BRANCH))[0]
        switched = texts(await bot.say("/duty 3e460e 停用", SECRETARY, BRANCH))[0]
        refused = texts(await bot.say(f"/done {BRANCH_MEETING}", MEMBER, BRANCH))[0]
        usage = texts(await bot.say("/done", SECRETARY, BRANCH))[0]
    assert f"• [{BRANCH_MEETING}] 召开支部委员会会议：11月30日前（本月 0/1）" in listing.text
    assert "原文：“" not in listing.text and "党委" not in listing.text.split("原文：点")[0]
    assert quoted == by_number and "原文：“支部委员会会议一般每月召开1次”" in quoted[0]
    assert "✅ 已登记完成" in done and "本期已完成 1/1" in done
    lines = again.splitlines()
    mine = next(n for n, line in enumerate(lines) if BRANCH_MEETING in line)
    assert lines[mine] == f"✅ [{BRANCH_MEETING}] 召开支部委员会会议：本月 1/1 已完成，下次12月31日前"
    assert "11月30日前" in " ".join(lines[:mine]) and "11月30日前" not in " ".join(lines[mine:])
    assert "本支部已停用" in switched
    assert "仅限" in refused and usage.startswith("用法：/done")


async def test_duties_in_private_show_the_calendar(settings: Settings) -> None:
    """In a private chat /duties shows the member's own branch's duties (they are in one), and
    全部 the rest by audience."""
    async with attendance_bot(settings, BEFORE) as bot:
        listing = "\n".join(texts(await bot.say("/duties", MEMBER)))
        everything = "\n".join(texts(await bot.say("/duties 全部", MEMBER)))
    assert "召开支部委员会会议" in listing and "/duties 全部" in listing
    assert "【党委】" in everything and "【党委】" not in listing


async def test_cancel_in_private_names_the_branch(settings: Settings) -> None:
    """The group's Telegram admin sends /cancel 1 to the bot privately: the reminder of their
    branch is cancelled and the reply says which branch; a member gets nothing cancelled."""
    async with attendance_bot(settings, BEFORE) as bot:
        reply = await schedule(bot, "每周一 08:30 学习《党章》")
        refused = texts(await bot.say("/cancel 1", MEMBER, MEMBER))[0]
        cancelled = texts(await bot.say("/cancel 1", SECRETARY, SECRETARY))[0]
    assert "✅ 已设置学习提醒 #1" in reply
    assert refused == "抱歉，此操作仅限支部书记使用；请在本支部群中发送该命令。"
    assert cancelled == "已取消「支部1001」的提醒 #1：每周一 08:30｜学习《党章》"


async def test_reminders_in_private_list_the_branches_one_runs(settings: Settings) -> None:
    """/reminders sent privately: the secretary sees their branch's reminders, named by branch;
    a member is refused."""
    async with attendance_bot(settings, BEFORE) as bot:
        await schedule(bot, "每周一 08:30 学习《党章》")
        listed = texts(await bot.say("/reminders", SECRETARY, SECRETARY))[0]
        refused = texts(await bot.say("/reminders", MEMBER, MEMBER))[0]
    assert "#1［学习｜支部1001］每周一 08:30｜学习《党章》" in listed
    assert refused.startswith("抱歉，此操作仅限支部书记使用")
