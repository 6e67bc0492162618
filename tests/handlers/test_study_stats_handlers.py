"""Study, /me, /stats, /export and /grant through the real Application."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import openpyxl
from attendance_bot import answers, attendance_bot, texts
from attendance_world import BRANCH, OTHER, OTHER_SECRETARY, SECRETARY, START
from sqlmodel import select

from bot.config import Settings
from bot.services import ledger
from storage.models import AuditLog, RoleGrant, StudyRecord

BEFORE = START - timedelta(minutes=10)


async def meeting_with_responses(bot) -> None:
    """A meeting where 2 checks in, 3 takes leave and 4 (who spoke in the group) does not."""
    calls = await bot.say("/remind 现在 主题党日 学习党章", SECRETARY, BRANCH)
    [post] = [c for c in calls if c.method == "sendMessage"]
    await bot.say("收到", 4, BRANCH)
    await bot.tap(post, "签到", user_id=2)
    await bot.say("/leave 出差", 3, BRANCH)


async def test_task_button_and_study_command(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        calls = await bot.say("/task 学习《中国共产党章程》总纲 12月31日", SECRETARY, BRANCH)
        [post] = [c for c in calls if c.method == "sendMessage"]
        first = await bot.tap(post, "已学习", user_id=2)
        double = await bot.tap(post, "已学习", user_id=2)
        edits = await bot.settle()
        noted = await bot.say("/study 1 深受教育", 3, BRANCH)
        free = await bot.say("/study 读《习近平谈治国理政》 心得：收获很大", 3)
        usage = await bot.say("/study", 3)
        refused = await bot.say("/task 学习党章", 2, BRANCH)
    assert post.text.startswith("📚 学习任务 #1：学习《中国共产党章程》总纲\n截止：12月31日（周四）")
    assert post.buttons == [("已学习", "study:done:1")]
    assert answers(first) == ["已登记学习任务 #1。"]
    assert answers(double) == ["您已登记过学习任务 #1（已学习）。"]
    assert any("已学习 1 人" in c.text for c in first + double + edits
               if c.method == "editMessageText")
    assert texts(noted) == ["已登记学习任务 #1，心得已保存。"]
    assert texts(free) == ["已登记自学：读《习近平谈治国理政》，心得已保存。"]
    assert texts(usage)[0].startswith("用法：/study")
    assert texts(refused) == ["抱歉，此操作仅限本支部书记（群管理员）或授权人员使用。"]
    with bot.services.db.session() as session:
        assert len(session.exec(select(StudyRecord)).all()) == 3


async def test_stats_figures_in_the_group_names_only_in_private(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        await meeting_with_responses(bot)
        bot.clock.now = START + timedelta(days=1)
        calls = await bot.say("/stats 本月", SECRETARY, BRANCH)
    group = texts(calls, chat_id=BRANCH)
    assert group[0].startswith("📊 支部1001 本月统计")
    assert "应到 4，实到 2，请假 1，缺席 1" in group[0]  # the secretary who posted hosted it
    assert group[-1] == "未响应名单已私信发送给您。"
    [photo] = [c for c in calls if c.method == "sendPhoto"]
    assert int(photo.params["chat_id"]) == BRANCH and photo.files["photo"].startswith(b"\x89PNG")
    [private] = texts(calls, chat_id=SECRETARY)
    assert private.startswith("🔒 支部1001 本月未响应名单（仅您可见）")
    assert "用户4" in private
    assert not any("用户4" in text for text in group)


async def test_stats_for_a_secretary_who_never_started_the_bot(settings: Settings) -> None:
    """The names are not posted to the group instead; the secretary is told how to get them."""
    async with attendance_bot(settings, BEFORE, closed_dms={SECRETARY}) as bot:
        await meeting_with_responses(bot)
        calls = await bot.say("/stats", SECRETARY, BRANCH)
    group = texts(calls, chat_id=BRANCH)
    assert group[-1].startswith("请先私聊我发送 /start")
    assert not any("用户4" in text for text in group)


async def test_export_goes_to_the_private_chat_only(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        await meeting_with_responses(bot)
        bot.clock.now = START + timedelta(days=1)
        calls = await bot.say("/export", SECRETARY, BRANCH)
    documents = [c for c in calls if c.method == "sendDocument"]
    assert {int(c.params["chat_id"]) for c in documents} == {SECRETARY}
    assert texts(calls, chat_id=BRANCH) == ["台账已私信发送给您。"]
    workbook = openpyxl.load_workbook(io.BytesIO(documents[0].files["document"]), read_only=True)
    rows = list(workbook["主题党日"].iter_rows(values_only=True))
    assert rows[0][0].startswith("党组织 ")  # DANGJIAN_ORG_NAME's default, then the branch
    assert rows[ledger.TITLE_ROWS + 1][4:8] == (4, 2, 1, 1)
    with zipfile.ZipFile(io.BytesIO(documents[1].files["document"])) as bundle:
        assert "党建台账-20261121-签到明细.csv" in bundle.namelist()


async def test_export_refused_to_members_and_never_sent_to_the_group(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE, closed_dms={SECRETARY}) as bot:
        member = await bot.say("/export", 2, BRANCH)
        closed = await bot.say("/export", SECRETARY, BRANCH)
    assert texts(member) == ["抱歉，此操作仅限本支部书记（群管理员）或授权人员使用。"]
    assert [c for c in member + closed if c.method == "sendDocument"] == []
    assert texts(closed)[0].startswith("请先私聊我发送 /start")


async def test_me_shows_own_record_and_others_only_to_their_secretary(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        await meeting_with_responses(bot)
        own = await bot.say("/me", 3, BRANCH)
        nosy = await bot.say("/me 2", 3, BRANCH)
        looked_up = await bot.say("/me 2", SECRETARY, BRANCH)
    assert texts(own)[0].splitlines()[:2] == ["📋 用户3 2026年的记录", "参加活动 0 次，请假 1 次，缺席 0 次"]
    assert texts(nosy) == ["抱歉，您只能查看自己的记录；书记可查看本支部成员的记录。"]
    assert texts(looked_up, chat_id=SECRETARY)[0].startswith("📋 用户2 2026年在支部1001的记录")
    assert texts(looked_up, chat_id=BRANCH) == ["该成员的记录已私信发送给您。"]


async def test_me_of_a_member_of_two_branches_shows_a_secretary_only_their_own(
        settings: Settings) -> None:
    """7 belongs to both branches and checked in to a meeting of each: each branch's secretary
    sees their own branch's meeting only; 7 sees both."""
    async with attendance_bot(settings, BEFORE) as bot:
        for chat_id in (BRANCH, OTHER):
            await bot.say("大家好", 7, chat_id)
        here = await bot.say("/remind 现在 主题党日 学习党章", SECRETARY, BRANCH)
        there = await bot.say("/remind 现在 党课 保密教育", OTHER_SECRETARY, OTHER)
        for calls in (here, there):
            [post] = [c for c in calls if c.method == "sendMessage"]
            await bot.tap(post, "签到", user_id=7)
        by_here = await bot.say("/me 7", SECRETARY, BRANCH)
        by_there = await bot.say("/me 7", OTHER_SECRETARY, OTHER)
        own = await bot.say("/me", 7)
    for calls, who, branch, seen, unseen in (
        (by_here, SECRETARY, "支部1001", "学习党章", "保密教育"),
        (by_there, OTHER_SECRETARY, "支部1002", "保密教育", "学习党章"),
    ):
        [record] = texts(calls, chat_id=who)
        assert record.splitlines()[:2] == [f"📋 用户7 2026年在{branch}的记录",
                                           "参加活动 1 次，请假 0 次，缺席 0 次"]
        assert seen in record and unseen not in record
    [mine] = texts(own)
    assert mine.splitlines()[1] == "参加活动 2 次，请假 0 次，缺席 0 次"
    assert "学习党章" in mine and "保密教育" in mine


async def test_grant_makes_a_secretary(settings: Settings) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        await bot.say("大家好", 3, BRANCH)
        refused = await bot.say("/grant 3", 2, BRANCH)
        granted = await bot.say("/grant 3", SECRETARY, BRANCH)
        again = await bot.say("/grant 3", SECRETARY, BRANCH)
        now_allowed = await bot.say("/remind 现在 支委会", 3, BRANCH)
        usage = await bot.say("/grant", SECRETARY, BRANCH)
    assert texts(refused) == ["抱歉，此操作仅限本支部书记（群管理员）或授权人员使用。"]
    assert texts(granted) == ["已授予 用户3 本支部书记权限。"]
    assert texts(again) == ["用户3 已是本支部的授权书记。"]
    assert texts(now_allowed)[0].startswith("📢 支委会")
    assert texts(usage)[0].startswith("用法：/grant")
    with bot.services.db.session() as session:
        assert [(g.user_id, g.granted_by) for g in session.exec(select(RoleGrant))] == [(3, 1)]
        assert [a.action for a in session.exec(select(AuditLog))] == ["grant"]
