"""Every privileged attendance command for each role: a member, a secretary of this branch, a
secretary of another branch, a global admin. Refusals are one polite line; nothing is changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from attendance_bot import attendance_bot, texts
from attendance_world import ADMIN, BRANCH, OTHER, OTHER_SECRETARY, SECRETARY, START
from sqlmodel import func, select

from bot.config import Settings
from storage.models import Activity, AuditLog, RoleGrant, StudyTask

ROLES = {"member": 2, "secretary": SECRETARY, "other-secretary": OTHER_SECRETARY,
         "global-admin": ADMIN}
REFUSAL = "抱歉，此操作仅限本支部书记（群管理员）或授权人员使用。"
COMMANDS = {
    "/remind 现在 主题党日": lambda s: s.exec(select(func.count()).select_from(Activity)).one() == 2,
    "/task 学习党章": lambda s: s.exec(select(func.count()).select_from(StudyTask)).one() == 1,
    "/proxy 1 3 补签": lambda s: s.exec(select(func.count()).select_from(AuditLog)).one() == 1,
    "/activities 取消 1": lambda s: s.get(Activity, 1).status == "cancelled",
    "/grant 3": lambda s: s.exec(select(func.count()).select_from(RoleGrant)).one() == 2,
    "/activities": None,
    "/stats": None,
    "/export": None,
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("role", list(ROLES))
async def test_privileged_commands_in_the_branch_group(settings: Settings, command: str,
                                                       role: str) -> None:
    allowed = role in ("secretary", "global-admin")
    async with attendance_bot(settings, START - timedelta(minutes=10)) as bot:
        with bot.services.db.session() as session:
            session.add(RoleGrant(chat_id=OTHER, user_id=OTHER_SECRETARY))
        await bot.say("/remind 现在 支委会", SECRETARY, BRANCH)
        await bot.say("大家好", 3, BRANCH)
        calls = await bot.say(command, ROLES[role], BRANCH)
        calls += await bot.settle()
    said = texts(calls) + texts(calls, "sendPhoto") + texts(calls, "sendDocument")
    if allowed:
        assert said and REFUSAL not in said, said
    else:
        assert texts(calls) == [REFUSAL]
        assert [c for c in calls if c.method in ("sendPhoto", "sendDocument")] == []
    check = COMMANDS[command]
    if check is not None:
        with bot.services.db.session() as session:
            assert check(session) is allowed


@pytest.mark.parametrize(
    "command", ["/proxy 1 3 补签", "/activities 取消 1", "/me 3"],
)
async def test_a_secretary_cannot_reach_into_another_branch(settings: Settings,
                                                           command: str) -> None:
    """From their own group, OTHER's secretary names BRANCH's activity or member: refused."""
    async with attendance_bot(settings, START - timedelta(minutes=10)) as bot:
        with bot.services.db.session() as session:
            session.add(RoleGrant(chat_id=OTHER, user_id=OTHER_SECRETARY))
        await bot.say("/remind 现在 支委会", SECRETARY, BRANCH)
        await bot.say("大家好", 3, BRANCH)
        calls = await bot.say(command, OTHER_SECRETARY, OTHER)
    [refusal] = texts(calls)
    assert refusal.startswith("抱歉，")
    with bot.services.db.session() as session:
        assert session.exec(select(func.count()).select_from(AuditLog)).one() == 0
        assert session.get(Activity, 1).status == "planned"  # type: ignore[union-attr]


async def test_member_commands_need_no_role(settings: Settings) -> None:
    async with attendance_bot(settings, START - timedelta(minutes=10)) as bot:
        await bot.say("/remind 现在 支委会", SECRETARY, BRANCH)
        calls = []
        for command in ("/checkin", "/study 学习党章", "/me", "/leave 1 出差"):
            calls += await bot.say(command, 4 if command.startswith("/leave") else 2, BRANCH)
    assert REFUSAL not in texts(calls)
    assert len(texts(calls)) == 4
