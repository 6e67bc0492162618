"""The organization boundary through the real process: an unregistered group gets one line for
every command and nothing else happens; /bind, /unbind and /branches by a global admin; private
chats of strangers refused; adding the bot registers a group when a global admin does it."""

from __future__ import annotations

import time

import pytest
from bad_files import zip_bomb_docx
from botproc import BotProcess
from conftest import ADMIN
from fake_bot_api import FakeBotApi, exchange

from bot.services.organization import PRIVATE_REFUSAL, UNREGISTERED

BRANCHES: list[int] = []  # every group here starts unregistered
GROUP, ADDED_GROUP, STRANGER_GROUP = -100910, -100920, -100930
SECRETARY, MEMBER, STRANGER = 911, 912, 913
GROUP_ADMINS = {GROUP: SECRETARY}


def quiet_for(api: FakeBotApi, mark: int, seconds: float = 1.5) -> list[str]:
    """What the bot sent after `mark` within a short while (to show it stays silent)."""
    time.sleep(seconds)
    return [c.method for c in api.calls[mark:] if c.method not in ("getUpdates", "getMe")]


def rows(bot: BotProcess, sql: str) -> list[tuple[object, ...]]:
    return bot.query(sql)


def test_unregistered_group_gets_one_line_for_every_command(api: FakeBotApi,
                                                           bot: BotProcess) -> None:
    """Any command in an unregistered group, by its own admin too, gets exactly the one line;
    nothing is posted or recorded, and plain text gets no answer at all."""
    for command in ("/remind 现在 主题党日", "/checkin", "/ask 党费怎么交", "/stats", "/start"):
        reply = exchange(api, command, user_id=SECRETARY, chat_id=GROUP)
        assert reply.text == UNREGISTERED, command
    mark = api.mark()
    api.send("大家好", user_id=MEMBER, chat_id=GROUP)
    api.send("/checkin@some_other_bot", user_id=MEMBER, chat_id=GROUP)
    assert quiet_for(api, mark) == []
    assert rows(bot, "SELECT count(*) FROM activity") == [(0,)]
    assert rows(bot, f"SELECT count(*) FROM branchmembership WHERE chat_id = {GROUP}") == [(0,)]


def test_stranger_in_private_is_refused_with_one_line(api: FakeBotApi, bot: BotProcess) -> None:
    """Someone seen in no registered branch gets one line in private, whatever they write."""
    assert exchange(api, "党费怎么交？", user_id=STRANGER).text == PRIVATE_REFUSAL
    assert exchange(api, "/me", user_id=STRANGER).text == PRIVATE_REFUSAL


def test_only_a_global_admin_binds(api: FakeBotApi, bot: BotProcess) -> None:
    """The group's own admin cannot register it; a global admin can, and then it is served."""
    assert exchange(api, "/bind 第一党支部", user_id=SECRETARY, chat_id=GROUP).text == UNREGISTERED
    reply = exchange(api, "/bind 第一党支部", user_id=ADMIN, chat_id=GROUP)
    assert "已登记为党支部：第一党支部" in reply.text
    assert rows(bot, f"SELECT branch_name, registered_by FROM chat WHERE id = {GROUP}") == [
        ("第一党支部", ADMIN)]
    assert rows(bot, f"SELECT action, detail FROM auditlog WHERE chat_id = {GROUP}") == [
        ("bind", "第一党支部")]
    post = exchange(api, "/remind 现在 主题党日 学习党章", user_id=SECRETARY, chat_id=GROUP)
    assert [label for label, _ in post.buttons] == ["签到", "请假"]


def test_member_seen_in_a_branch_is_served_in_private(api: FakeBotApi, bot: BotProcess) -> None:
    """Once seen in a registered branch, a member's private questions are answered."""
    exchange(api, "/checkin", user_id=MEMBER, chat_id=GROUP)
    answer = exchange(api, "党委会多久开一次？", user_id=MEMBER)
    assert answer.text != PRIVATE_REFUSAL and "出处" in answer.text


def test_branches_lists_registered_groups_for_global_admins(api: FakeBotApi,
                                                            bot: BotProcess) -> None:
    """/branches in private names each branch; others are refused."""
    listing = exchange(api, "/branches", user_id=ADMIN).text
    assert "第一党支部" in listing and str(GROUP) in listing
    assert "组织管理员" in exchange(api, "/branches", user_id=MEMBER).text


def test_unbind_stops_serving_the_group(api: FakeBotApi, bot: BotProcess) -> None:
    """After /unbind the group is back to the one line, its records kept and audited."""
    assert "已注销" in exchange(api, "/unbind", user_id=ADMIN, chat_id=GROUP).text
    assert exchange(api, "/checkin", user_id=MEMBER, chat_id=GROUP).text == UNREGISTERED
    assert rows(bot, "SELECT count(*) FROM activity") == [(1,)]
    assert ("unbind",) in rows(bot, f"SELECT action FROM auditlog WHERE chat_id = {GROUP}")
    assert "已登记为党支部" in exchange(api, "/bind 第一党支部", user_id=ADMIN, chat_id=GROUP).text


@pytest.mark.parametrize(("chat_id", "by", "expected"), [
    (ADDED_GROUP, ADMIN, "已登记为党支部：机关第二党支部"),
    (STRANGER_GROUP, STRANGER, UNREGISTERED),
])
def test_adding_the_bot_registers_only_when_a_global_admin_does(
        api: FakeBotApi, bot: BotProcess, chat_id: int, by: int, expected: str) -> None:
    """A global admin adding the bot registers the group under its title and says so; anyone
    else adding it gets the one unregistered line."""
    mark = api.mark()
    api.enqueue(api.updates.my_chat_member(chat_id, by=by, title="机关第二党支部"))
    said = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == chat_id, since=mark)
    assert expected in said.text
    registered = rows(bot, f"SELECT registered_at IS NOT NULL FROM chat WHERE id = {chat_id}")
    assert registered == [(by == ADMIN,)]



def test_a_zip_bomb_docx_is_refused_and_nothing_is_stored(api: FakeBotApi, bot: BotProcess) -> None:
    """The bound is named in the reply, the bot keeps answering, no document is stored."""
    mark = api.mark()
    api.upload("炸弹.docx", zip_bomb_docx(), user_id=ADMIN)
    refusal = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ADMIN, since=mark)
    assert "解压后超过 50MB 的上限" in refusal.text
    assert rows(bot, "SELECT count(*) FROM document WHERE name = '炸弹.docx'") == [(0,)]
    assert "出处" in exchange(api, "党委会多久开一次？", user_id=ADMIN).text


ORG_PLAN = "2026年党建工作要点\n一、组织建设\n1.党费收缴。党费每季度收缴一次。\n".encode()
FAKE_PLAN = "2026年党建工作要点\n一、组织建设\n1.党费收缴。党费每十年收缴一次。\n".encode()


def test_a_branch_upload_does_not_shadow_the_organizations(api: FakeBotApi,
                                                           bot: BotProcess) -> None:
    """A secretary of two branches sending a file privately is asked which branch; the file,
    named like the organization's plan, answers that branch only; /docs lists both with their
    scope; its secretary removes it with /docs 删除."""
    mark = api.mark()
    api.upload("党费要点.txt", ORG_PLAN, user_id=ADMIN)
    assert "组织文件" in api.wait_for(
        lambda c: c.method == "sendMessage" and c.chat_id == ADMIN, since=mark).text
    api.set_admin(ADDED_GROUP, SECRETARY)  # SECRETARY administers GROUP and ADDED_GROUP
    exchange(api, "/checkin", user_id=SECRETARY, chat_id=ADDED_GROUP)
    exchange(api, "/checkin", user_id=SECRETARY, chat_id=GROUP)
    mark = api.mark()
    api.upload("党费要点.txt", FAKE_PLAN, user_id=SECRETARY)
    question = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == SECRETARY,
                            since=mark)
    assert "请选择" in question.text
    assert sorted(label for label, _ in question.buttons) == ["机关第二党支部", "第一党支部"]
    mark = api.mark()
    api.tap(question, "机关第二党支部", user_id=SECRETARY)
    added = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == SECRETARY
                         and "知识库" in c.text, since=mark)
    assert "仅机关第二党支部成员可查" in added.text
    assert rows(bot, "SELECT chat_id FROM document WHERE name = '党费要点.txt' ORDER BY id") == [
        (None,), (ADDED_GROUP,)]
    assert "每季度" in exchange(api, "/ask 党费多久收缴一次", user_id=MEMBER, chat_id=GROUP).text
    listing = exchange(api, "/docs", user_id=SECRETARY).text
    assert "支部文件：机关第二党支部" in listing and "组织文件" in listing
    assert "机关第二党支部" not in exchange(api, "/docs", user_id=MEMBER).text
    (number,) = rows(bot, f"SELECT id FROM document WHERE chat_id = {ADDED_GROUP}")[0]
    assert "只有" in exchange(api, f"/docs 删除 {number}", user_id=MEMBER).text
    assert "已从知识库删除" in exchange(api, f"/docs 删除 {number}", user_id=SECRETARY).text
    assert ("remove",) in rows(bot, "SELECT action FROM auditlog WHERE entity = 'document'")


def test_open_mode_serves_every_group_and_warns_at_start(tmp_path) -> None:
    """With DANGJIAN_ADMINS empty: a warning in the log at start, and any group is a branch."""
    with FakeBotApi() as api:
        bot = BotProcess(api, tmp_path, database_url=f"sqlite:///{tmp_path / 'open.db'}",
                         admins="").start()
        try:
            assert "开放模式" in bot.log()
            greeting = exchange(api, "/start", user_id=SECRETARY, chat_id=STRANGER_GROUP)
            assert "/checkin" in greeting.text
        finally:
            assert bot.stop() == 0
