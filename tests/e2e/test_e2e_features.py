"""A branch's life through the real process over HTTP: a secretary posts an activity, members
check in by button and by command, ask leave, study; /me, /stats with its chart, /export with
the workbook opened; members are refused what is the secretary's."""

from __future__ import annotations

import io
import re

import pytest
from botproc import BotProcess
from fake_bot_api import FakeBotApi, HttpCall, exchange
from openpyxl import load_workbook

GROUP, OTHER_GROUP = -100700, -100800
SECRETARY, OTHER_SECRETARY = 701, 801
MEMBER, MEMBER2, MEMBER3, MEMBER4 = 702, 703, 704, 705
REFUSAL = "仅限"
GROUP_ADMINS = {GROUP: SECRETARY, OTHER_GROUP: OTHER_SECRETARY}
STRICT_PRIVATE = True  # the bot cannot write first to someone privately, as on Telegram


@pytest.fixture(scope="module")
def activity(api: FakeBotApi, bot: BotProcess) -> HttpCall:
    """The post of an activity the secretary opened with /remind (starting now)."""
    api.send("/start", user_id=SECRETARY)
    post = exchange(api, "/remind 现在 主题党日 学习党章 地点：三楼会议室", user_id=SECRETARY,
                    chat_id=GROUP)
    assert [label for label, _ in post.buttons] == ["签到", "请假"]
    return post


def activity_id(post: HttpCall) -> int:
    return int(re.search(r"活动号：#(\d+)", post.text).group(1))


def tap(api: FakeBotApi, post: HttpCall, label: str, user_id: int) -> HttpCall:
    """Tap a button; returns the callback answer."""
    mark = api.mark()
    api.tap(post, label, user_id=user_id)
    return api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark)


def latest_post_text(api: FakeBotApi, post: HttpCall, expected: str) -> str:
    """Wait until the post, edited in place, shows `expected` (edits are rate limited)."""
    message_id = post.result["message_id"]
    edit = api.wait_for(
        lambda c: c.method == "editMessageText" and int(c.params["message_id"]) == message_id
        and expected in c.text, timeout=10)
    return edit.text


def attendance_rows(bot: BotProcess) -> dict[int, str]:
    return dict(bot.query("SELECT user_id, status FROM attendance"))


def test_check_in_by_button_once(api: FakeBotApi, activity: HttpCall) -> None:
    """A tap checks in and updates the post's count; a second tap changes nothing."""
    assert tap(api, activity, "签到", MEMBER).params["text"] == "签到成功！"
    assert "已签到 2" in latest_post_text(api, activity, "已签到 2")  # and the host, who posted
    assert "无需重复" in tap(api, activity, "签到", MEMBER).params["text"]


def test_check_in_by_command(api: FakeBotApi, activity: HttpCall) -> None:
    """/checkin with the activity number works like the button."""
    reply = exchange(api, f"/checkin {activity_id(activity)}", user_id=MEMBER2, chat_id=GROUP)
    assert reply.text == "签到成功！"


def test_leave_by_button_asks_the_reason(api: FakeBotApi, activity: HttpCall) -> None:
    """请假 from a member who never opened a private chat: the prompt comes in the group, the
    reply to it is the reason, and the leave is recorded."""
    mark = api.mark()
    answer = tap(api, activity, "请假", MEMBER3)
    assert "回复" in answer.params["text"]
    prompt = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP
                          and "请假原因" in c.text, since=mark)
    done = exchange(api, "出差在外", user_id=MEMBER3, chat_id=GROUP, reply_to=prompt.result)
    assert "已为您登记请假" in done.text and "出差在外" in done.text


def test_leave_by_command(api: FakeBotApi, activity: HttpCall, bot: BotProcess) -> None:
    """/leave 活动号 原因 records leave; the post and the database show every response."""
    reply = exchange(api, f"/leave {activity_id(activity)} 身体不适", user_id=MEMBER4,
                     chat_id=GROUP)
    assert "身体不适" in reply.text
    assert "已签到 3 / 请假 2" in latest_post_text(api, activity, "已签到 3 / 请假 2")
    assert attendance_rows(bot) == {SECRETARY: "present", MEMBER: "present", MEMBER2: "present",
                                    MEMBER3: "leave", MEMBER4: "leave"}


@pytest.mark.parametrize("command", ["/remind 支委会", "/task 学习党章", "/stats", "/export",
                                     f"/proxy 1 {MEMBER} 签到 补签"])
def test_members_are_refused_secretary_commands(api: FakeBotApi, activity: HttpCall,
                                                command: str) -> None:
    """A member gets a polite refusal for each secretary command, and nothing is posted."""
    mark = api.mark()
    reply = exchange(api, command, user_id=MEMBER, chat_id=GROUP)
    assert REFUSAL in reply.text
    assert not [c for c in api.calls[mark:] if c.buttons or c.method in ("sendDocument",
                                                                          "sendPhoto")]


def test_secretary_of_another_branch_is_refused(api: FakeBotApi, activity: HttpCall) -> None:
    """Being secretary elsewhere gives no rights here."""
    assert REFUSAL in exchange(api, "/stats", user_id=OTHER_SECRETARY, chat_id=GROUP).text


def test_study_task_button_and_command(api: FakeBotApi, activity: HttpCall) -> None:
    """/task posts a task with 已学习; a tap and /study record it, the post counts them."""
    post = exchange(api, "/task 学习党章第一章 截止12月31日", user_id=SECRETARY, chat_id=GROUP)
    (label, data), = post.buttons
    assert label == "已学习"
    task_id = int(data.rsplit(":", 1)[1])
    assert "已" in tap(api, post, "已学习", MEMBER).params["text"]
    reply = exchange(api, f"/study {task_id} 很有收获", user_id=MEMBER2, chat_id=GROUP)
    assert f"#{task_id}" in reply.text
    latest_post_text(api, post, "已学习 2 人")


def test_me_shows_only_my_records(api: FakeBotApi, activity: HttpCall) -> None:
    """/me in private lists the member's own attendance and study, nobody else's."""
    text = exchange(api, "/me", user_id=MEMBER).text
    assert "参加活动 1 次" in text and "出席" in text
    assert "用户703" not in text


def test_another_members_record_is_not_shown(api: FakeBotApi, activity: HttpCall) -> None:
    """A member asking for someone else's record gets a refusal, not the record."""
    reply = exchange(api, f"/me {MEMBER2}", user_id=MEMBER)
    assert "只能查看自己的记录" in reply.text and "参加活动" not in reply.text


def test_duties_from_the_plan_and_done_refused_to_members(api: FakeBotApi,
                                                           activity: HttpCall) -> None:
    """/duties 全部 lists the branch's own duties, then the rest by audience; /duties 编号
    quotes the plan; a member cannot mark one done."""
    mark = api.mark()
    api.send("/duties 全部", user_id=MEMBER, chat_id=GROUP)
    api.wait_for(lambda c: c.chat_id == GROUP and "/done 编号" in c.text, since=mark)
    listing = "\n".join(c.text for c in api.calls[mark:]
                        if c.method == "sendMessage" and c.chat_id == GROUP)
    assert "本支部工作职责" in listing and "【党委】" in listing
    duty_id = re.search(r"\[(\w+)\]", listing).group(1)
    assert "原文：“" in exchange(api, f"/duties {duty_id}", user_id=MEMBER, chat_id=GROUP).text
    assert REFUSAL in exchange(api, f"/done {duty_id}", user_id=MEMBER, chat_id=GROUP).text


def test_stats_with_chart_and_private_list(api: FakeBotApi, activity: HttpCall) -> None:
    """/stats: figures in the group, a PNG chart, and the non-responders only privately."""
    mark = api.mark()
    report = exchange(api, "/stats", user_id=SECRETARY, chat_id=GROUP, timeout=20)
    assert "出席率" in report.text and "应到" in report.text
    chart = api.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == GROUP, since=mark,
                         timeout=20)
    assert chart.files["photo"].startswith(b"\x89PNG")
    missing = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == SECRETARY
                           and "未响应" in c.text, since=mark, timeout=20)
    assert "仅您可见" in missing.text
    group_texts = [c.text for c in api.calls[mark:] if c.chat_id == GROUP]
    assert not [t for t in group_texts if "用户7" in t]


def test_export_workbook_goes_privately_and_opens(api: FakeBotApi, activity: HttpCall) -> None:
    """/export in the group: the workbook arrives in the secretary's private chat (never the
    group), opens with openpyxl and holds the check-ins."""
    mark = api.mark()
    note = exchange(api, "/export", user_id=SECRETARY, chat_id=GROUP, timeout=20)
    assert "私信" in note.text
    workbook_call = api.wait_for(
        lambda c: c.method == "sendDocument" and c.params.get("document", "").endswith(".xlsx"),
        since=mark, timeout=20)
    assert workbook_call.chat_id == SECRETARY
    assert not [c for c in api.calls[mark:] if c.method == "sendDocument" and c.chat_id == GROUP]
    workbook = load_workbook(io.BytesIO(workbook_call.files["document"]), read_only=True)
    cells = {str(cell) for sheet in workbook for row in sheet.iter_rows(values_only=True)
             for cell in row if cell is not None}
    assert "主题党日 学习党章" in cells or any("学习党章" in c for c in cells)
    assert any("出差在外" in c for c in cells)
