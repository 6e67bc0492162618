"""The secretary's small things and the 台账 through the real process over HTTP: the first
reminder is #1 and /cancel works privately naming the branch; ／me, /chekin and English
questions; /me confirms a leave for tomorrow; /export's workbook opens with the title block
and its 三会一课记录 row holds what happened, by name."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from botproc import BotProcess
from conftest import ADMIN, seen_in_branch
from fake_bot_api import FakeBotApi, HttpCall, exchange
from openpyxl import load_workbook

GROUP = -100910
SECRETARY, ZHANG, LI, WANG = 911, 912, 913, 914
NAMES = {SECRETARY: "王书记", ZHANG: "张三", LI: "李四", WANG: "王五"}
BRANCH = "机关第一党支部"
ORG = "某某集团党委"
GROUP_ADMINS = {GROUP: SECRETARY}


@pytest.fixture(scope="module")
def bot(api: FakeBotApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """The bot with the organization's name set (DANGJIAN_ORG_NAME)."""
    workdir = tmp_path_factory.mktemp("bot")
    process = BotProcess(api, workdir, database_url=f"sqlite:///{workdir / 'dangjian.db'}",
                         admins=str(ADMIN), branches={GROUP: BRANCH}, DANGJIAN_ORG_NAME=ORG)
    process.start()
    yield process
    assert process.stop() == 0, process.log()[-3000:]


def say(api: FakeBotApi, text: str, user: int, *, in_group: bool = False,
        **kwargs: object) -> HttpCall:
    """`user` writes (in the branch group or privately); the bot's first message back."""
    return exchange(api, text, user_id=user, chat_id=GROUP if in_group else None,
                    name=NAMES[user], chat_title=BRANCH if in_group else "", timeout=20,
                    **kwargs)


def activity_id(post: HttpCall) -> int:
    return int(re.search(r"活动号：#(\d+)", post.text).group(1))


def test_the_first_reminder_is_one_and_cancel_in_private_names_the_branch(
        api: FakeBotApi, bot: BotProcess) -> None:
    """The running bot holds its daily digest as a reminder too; the secretary's first is
    still #1, and /cancel 1 sent privately cancels it in the branch it names."""
    made = say(api, "/schedule 每周一 08:30 交党费", SECRETARY, in_group=True)
    assert "提醒 #1：每周一 08:30" in made.text
    cancelled = say(api, "/cancel 1", SECRETARY)
    assert cancelled.text == f"已取消「{BRANCH}」的提醒 #1：每周一 08:30｜交党费"
    assert bot.query("SELECT active FROM reminder WHERE number = 1") == [(0,)]


def test_what_members_almost_type(api: FakeBotApi, bot: BotProcess) -> None:
    """/chekin gets the nearest command, ／me is /me, an English question gets the hint."""
    seen_in_branch(api, bot, GROUP, [ZHANG])  # so that the bot serves them in private
    assert say(api, "/chekin", ZHANG).text == (
        "没有 /chekin 这个命令。您是想用 /checkin 吗？发送 /help 查看可用命令。")
    assert say(api, "／me", ZHANG).text.startswith("📋 张三")
    assert say(api, "How often do we hold a Party lesson?", ZHANG).text.startswith("请用中文提问")


def test_me_confirms_a_leave_for_a_meeting_not_yet_held(api: FakeBotApi, bot: BotProcess) -> None:
    """A leave asked for tomorrow's meeting shows under 已请假（尚未召开） with its reason."""
    post = say(api, "/remind 明天15:00 支委会 研究发展党员", SECRETARY, in_group=True)
    number = activity_id(post)
    assert "出差" in say(api, f"/leave {number} 出差", ZHANG, in_group=True).text
    record = say(api, "／me", ZHANG).text
    assert "已请假（尚未召开）：" in record
    assert re.search(r"• .*15:00 【支委会】支委会 研究发展党员（原因：出差）", record)


def test_the_ledger_an_inspector_reads(api: FakeBotApi, bot: BotProcess) -> None:
    """A meeting now with place, host and recorder; two check in (the host counts as present),
    one says nothing; /export:
    every sheet opens with the organization and branch by name, the 三会一课记录 row holds the
    meeting, and no cell shows a Telegram id."""
    api.send("收到", user_id=WANG, chat_id=GROUP, name=NAMES[WANG], chat_title=BRANCH)
    post = say(api, "/remind 现在 主题党日 学习党章 地点：三楼会议室 主持人：王书记 记录人：李四",
               SECRETARY, in_group=True)
    number = activity_id(post)
    assert say(api, f"/checkin {number}", ZHANG, in_group=True).text == "签到成功！"
    assert say(api, f"/checkin {number}", LI, in_group=True).text == "签到成功！"
    mark = api.mark()
    say(api, "/export", SECRETARY, in_group=True)
    sent = api.wait_for(
        lambda c: c.method == "sendDocument" and c.params.get("document", "").endswith(".xlsx"),
        since=mark, timeout=30)
    workbook = load_workbook(io.BytesIO(sent.files["document"]))
    assert workbook.sheetnames[0] == "三会一课记录"
    for sheet in workbook.worksheets:
        assert sheet["A1"].value == f"{ORG} {BRANCH} 党建工作台账——{sheet.title}"
        assert f"组织名称：{ORG}　　支部名称：{BRANCH}" in sheet["A2"].value
        assert sheet.page_setup.orientation == "landscape"
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert not any(str(i) in str(value) for i in (*NAMES, -GROUP)), value
    rows = list(workbook["三会一课记录"].iter_rows(min_row=4, values_only=True))
    [held] = [row for row in rows if row[13] == number]
    assert held[1:8] == ("主题党日", "主题党日 学习党章", "三楼会议室", "王书记", "李四", 4, 3)
    assert held[8] == "王五（未响应）" and held[12] == BRANCH  # the host is present
    audit = list(workbook["更正记录"].iter_rows(min_row=4, values_only=True))
    assert ("王书记", "取消定时提醒：每周一 08:30", "交党费") in [row[2:5] for row in audit]
