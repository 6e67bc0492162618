"""The flows through the conversation core on a platform that is not Telegram: string ids,
cards with buttons, taps, private delivery, the organization boundary. A flow tested here is
tested for every adapter, which only translates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from recording import RecordingChannel, Talk
from sqlmodel import select

from bot.app import FEATURES
from bot.channels.base import Attachment, Capabilities, Person
from bot.config import Settings
from bot.core import NOT_REACHABLE, Core
from bot.services import build_services
from bot.services.identities import OUTSIDE_TELEGRAM, number_of
from bot.services.knowledge import MAX_UPLOAD_BYTES
from bot.services.organization import UNREGISTERED
from handlers.posts import live_counts
from storage.models import Attendance, BranchMembership, Document, Identity, Member

ADMIN, SECRETARY, MEMBER, GROUP = "ou_admin", "ou_sec", "ou_member", "oc_branch"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Core, RecordingChannel, Talk]]:
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'core.db'}",
                        DANGJIAN_ADMINS=f"rec:{ADMIN}", _env_file=None)
    services = build_services(settings)
    core = Core(services, FEATURES)
    channel = RecordingChannel(admins_of={GROUP: {SECRETARY}})
    core.add_channel(channel)
    yield core, channel, Talk(core, channel)
    await services.db.close()


def texts(ops) -> list[str]:
    return [op.content.text for op in ops if op.content is not None]


async def test_another_platforms_ids_are_numbered_once_outside_telegrams(world) -> None:
    core, channel, talk = world
    await talk.say("/start", user=ADMIN)
    await talk.say("/help", user=ADMIN)
    with core.services.db.session() as session:
        rows = session.exec(select(Identity).where(Identity.external_id == ADMIN)).all()
    assert len(rows) == 1 and rows[0].platform == "rec" and rows[0].id > OUTSIDE_TELEGRAM
    assert [op.chat for op in channel.sent()] == [ADMIN, ADMIN]  # the private chat is the person
    assert "党建助手" in channel.sent()[0].content.text


async def test_ids_first_seen_at_once_get_each_their_own_number(world) -> None:
    """Members first seen together are numbered in one write, each with the number the identity
    table gives their id."""
    core, _, _ = world
    people = [f"ou_{n}" for n in range(30)]
    numbers = await asyncio.gather(*(core.number("rec", p, group=False) for p in people))
    with core.services.db.session() as session:
        stored = dict(session.exec(select(Identity.external_id, Identity.id)).all())
    assert numbers == [stored[p] for p in people] and len(set(numbers)) == len(people)


async def test_a_tap_that_names_nobody_keeps_the_members_stored_name(world) -> None:
    """A platform whose taps carry no name (DingTalk): after a restart, a member's first tap
    leaves the name their message gave, in place of blanking it or writing their bare id."""
    core, channel, talk = world
    await talk.say("/bind 第一支部", user=ADMIN, chat=GROUP)
    [card] = [op for op in await talk.say("/remind 现在 主题党日", user=SECRETARY,
                                          chat=GROUP) if op.content and op.content.buttons]
    await talk.say("/help", user=MEMBER, chat=GROUP, name="李党员")
    restarted = Core(core.services, FEATURES)
    restarted.add_channel(channel)
    await Talk(restarted, channel).tap(card, "签到", user=MEMBER, name="")
    assert channel.answers()[-1] == "签到成功！"
    with core.services.db.session() as session:
        number = session.exec(select(Identity.id).where(Identity.external_id == MEMBER)).one()
        assert session.get(Member, number).display_name == "李党员"


async def test_an_unregistered_group_gets_the_one_line_and_nothing_else(world) -> None:
    _, channel, talk = world
    assert texts(await talk.say("/checkin", user=MEMBER, chat=GROUP)) == [UNREGISTERED]
    assert texts(await talk.say("主题党日多久一次", user=MEMBER, chat=GROUP)) == []


async def test_a_notice_card_is_tapped_and_updated_from_our_tables(world) -> None:
    core, channel, talk = world
    await talk.say("/bind 第一支部", user=ADMIN, chat=GROUP)
    [card] = [op for op in await talk.say("/remind 现在 主题党日", user=SECRETARY,
                                          chat=GROUP) if op.content and op.content.buttons]
    assert [b.label for row in card.content.buttons for b in row] == ["签到", "请假"]
    await talk.tap(card, "签到", user=MEMBER)
    await talk.tap(card, "签到", user=MEMBER)
    assert channel.answers() == ["签到成功！", "您已签到，无需重复签到。"]
    await live_counts(core).drain()
    edits = [op for op in channel.ops if op.name == "edit"]
    assert edits and edits[-1].message_id == card.message_id
    assert "已签到 1" in card.content.text  # the secretary who posted it hosts
    assert "已签到 2" in edits[-1].content.text  # and the member's two taps count once
    with core.services.db.session() as session:
        assert len(session.exec(select(Attendance)).all()) == 2


async def test_what_goes_privately_never_falls_back_to_the_group(world) -> None:
    _, channel, talk = world
    await talk.say("/bind 第一支部", user=ADMIN, chat=GROUP)
    channel.closed.add(SECRETARY)
    ops = await talk.say("/stats", user=SECRETARY, chat=GROUP)
    assert NOT_REACHABLE in texts(ops)[-1]
    assert all(op.chat != SECRETARY for op in ops)


async def test_members_get_a_polite_refusal_and_bad_input_a_reason(world) -> None:
    _, channel, talk = world
    await talk.say("/bind 第一支部", user=ADMIN, chat=GROUP)
    [refusal] = texts(await talk.say("/remind 明天 党课", user=MEMBER, chat=GROUP))
    assert "仅限本支部书记" in refusal
    [reason] = texts(await talk.say("/cancel 不是编号", user=SECRETARY, chat=GROUP))
    assert "/cancel" in reason


async def test_a_full_width_command_is_the_command(world) -> None:
    _, channel, talk = world
    [help_text] = texts(await talk.say("／help", user=ADMIN))
    assert "/checkin" in help_text


async def test_where_the_platform_lists_members_that_list_is_the_roster(world) -> None:
    core, channel, talk = world
    now = [0.0]
    core.clock = lambda: now[0]
    channel.listed[GROUP] = [Person(SECRETARY, "王书记"), Person(MEMBER, "李党员"),
                             Person("ou_c", "张党员"), Person("bot_1", "党建助手", is_bot=True)]
    await talk.say("/bind 第一支部", user=ADMIN, chat=GROUP)

    def open_stays() -> int:
        with core.services.db.session() as session:
            return len(session.exec(select(BranchMembership).where(
                BranchMembership.left_at == None)).all())  # noqa: E711

    assert open_stays() == 4  # the three listed, and the admin who spoke
    channel.listed[GROUP] = channel.listed[GROUP][:2]
    await talk.say("/help", user=MEMBER, chat=GROUP)
    assert open_stays() == 4  # read again only after ten minutes
    now[0] += 601
    await talk.say("/help", user=MEMBER, chat=GROUP)
    assert open_stays() == 2  # 张党员 left, and the admin the list never named


async def test_help_says_where_roles_are_kept_only_where_the_platform_gives_none(world) -> None:
    """/help adds the /bind and /grant line on a platform that names no group admins (WeCom),
    and not on one that does."""
    core, channel, talk = world
    [usual] = texts(await talk.say("/help", user=ADMIN))
    assert "/grant 成员 授予" not in usual
    channel.capabilities = Capabilities(member_list=False, admin_list=False, join_events=False)
    [stored] = texts(await talk.say("/help", user=ADMIN))
    assert stored.startswith(usual.split("\n")[0])
    assert "党支部由组织管理员在群内发送 /bind 支部名称 登记" in stored
    assert "支部书记由组织管理员或支部书记用 /grant 成员 授予" in stored


async def test_a_private_uploads_branch_is_chosen_on_any_replica(world, tmp_path: Path) -> None:
    """A secretary of two branches sends a plan privately to one replica and taps the branch
    on another: the file joins that branch's knowledge base once; a second tap finds it done."""
    core, channel, talk = world
    other_group = "oc_branch2"
    channel.admins_of[other_group] = {SECRETARY}
    await talk.say("/bind 第一支部", user=ADMIN, chat=GROUP)
    await talk.say("/bind 第二支部", user=ADMIN, chat=other_group)
    for group in (GROUP, other_group):
        await talk.say("/help", user=SECRETARY, chat=group)
    channel.files["f1"] = "支部学习计划\n一、学习安排\n1.每月第一周学习党章。\n".encode()
    [question] = await talk.say("", user=SECRETARY,
                                attachment=Attachment("file", "学习计划.txt", 60, "f1"))
    assert "请选择" in question.content.text
    replica = Core(build_services(core.services.settings), FEATURES)
    replica.add_channel(channel)
    elsewhere = Talk(replica, channel)
    ops = await elsewhere.tap(question, "第二支部", user=SECRETARY)
    assert any("已加入知识库" in text and "第二支部" in text for text in texts(ops))
    assert await elsewhere.tap(question, "第一支部", user=SECRETARY) and \
        channel.answers()[-1] == "该文件已处理或已过期，请重新发送。"
    with core.services.db.session() as session:
        [document] = session.exec(select(Document).where(Document.name == "学习计划.txt")).all()
    assert document.chat_id == await replica.services.db.run(
        lambda session: number_of(session, "rec", other_group, group=True))
    await replica.services.db.close()


async def test_a_file_past_its_bound_is_refused_without_being_read_whole(world) -> None:
    """A platform that does not state a file's size: the download stops at the bound, the
    secretary is told, nothing is stored."""
    core, channel, talk = world
    channel.files["big"] = b"x" * (MAX_UPLOAD_BYTES + 1)
    ops = await talk.say("", user=ADMIN, attachment=Attachment("file", "计划.txt", None, "big"))
    assert texts(ops) == ["文件过大（超过 10MB 的上限），未处理。"]
    with core.services.db.session() as session:
        assert session.exec(select(Document).where(Document.name == "计划.txt")).first() is None
