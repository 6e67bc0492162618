"""A branch secretary's month through the real process over HTTP, its 台账 read back cell by cell.

The group is registered with /bind, a 名册 of five is imported and four members say who they
are (陈静 never does). Then the month: a 支部大会 three weeks ago entered as 补录 with its reason
and attendance by /proxy; this week a 党小组会 and a 党课 that started minutes ago and a 主题党日
opened now, each with 主持人/记录人, with 签到 and 请假 taps and a 请假 by command; a 支部大会
announced for tomorrow (with a leave already asked); 议题/决议/纪要 and a file by /minutes; a
study task with 已学习 taps and a 心得; a /proxy correction; /stats; /export. The workbook the
secretary receives must say exactly what happened: per meeting and per member, by name.

(The harness has no controllable clock: the past weeks are entered as 补录, as a branch that
starts using the bot mid-month does; the meetings of this week start minutes before the
notices, which /remind accepts while they are under way.)
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botproc import BotProcess
from conftest import ADMIN
from fake_bot_api import FakeBotApi, HttpCall, exchange
from openpyxl import Workbook, load_workbook

GROUP, ELSEWHERE = -100950, -100951
BRANCHES = [ELSEWHERE]  # a branch is registered, so GROUP is served only after its /bind
BRANCH = "第三党支部"
WANG, ZHANG, LI, LIU = 951, 952, 953, 954  # 王芳 the secretary; 陈静 has no account linked
GROUP_ADMINS = {GROUP: WANG}
NAMES = {WANG: "王芳", ZHANG: "张伟", LI: "李娜", LIU: "刘洋"}
ROSTER = [("王芳", "第一党小组", "书记"), ("张伟", "第一党小组", "组织委员"),
          ("李娜", "第一党小组", ""), ("刘洋", "第二党小组", ""), ("陈静", "第二党小组", "")]
TZ = ZoneInfo("Asia/Shanghai")
WEEKDAYS = "一二三四五六日"
WAIT = 90.0
"""Seconds to wait for an answer: the bot keeps to Telegram's 20 messages a minute in a group,
and this script sends more (posts edited after each tap count too)."""
STUDY = "学习《中国共产党支部工作条例（试行）》"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The month runs on SQLite, then again on PostgreSQL (when TEST_DATABASE_URL is set)."""
    return str(request.getfixturevalue(
        "module_postgres_url" if request.param == "postgres" else "sqlite_url"))


def roster_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append([f"{BRANCH}党员名册"])
    sheet.append(["姓名", "党小组", "职务"])
    for row in ROSTER:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def number(post: HttpCall) -> int:
    return int(re.search(r"活动号：#(\d+)", post.text).group(1))


def day_text(moment: datetime) -> str:
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}"


def reply_to(api: FakeBotApi, text: str, user_id: int, chat_id: int = GROUP,
             expect: str = "", timeout: float = WAIT) -> HttpCall:
    """A user writes; the bot's first message to that chat after it (that says `expect`)."""
    mark = api.mark()
    api.send(text, user_id=user_id, chat_id=chat_id)
    return api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == chat_id
                        and expect in c.text, since=mark, timeout=timeout)


def tap(api: FakeBotApi, post: HttpCall, label: str, user_id: int) -> str:
    """Tap a button; the callback answer's text."""
    mark = api.mark()
    api.tap(post, label, user_id=user_id)
    answer = api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark, timeout=WAIT)
    return str(answer.params["text"])


def tap_leave(api: FakeBotApi, post: HttpCall, user_id: int, reason: str) -> str:
    """请假 by button: the bot asks for the reason (privately or in the group), the member
    replies to that prompt; the confirmation."""
    mark = api.mark()
    tap(api, post, "请假", user_id)
    prompt = api.wait_for(lambda c: c.method == "sendMessage" and "请假原因" in c.text
                          and c.chat_id in (user_id, GROUP), since=mark, timeout=WAIT)
    return exchange(api, reason, user_id=user_id, chat_id=None if prompt.chat_id == user_id
                    else GROUP, reply_to=prompt.result, timeout=WAIT).text


def announced(post: HttpCall, now: datetime) -> str:
    """A notice's 时间：12月7日（周一）00:47–02:47 as 2026-12-07 00:47-02:47 (of the year
    `now` is in, or the one before for 12月 seen on 1 January)."""
    month, day, start, end = (int(v) if v.isdigit() else v for v in re.search(
        r"时间：(\d+)月(\d+)日（周.）(\d\d:\d\d)–(\d\d:\d\d)", post.text).groups())
    year = now.year - 1 if month > now.month else now.year
    return f"{year}-{month:02}-{day:02} {start}-{end}"


@dataclass
class Month:
    """What was done, as the test needs it back."""

    started: datetime  # local time the script began
    backfill: int  # 支部大会, three weeks ago (补录)
    group_meeting: int  # 党小组会, started 10 minutes ago
    lecture: int  # 党课, started 5 minutes ago
    theme_day: int  # 主题党日, now
    tomorrow: int  # 支部大会 tomorrow: 待召开
    times: dict[int, str]  # each held meeting's time as the ledger writes it, from its notice
    task: int
    stats: str
    duties: str
    workbook: Any


@pytest.fixture(scope="module")
def month(api: FakeBotApi, bot: BotProcess) -> Month:
    now = datetime.now(TZ).replace(second=0, microsecond=0)
    # --- the branch and its 名册 -------------------------------------------------------------
    bound = reply_to(api, f"/bind {BRANCH}", ADMIN)
    assert BRANCH in bound.text and "✅" in bound.text, bound.text
    api.send("/start", user_id=WANG)
    mark = api.mark()
    api.upload("名册.xlsx", roster_xlsx(), user_id=WANG, chat_id=GROUP, caption="/roster")
    imported = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP
                            and "名册已导入" in c.text, since=mark, timeout=WAIT)
    assert "共 5 人（新增 5，更新 0，移除 0）" in imported.text
    prompt = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP
                          and bool(c.buttons), since=mark, timeout=WAIT)
    assert [label for label, _ in prompt.buttons] == [name for name, *_ in ROSTER]
    for user, name in NAMES.items():
        assert reply_to(api, f"/iam {name}", user).text == f"✅ 已确认：您是名册中的“{name}”。"

    # --- week 1: the 支部大会 held before the bot, entered as 补录 ------------------------------
    held = (now - timedelta(weeks=3)).replace(hour=15, minute=0)
    answer = reply_to(api, f"/remind 补录 {day_text(held)} 支部大会 学习党章 地点：党员活动室 "
                           f"主持人：王芳 记录人：张伟 原因：系统尚未启用", WANG)
    assert answer.text.startswith("✅ 已补录会议 #") and "【支部党员大会】" in answer.text, answer.text
    backfill = int(re.search(r"#(\d+)", answer.text).group(1))
    assert "已为 李娜 补登" in reply_to(api, f"/proxy {backfill} 李娜 签到 会议签到簿", WANG).text
    assert "请假" in reply_to(api, f"/proxy {backfill} 刘洋 请假 出差", WANG).text

    # --- this week: three meetings under way, taps and leaves -----------------------------
    group_post = reply_to(api, f"/remind {day_text(now - timedelta(minutes=10))} 党小组会 "
                               f"学习二十大报告 地点：三楼会议室 主持人：张伟 记录人：李娜", WANG)
    assert [b for b, _ in group_post.buttons] == ["签到", "请假"]
    lecture_post = reply_to(api, f"/remind {day_text(now - timedelta(minutes=5))} 党课 书记讲党课"
                                 f" 地点：三楼会议室 主持人：王芳 记录人：张伟", WANG)
    theme_post = reply_to(api, "/remind 现在 主题党日 参观红色教育基地 地点：革命纪念馆 主持人：王芳",
                          WANG)
    tomorrow_post = reply_to(api, "/remind 明天下午3点 支部大会 选举支委 主持人：王芳", WANG)
    kinds = dict(bot.query("SELECT id, kind FROM activity"))
    assert [kinds[number(post)] for post in (group_post, lecture_post, theme_post, tomorrow_post)
            ] == ["党小组会", "党课", "主题党日", "支部党员大会"]

    assert tap(api, group_post, "签到", WANG) == "签到成功！"
    assert "外出培训" in tap_leave(api, group_post, LIU, "外出培训")
    assert "家中有事" in reply_to(api, f"/proxy {number(group_post)} 陈静 请假 家中有事", WANG).text
    assert tap(api, lecture_post, "签到", LI) == "签到成功！"
    assert tap(api, theme_post, "签到", ZHANG) == "签到成功！"
    assert tap(api, theme_post, "签到", LIU) == "签到成功！"
    assert "身体不适" in reply_to(api, f"/leave {number(theme_post)} 身体不适", LI).text
    assert "出差" in tap_leave(api, tomorrow_post, ZHANG, "出差")
    # the correction: 刘洋 came to the 党课 late without tapping; the secretary enters it
    corrected = reply_to(api, f"/proxy {number(lecture_post)} 刘洋 签到 会后补签", WANG)
    assert "已为 刘洋 补登" in corrected.text, corrected.text

    # --- minutes ------------------------------------------------------------------------------
    n = number(group_post)
    done = reply_to(api, f"/minutes {n} 议题：学习二十大报告第一部分 决议：每周五集中学习 "
                         f"纪要：张伟领学，全体讨论", WANG)
    assert done.text.startswith(f"✅ 已记入活动 #{n}"), done.text
    mark = api.mark()
    api.upload("党小组会记录.docx", b"minutes", user_id=WANG, chat_id=GROUP, caption=f"/minutes {n}")
    assert "附件" in api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP,
                                 since=mark, timeout=WAIT).text
    assert reply_to(api, f"/minutes {backfill} 议题：学习党章总纲", WANG).text.startswith("✅")

    # --- the study task -----------------------------------------------------------------------
    due = now.date() + timedelta(days=7)
    task_post = reply_to(api, f"/task {STUDY} 截止{due.month}月{due.day}日", WANG)
    task = int(dict(task_post.buttons)["已学习"].rsplit(":", 1)[1])
    assert "已" in tap(api, task_post, "已学习", ZHANG)
    assert "已" in tap(api, task_post, "已学习", LI)
    assert f"#{task}" in reply_to(api, f"/study {task} 深刻理解支部的职责", LIU).text

    # --- /stats and /export -------------------------------------------------------------------
    stats = reply_to(api, "/stats 本年", WANG, expect="📊").text
    duties = reply_to(api, "/duties", WANG, expect="本支部工作职责").text
    mark = api.mark()
    reply_to(api, "/export", WANG, expect="台账已私信发送给您。")
    sent = api.wait_for(lambda c: c.method == "sendDocument" and c.chat_id == WANG
                        and c.params.get("document", "").endswith(".xlsx"), since=mark, timeout=WAIT)
    (bot.workdir / "台账.xlsx").write_bytes(sent.files["document"])  # to look at when a check fails
    workbook = load_workbook(io.BytesIO(sent.files["document"]))
    times = {backfill: f"{held:%Y-%m-%d} 15:00-17:00"} | {
        number(post): announced(post, now)
        for post in (group_post, lecture_post, theme_post)}
    return Month(now, backfill, n, number(lecture_post), number(theme_post),
                 number(tomorrow_post), times, task, stats, duties, workbook)


# --- reading the workbook ----------------------------------------------------------------------

FIRST_COLUMN = {"签到明细": "活动号", "学习任务": "任务号", "学习记录": "登记时间"}
"""The header's first cell of each sheet (else 时间): the row the table starts at, under
whatever title rows are above it."""


def table(month: Month, title: str) -> list[dict[str, Any]]:
    """A sheet's rows as {header: value} (empty cells as "")."""
    assert title in month.workbook.sheetnames, month.workbook.sheetnames
    rows = [[("" if v is None else v) for v in row]
            for row in month.workbook[title].iter_rows(values_only=True)]
    start = next(i for i, row in enumerate(rows) if row[0] == FIRST_COLUMN.get(title, "时间"))
    header = rows[start]
    return [dict(zip(header, row, strict=False)) for row in rows[start + 1:]
            if any(v != "" for v in row)]


def by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(row["活动号"]): row for row in rows}


# --- the checks --------------------------------------------------------------------------------

def day_of(month: Month, activity_id: int) -> date:
    return date.fromisoformat(month.times[activity_id][:10])


def same_period(period: str, one: date, other: date) -> bool:
    """Whether two days fall in the same 本月 or 本季度."""
    if period == "本月":
        return (one.year, one.month) == (other.year, other.month)
    return (one.year, (one.month - 1) // 3) == (other.year, (other.month - 1) // 3)


def test_stats_count_the_held_meetings(month: Month) -> None:
    """/stats 本年: the four meetings held (the 补录 three weeks ago when that is this year),
    应到 5 each from the 名册, 实到 13 of 20: 65 %; tomorrow's 待召开; the study task 3/5."""
    this_year = month.started.year
    held = {  # 会议: (the line /stats writes, 应到, 实到)
        month.backfill: ("支部大会 学习党章", "应到 5，实到 3（补签 1），请假 1，缺席 1", 5, 3),
        month.group_meeting: ("党小组会 学习二十大报告", "应到 5，实到 3，请假 2，缺席 0", 5, 3),
        month.lecture: ("党课 书记讲党课", "应到 5，实到 4（补签 1），请假 0，缺席 1", 5, 4),
        month.theme_day: ("主题党日 参观红色教育基地", "应到 5，实到 3，请假 1，缺席 1", 5, 3),
    }
    counted = [v for k, v in held.items() if day_of(month, k).year == this_year]
    expected, present = sum(v[2] for v in counted), sum(v[3] for v in counted)
    assert f"📊 {BRANCH} 本年统计" in month.stats
    assert (f"活动 {len(counted)} 次，总体出席率 {present / expected:.0%}（实到/应到；应到依据：名册）"
            in month.stats), month.stats
    lines = {line.split("】", 1)[1].split("：")[0]: line.split("：", 1)[1]
             for line in month.stats.splitlines() if line.startswith("• ") and "】" in line}
    wanted = {title: line for title, line, *_ in counted}
    if (month.started + timedelta(days=1)).year == this_year:
        wanted["支部大会 选举支委"] = "待召开"
    assert lines == wanted, month.stats
    assert f"• #{month.task} {STUDY}：已学习 3/5（60%）" in month.stats, month.stats


def test_duties_ticked_by_the_held_meetings(api: FakeBotApi, month: Month) -> None:
    """/duties: the 党小组会 and 主题党日 (this month), the 党员大会 entered as 补录 and the 党课
    (this quarter) tick their duties; the 支委会 none was held for stays open; /duties 编号
    names the meeting. (A meeting of an earlier month or quarter counts there, not now.)"""
    lines = {re.sub(r"^\S+ \[\w+\] ", "", line).split("：")[0]: line
             for line in month.duties.splitlines() if "] " in line}
    today = month.started.date()
    for title, period, activity_id in (
            ("召开党小组会", "本月", month.group_meeting), ("开展主题党日", "本月", month.theme_day),
            ("召开党员大会", "本季度", month.backfill), ("安排党课", "本季度", month.lecture)):
        if same_period(period, day_of(month, activity_id), today):
            assert lines[title].startswith("✅") and f"{period} 1/1 已完成" in lines[title], \
                month.duties
        else:
            assert f"{period} 0/1" in lines[title], month.duties
    assert lines["召开支部委员会会议"].startswith("•") and "本月 0/1" in lines["召开支部委员会会议"]
    duty_id = re.search(r"\[(\w+)\]", lines["召开党小组会"]).group(1)
    detail = reply_to(api, f"/duties {duty_id}", WANG, expect="原文").text
    if same_period("本月", day_of(month, month.group_meeting), today):
        assert f"（会议 #{month.group_meeting}）" in detail, detail


def test_meeting_sheets_say_what_happened(month: Month) -> None:
    """Each kind's sheet: one row per held meeting with 地点、主持人、记录人、应到/实到/请假/缺席,
    the names on leave with their reasons and the absent; the 补录 marked with its reason; no
    row for tomorrow's meeting."""
    backfill = by_id(table(month, "支部党员大会"))
    assert set(backfill) == {month.backfill}  # not tomorrow's
    row = backfill[month.backfill]
    assert row["时间"] == month.times[month.backfill]
    assert (row["地点"], row["主持人"], row["记录人"]) == ("党员活动室", "王芳", "张伟")
    assert (row["应到"], row["实到"], row["请假"], row["缺席"]) == (5, 3, 1, 1)
    assert "补录" in row["内容"] and "系统尚未启用" in row["内容"] and "学习党章" in row["内容"]
    assert row["请假人员（原因）"] == "刘洋（出差）" and row["缺席人员"] == "陈静"
    assert row["支部"] == BRANCH

    row = by_id(table(month, "党小组会"))[month.group_meeting]
    assert row["时间"] == month.times[month.group_meeting]
    assert (row["地点"], row["主持人"], row["记录人"]) == ("三楼会议室", "张伟", "李娜")
    assert (row["应到"], row["实到"], row["请假"], row["缺席"]) == (5, 3, 2, 0)
    assert set(row["请假人员（原因）"].split("；")) == {"刘洋（外出培训）", "陈静（家中有事）"}
    assert row["缺席人员"] == ""

    row = by_id(table(month, "党课"))[month.lecture]
    assert row["时间"] == month.times[month.lecture]
    assert (row["主持人"], row["记录人"]) == ("王芳", "张伟")
    assert (row["应到"], row["实到"], row["请假"], row["缺席"], row["补签/代签"]) == (5, 4, 0, 1, 1)
    assert row["缺席人员"] == "陈静"

    row = by_id(table(month, "主题党日"))[month.theme_day]
    assert row["时间"] == month.times[month.theme_day]
    assert (row["地点"], row["主持人"]) == ("革命纪念馆", "王芳")
    assert (row["应到"], row["实到"], row["请假"], row["缺席"]) == (5, 3, 1, 1)
    assert row["请假人员（原因）"] == "李娜（身体不适）" and row["缺席人员"] == "陈静"
    assert by_id(table(month, "支委会")) == {}


def absences(cell: str) -> dict[str, str]:
    """'刘洋（请假：出差）；陈静（未请假）' -> {name: reason}."""
    return dict(re.fullmatch(r"(.+?)（(.*)）", part).groups() for part in cell.split("；") if part)


def test_three_meetings_record(month: Month) -> None:
    """三会一课记录: one row per held meeting, in the order held, with 时间、类型、地点、主持人、
    记录人、应到、实到, everyone not present with the reason, 议题、决议 and the minutes and the
    file's name, the duty and period it counts for; the 补录 marked with its reason; nothing
    for tomorrow's meeting."""
    rows = table(month, "三会一课记录")
    assert [int(row["活动号"]) for row in rows] == [
        month.backfill, month.group_meeting, month.lecture, month.theme_day]
    records = by_id(rows)
    for activity_id, row in records.items():
        assert row["时间"] == month.times[activity_id] and row["支部"] == BRANCH
        assert row["应到"] == 5
    # each counts for its duty in its period, as /duties ticks it
    held, this = day_of(month, month.backfill), day_of(month, month.group_meeting)
    quarter = f"{held.year}年第{(held.month - 1) // 3 + 1}季度"
    assert {activity_id: row["计入职责"] for activity_id, row in records.items()} == {
        month.backfill: f"召开党员大会（{quarter}）",
        month.group_meeting: f"召开党小组会（{this.year}年{this.month}月）",
        month.lecture: f"安排党课（{this.year}年第{(this.month - 1) // 3 + 1}季度）",
        month.theme_day: f"开展主题党日（{this.year}年{this.month}月）",
    }

    row = records[month.backfill]
    assert (row["类型"], row["地点"], row["主持人"], row["记录人"], row["实到"]) == (
        "支部党员大会", "党员活动室", "王芳", "张伟", 3)
    assert "支部大会 学习党章" in row["会议名称"]
    marked = " ".join(str(v) for v in row.values())
    assert "补录" in marked and "系统尚未启用" in marked, row
    assert row["议题"] == "学习党章总纲" and row["决议"] == "" and row["纪要或附件"] == ""
    gone = absences(row["缺席及原因"])
    assert set(gone) == {"刘洋", "陈静"} and gone["刘洋"] == "请假：出差", gone

    row = records[month.group_meeting]
    assert (row["类型"], row["会议名称"], row["地点"], row["主持人"], row["记录人"], row["实到"]) == (
        "党小组会", "党小组会 学习二十大报告", "三楼会议室", "张伟", "李娜", 3)
    assert absences(row["缺席及原因"]) == {"刘洋": "请假：外出培训", "陈静": "请假：家中有事"}
    assert (row["议题"], row["决议"]) == ("学习二十大报告第一部分", "每周五集中学习")
    assert row["纪要或附件"].splitlines() == ["张伟领学，全体讨论", "附件：党小组会记录.docx"]
    assert "补录" not in " ".join(str(v) for v in row.values())

    row = records[month.lecture]
    assert (row["类型"], row["主持人"], row["记录人"], row["实到"]) == ("党课", "王芳", "张伟", 4)
    assert set(absences(row["缺席及原因"])) == {"陈静"}
    assert (row["议题"], row["决议"], row["纪要或附件"]) == ("", "", "")

    row = records[month.theme_day]
    assert (row["类型"], row["地点"], row["主持人"], row["记录人"], row["实到"]) == (
        "主题党日", "革命纪念馆", "王芳", "", 3)
    gone = absences(row["缺席及原因"])
    assert set(gone) == {"李娜", "陈静"} and gone["李娜"] == "请假：身体不适"


def test_every_sheet_opens_with_the_title_block(month: Month) -> None:
    """Each sheet: a title naming the registered branch and the sheet, then 组织名称, 支部名称,
    年度 and 导出时间, then the header."""
    for sheet in month.workbook:
        title, facts = (sheet.cell(row, 1).value or "" for row in (1, 2))
        assert BRANCH in title and sheet.title in title, (sheet.title, title)
        for part in ("组织名称：", f"支部名称：{BRANCH}", f"年度：{month.started.year}年", "导出时间："):
            assert part in facts, (sheet.title, facts)
        assert sheet.page_setup.orientation == "landscape"


def test_attendance_detail_names_every_member_of_every_meeting(month: Month) -> None:
    """签到明细: for each held meeting, one row per member of the 名册, by name, with what they
    did and how it was entered."""
    seen: dict[int, dict[str, tuple[str, str]]] = {}
    for row in table(month, "签到明细"):
        assert not str(row["姓名"]).startswith("用户"), row
        seen.setdefault(int(row["活动号"]), {})[row["姓名"]] = (row["状态"], row["原因"] or "")
    assert set(seen) == {month.backfill, month.group_meeting, month.lecture, month.theme_day}
    assert seen[month.backfill] == {
        "王芳": ("出席", "主持人"), "张伟": ("出席", "记录人"), "李娜": ("出席", "会议签到簿"),
        "刘洋": ("请假", "出差"), "陈静": ("缺席", "")}
    assert seen[month.group_meeting] == {
        "张伟": ("出席", "主持人"), "李娜": ("出席", "记录人"), "王芳": ("出席", ""),
        "刘洋": ("请假", "外出培训"), "陈静": ("请假", "家中有事")}
    assert seen[month.lecture] == {
        "王芳": ("出席", "主持人"), "张伟": ("出席", "记录人"), "李娜": ("出席", ""),
        "刘洋": ("出席", "会后补签"), "陈静": ("缺席", "")}
    assert seen[month.theme_day] == {
        "王芳": ("出席", "主持人"), "张伟": ("出席", ""), "刘洋": ("出席", ""),
        "李娜": ("请假", "身体不适"), "陈静": ("缺席", "")}


def test_study_sheets(month: Month) -> None:
    """学习任务: 应学 5, 已学 3, the two who did not; 学习记录: the three by name, the 心得."""
    task, = [row for row in table(month, "学习任务") if int(row["任务号"]) == month.task]
    assert task["学习内容"] == STUDY and task["支部"] == BRANCH
    assert task["截止日期"] == (month.started.date() + timedelta(days=7)).isoformat()
    assert (task["应学"], task["已学"], task["完成率"]) == (5, 3, "60%")
    assert set(task["未学人员"].split("、")) == {"王芳", "陈静"}
    records = {row["姓名"]: row for row in table(month, "学习记录")}
    assert set(records) == {"张伟", "李娜", "刘洋"}
    assert records["刘洋"]["心得"] == "深刻理解支部的职责"
    assert all(row["学习内容"] == STUDY and int(row["任务号"]) == month.task
               for row in records.values())


def test_corrections_are_recorded_in_chinese(month: Month) -> None:
    """更正记录, row by row: the /bind, the 名册 imported and each account linked, the 补录 with
    its reason, each /proxy as 补签/代请假 of a named member at a named meeting, the minutes
    and the file; in Chinese, by name, all in this branch."""
    rows = table(month, "更正记录")
    assert {row["支部"] for row in rows} == {BRANCH}
    b, g, lecture = month.backfill, month.group_meeting, month.lecture
    held = day_of(month, b)
    assert [(row["操作人"], row["事项"], row["详情"]) for row in rows] == [
        (f"用户{ADMIN}", f"登记为党支部：{BRANCH}", ""),  # the admin is not on the 名册
        ("王芳", "导入名册", "共5人，新增5，更新0，移除0"),
        *[(name, f"名册绑定账号：{name}", f"账号：用户{user}") for user, name in NAMES.items()],
        ("王芳", f"补录会议：支部党员大会 #{b}", f"补录（会议时间 {held.month}月{held.day}日"
                                           f"（周{WEEKDAYS[held.weekday()]}）15:00）；原因：系统尚未启用"),
        ("王芳", f"补签：李娜 支部党员大会 #{b}", "未登记 → 出席；原因：会议签到簿"),
        ("王芳", f"代请假：刘洋 支部党员大会 #{b}", "未登记 → 请假；原因：出差"),
        ("王芳", f"代请假：陈静 党小组会 #{g}", "未登记 → 请假；原因：家中有事"),
        ("王芳", f"补签：刘洋 党课 #{lecture}", "未登记 → 出席；原因：会后补签"),
        ("王芳", f"记录会议议题/决议/纪要：党小组会 #{g}", "议题：新增（11字）"),
        ("王芳", f"记录会议议题/决议/纪要：党小组会 #{g}", "决议：新增（7字）"),
        ("王芳", f"记录会议议题/决议/纪要：党小组会 #{g}", "纪要：新增（9字）"),
        ("王芳", f"添加会议附件：党小组会 #{g}", "附件：党小组会记录.docx"),
        ("王芳", f"记录会议议题/决议/纪要：支部党员大会 #{b}", "议题：新增（6字）"),
    ]
