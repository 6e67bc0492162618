"""The 台账 as an inspector reads it: a scripted sequence of services calls, then the workbook
read back with openpyxl — title block, print setup, names (never Telegram ids), the
三会一课记录 cell by cell, and the 更正记录 in Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
from sqlmodel import Session

from bot.services import attendance, ledger, meetings, roster
from bot.services.duties import DutyService
from bot.services.localtime import zone
from bot.services.meetings import MeetingRecord
from bot.services.people import Actor, grant_secretary, remember
from bot.services.reminders import ReminderService
from storage.db import Database
from storage.models import Activity, Chat

TZ = zone("Asia/Shanghai")
BRANCH = -1001234567890
SECRETARY, ZHANG, LI, WANG, ZHAO, ZHANG_TWO = (
    7000000001, 7000000002, 7000000003, 7000000004, 7000000005, 7000000006)
NAMES = {SECRETARY: ("王书记", "wangsj"), ZHANG: ("张三", "zhangsan"), LI: ("李四", None),
         WANG: ("王五", "wangwu"), ZHAO: ("赵六", None), ZHANG_TWO: ("张三", "zhang3")}
NOTICE_AT = datetime(2026, 11, 19, 2, 0, tzinfo=UTC)  # 10:00 Beijing, the day before
MEETING_AT = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)  # 15:00 Beijing
LATER = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def person(user_id: int, *, admin: bool = False) -> Actor:
    name, username = NAMES[user_id]
    return Actor(user_id=user_id, name=name, username=username, chat_id=BRANCH,
                 chat_type="supergroup", chat_title="机关第一党支部", is_chat_admin=admin)


def month(db: Database) -> dict[str, int]:
    """A notice with place, host and recorder (both present); a check-in, a leave, a 补签 and
    a 登记缺席; a
    duty's cadence set and a duty done; a grant; a reminder scheduled and cancelled."""
    secretary = person(SECRETARY, admin=True)
    duties = DutyService(lambda: [], TZ)
    reminders = ReminderService(db, TZ, duties, lambda: NOTICE_AT)
    duty = duties.calendar()[0]
    with db.session() as session:
        for user_id in NAMES:
            remember(session, person(user_id))
            roster.join(session, BRANCH, user_id, NOTICE_AT - timedelta(days=30))
        meeting = attendance.remind(
            session, secretary, "11月20日15:00-17:00 主题党日：学习党章 地点：三楼会议室 "
            "主持人：王书记 记录人：李四", now=NOTICE_AT, tz=TZ)
        attendance.check_in(session, person(ZHANG), meeting.id, at=MEETING_AT,
                            now=MEETING_AT, tz=TZ)
        attendance.record_leave(session, person(WANG), meeting.id, "出差", at=NOTICE_AT,
                                now=NOTICE_AT, tz=TZ)
        attendance.proxy(session, secretary, meeting.id, ZHANG_TWO, "present", "手机没电",
                         now=LATER)
        attendance.proxy(session, secretary, meeting.id, ZHAO, "absent", "无故缺席", now=LATER)
        duties.configure(session, secretary, duty.id, "每季度2次", now=LATER)
        duties.mark_done(session, secretary, duty.id, now=LATER, note="已召开", message_id=1)
        grant_secretary(session, secretary, ZHANG, BRANCH)
        reminder, _ = reminders.schedule(session, secretary, "每周一 08:30 交党费", now=LATER)
        reminders.cancel(session, secretary, str(reminder.id), now=LATER)
        return {"meeting": meeting.id or 0, "reminder": reminder.id or 0, "duty": 0,
                "duty_title": duty.title, "duty_id": duty.id}  # type: ignore[dict-item]


def scope(titles: dict[str, str] | None = None) -> ledger.Scope:
    return ledger.Scope([BRANCH], TZ, LATER, "某某公司党委", titles or {},
                        ledger.meeting_duties(DutyService(lambda: [], TZ)))


def sheet_rows(path: Path, title: str) -> list[tuple]:
    rows = list(openpyxl.load_workbook(path)[title].iter_rows(values_only=True))
    return rows[ledger.TITLE_ROWS:]


def test_every_sheet_opens_with_the_title_block_and_prints_on_a4_landscape(
        db: Database, tmp_path: Path) -> None:
    """组织名称, 支部名称 (the group's name, not its id), 年度 and 导出时间 above every header;
    A4 landscape, one page wide, title block and header repeated on each page, frozen header,
    borders around the cells (printed grid lines on the bulk detail sheets)."""
    month(db)
    [path] = ledger.export(db, tmp_path / "台账.xlsx", scope())
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames[0] == "三会一课记录"
    for sheet in workbook.worksheets:
        title, facts = sheet["A1"].value, sheet["A2"].value
        assert title == f"某某公司党委 机关第一党支部 党建工作台账——{sheet.title}"
        assert facts == ("组织名称：某某公司党委　　支部名称：机关第一党支部　　年度：2026年　　"
                         "导出时间：2026-11-21 10:00")
        assert "1001234567890" not in title + facts
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.paperSize == 9  # A4 in the OOXML numbering
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.print_title_rows == "$1:$3"
        assert sheet.freeze_panes == "A4"
        assert sheet.print_options.gridLines  # the bulk sheets' borders on paper
        width = sheet.max_column
        assert {str(r) for r in sheet.merged_cells.ranges} == {
            f"A1:{openpyxl.utils.get_column_letter(width)}1",
            f"A2:{openpyxl.utils.get_column_letter(width)}2"}
        assert sheet["A3"].font.b and sheet["A3"].border.left.style == "thin"
    assert workbook["三会一课记录"]["A4"].border.bottom.style == "thin"


def test_no_cell_shows_a_telegram_id(db: Database, tmp_path: Path) -> None:
    """Members and branches appear by name everywhere: no header asks for an id and no cell
    holds a member's or the group's Telegram id, even in text."""
    month(db)
    [path] = ledger.export(db, tmp_path / "台账.xlsx", scope())
    ids = [str(user_id) for user_id in NAMES] + [str(-BRANCH)]
    workbook = openpyxl.load_workbook(path)
    for sheet in workbook.worksheets:
        header = [cell.value for cell in sheet[ledger.TITLE_ROWS + 1]]
        assert not any("ID" in name.upper() for name in header), sheet.title
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert not any(i in str(value) for i in ids), (sheet.title, value)


def test_the_meeting_record_cell_by_cell(db: Database, tmp_path: Path) -> None:
    """时间, 类型, 会议名称, 地点, 主持人, 记录人 from the notice; 应到/实到 and 缺席及原因 from the
    taps, the host and recorder, the leave and the corrections; 议题/决议/纪要 empty until
    someone writes them."""
    ids = month(db)
    [path] = ledger.export(db, tmp_path / "台账.xlsx", scope())
    assert sheet_rows(path, "三会一课记录") == [
        ledger.MEETING_COLUMNS,
        ("2026-11-20 15:00-17:00", "主题党日", "主题党日：学习党章", "三楼会议室", "王书记",
         "李四", 6, 4, "赵六（无故缺席）；王五（请假：出差）",
         None, None, None, "机关第一党支部", ids["meeting"], "开展主题党日（2026年11月）"),
    ]


def test_two_members_of_one_name_are_told_apart_by_username(db: Database,
                                                            tmp_path: Path) -> None:
    """Two 张三 in the branch: each is shown with their @username; a unique name alone."""
    ids = month(db)
    [path] = ledger.export(db, tmp_path / "台账.xlsx", scope())
    details = [row[1:3] for row in sheet_rows(path, "签到明细")[1:]]
    assert ("张三（@zhangsan）", "出席") in details
    assert ("张三（@zhang3）", "出席") in details
    assert ("李四", "出席") in details
    assert ids["meeting"]


def test_corrections_read_in_chinese(db: Database, tmp_path: Path) -> None:
    """Every audited act as a sentence: who was 补签 to which meeting, the cadence set, the
    duty done in which period, the grant, the reminder — no internal codes."""
    ids = month(db)
    titles = {str(ids["duty_id"]): str(ids["duty_title"])}
    [path] = ledger.export(db, tmp_path / "台账.xlsx", scope(titles))
    meeting, title = ids["meeting"], ids["duty_title"]
    assert [row[2:] for row in sheet_rows(path, "更正记录")[1:]] == [
        ("王书记", f"补签：张三（@zhang3） 主题党日 #{meeting}", "未登记 → 出席；原因：手机没电"),
        ("王书记", f"登记缺席：赵六 主题党日 #{meeting}", "未登记 → 缺席；原因：无故缺席"),
        ("王书记", "设置职责频次：每季度2次", title),
        ("王书记", f"标记职责完成：{title}", "2026年第4季度；说明：已召开"),
        ("王书记", "授予书记权限：张三（@zhangsan）", None),
        ("王书记", "设置定时提醒：每周一 08:30", "交党费"),
        ("王书记", "取消定时提醒：每周一 08:30", "交党费"),
    ]


def test_an_action_without_a_renderer_still_reads_in_chinese() -> None:
    """A new audited action nobody mapped yet shows as 其他操作 with its detail, not its code;
    a duty the plans no longer hold is named by its number."""
    with Session() as session:
        other = ledger.render_audit(ledger.AuditEntry("minutes.add", "4", "补充纪要", session,
                                                      {}, {}))
        duty = ledger.render_audit(ledger.AuditEntry("duty_set", "793eb2", "disabled",
                                                     session, {}, {}))
    assert other == ("其他操作", "补充纪要")
    assert duty == ("停用职责", "职责 793eb2")


def test_branch_roster_and_file_acts_read_in_chinese() -> None:
    """/bind, a rename, /unbind, a 名册 imported and linked, a plan added, replaced and removed:
    each named (not 其他操作), with the detail each service writes."""
    acts = [("bind", "-100950", "第三党支部"), ("rename", "-100950", "第三党支部 -> 机关第三党支部"),
            ("unbind", "-100950", "机关第三党支部"),
            ("roster.import", "-100950", "导入名册：共5人，新增5，更新0，移除0"),
            ("roster.link", "3", "李娜 → Li Na（@lina）（原绑定：Old）"),
            ("add", "7", "plan.docx《2026年工作要点》"), ("replace", "7", "plan.docx《2026年工作要点》"),
            ("remove", "7", "plan.docx《2026年工作要点》")]
    with Session() as session:
        rendered = [ledger.render_audit(ledger.AuditEntry(action, entity_id, detail, session,
                                                          {}, {}))
                    for action, entity_id, detail in acts]
    assert rendered == [
        ("登记为党支部：第三党支部", ""), ("支部更名：机关第三党支部", "原名称：第三党支部"),
        ("撤销党支部登记：机关第三党支部", ""), ("导入名册", "共5人，新增5，更新0，移除0"),
        ("名册绑定账号：李娜", "账号：Li Na（@lina）（原绑定：Old）"),
        ("添加文件：plan.docx《2026年工作要点》", ""), ("替换文件：plan.docx《2026年工作要点》", ""),
        ("删除文件：plan.docx《2026年工作要点》", ""),
    ]


def test_a_richer_meeting_record_fills_every_column() -> None:
    """What the meetings feature records (议题, 决议, minutes, attachments' names, 补录) lands
    in its columns, and the duty it counts for with the period."""
    record = MeetingRecord(
        activity_id=4, branch="机关第一党支部", kind="支部党员大会", title="支部党员大会",
        content="", starts_at=MEETING_AT, ends_at=MEETING_AT + timedelta(hours=2),
        place="三楼会议室", host="王书记", recorder="李四", expected=6, present=5, leave=1,
        absent=(("王五", "请假：出差"),), topics="1.学习党章；2.发展党员",
        decisions="同意张三为预备党员", minutes="会议认为……", attachments=("签到表.jpg", "纪要.docx"),
        backfill_reason="当时未用机器人", counts_for="支部党员大会",
    )
    assert ledger.meeting_row(record, scope()) == [
        "2026-11-20 15:00-17:00", "支部党员大会", "（补录，原因：当时未用机器人）支部党员大会",
        "三楼会议室", "王书记", "李四",
        6, 5, "王五（请假：出差）", "1.学习党章；2.发展党员", "同意张三为预备党员",
        "会议认为……\n附件：签到表.jpg\n附件：纪要.docx", "机关第一党支部", 4,
        "召开党员大会（2026年第4季度）",
    ]


def test_an_unnamed_group_is_marked_unnamed(db: Database, tmp_path: Path) -> None:
    """A group whose title the bot never learnt is 未命名支部 (with its chat number, the only
    thing that tells two such groups apart)."""
    month(db)
    with db.session() as session:
        session.get(Chat, BRANCH).title = ""  # type: ignore[union-attr]
    [path] = ledger.export(db, tmp_path / "台账.xlsx", scope())
    assert sheet_rows(path, "三会一课记录")[1][12] == f"未命名支部（{BRANCH}）"
    assert f"支部名称：未命名支部（{BRANCH}）" in openpyxl.load_workbook(path)["更正记录"]["A2"].value


def test_minutes_and_files_read_in_chinese(db: Database, tmp_path: Path) -> None:
    """议题/决议/纪要 and a file added after the meeting: the 更正记录 names the meeting and
    what was recorded, without the internal '#N 标题：' prefix; the 三会一课记录 holds them."""
    ids = month(db)
    secretary = person(SECRETARY, admin=True)
    with db.session() as session:
        meeting = session.get(Activity, ids["meeting"])
        meetings.add_minutes(session, secretary, meeting, "议题：学习党章 决议：每月学习一章",
                             now=LATER, tz=TZ)
        meetings.add_file(session, secretary, meeting, kind="document", file_id="f1",
                          file_unique_id="u1", name="会议纪要.docx", size=1000, caption="",
                          now=LATER, tz=TZ)
    [path] = ledger.export(db, tmp_path / "台账.xlsx", scope())
    audit = [row[3:] for row in sheet_rows(path, "更正记录")[1:]]
    number = ids["meeting"]
    assert (f"记录会议议题/决议/纪要：主题党日 #{number}", "议题：新增（4字）") in audit
    assert (f"记录会议议题/决议/纪要：主题党日 #{number}", "决议：新增（6字）") in audit
    assert (f"添加会议附件：主题党日 #{number}", "附件：会议纪要.docx") in audit
    [row] = sheet_rows(path, "三会一课记录")[1:]
    assert row[9:12] == ("学习党章", "每月学习一章", "附件：会议纪要.docx")
