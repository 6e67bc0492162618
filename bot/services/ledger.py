"""The 台账: an Excel workbook, plus one CSV per sheet, of meetings, check-ins, study, corrections.

Every sheet opens with a title block (组织名称, 支部名称, 年度, 导出时间) above its header, is
bordered, has its header frozen and prints on A4 landscape, one page wide, with the title block
and header repeated on each page. People are named (never shown by Telegram id) and the
更正记录 is in Chinese. First the 三会一课记录 (one row per meeting held: 时间, 地点, 主持人,
记录人, 应到, 实到, 缺席及原因, 议题, 决议, 纪要或附件), then one sheet per activity type in the
usual summary layout, then 签到明细, 学习任务, 学习记录 and 更正记录. Rows stream from the
database into openpyxl's write-only workbook (and the CSV files in the same pass), so 100,000
check-ins take little memory. Other features add sheets by appending a builder to SHEETS.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session, col, select

from bot.services import roster
from bot.services.branches import branch_label, branch_labels
from bot.services.duties import DutyService, meeting_duty_kind
from bot.services.localtime import fmt_stamp, local
from bot.services.meetings import MeetingRecord, meeting_record
from bot.services.stats import ActivityTally, tally_activities, tally_tasks
from content.duties import PERIOD_NAMES, period_key
from storage.db import Database
from storage.models import (
    ACTIVITY_KINDS,
    Activity,
    Attendance,
    AuditLog,
    Chat,
    Member,
    Reminder,
    RosterEntry,
    StudyRecord,
    StudyTask,
)

LEDGER_COLUMNS = ("时间", "地点", "主持人", "记录人", "应到", "实到", "请假", "缺席", "内容")
ACTIVITY_COLUMNS = LEDGER_COLUMNS + ("活动号", "支部", "迟到", "补签/代签", "请假人员（原因）", "缺席人员")
MEETING_COLUMNS = ("时间", "类型", "会议名称", "地点", "主持人", "记录人", "应到", "实到",
                   "缺席及原因", "议题", "决议", "纪要或附件", "支部", "活动号", "计入职责")
DETAIL_COLUMNS = ("活动号", "姓名", "状态", "方式", "原因", "代登记人", "登记时间")
"""Lean on purpose (a row per member per meeting): the activity sheets carry the rest."""
TASK_COLUMNS = ("任务号", "发布时间", "支部", "学习内容", "截止日期", "应学", "已学", "完成率",
                "未学人员")
RECORD_COLUMNS = ("登记时间", "支部", "姓名", "任务号", "学习内容", "心得")
AUDIT_COLUMNS = ("时间", "支部", "操作人", "事项", "详情")
STATUS = {"present": "出席", "leave": "请假", "absent": "缺席"}
METHOD = {"self": "本人", "late": "迟到", "proxy": "补签/代签", "role": "主持人/记录人"}
STREAM_BATCH = 2000
TITLE_ROWS = 2
"""Rows above each sheet's header: the title, then 组织名称, 支部名称, 年度, 导出时间."""


@dataclass
class Sheet:
    """A sheet's title, header and rows (any iterable, consumed once while writing)."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: Sequence[int] = ()
    bulk: bool = False
    """A row per member and event (up to 100,000s): cells are left unstyled, which writes them
    three times faster, and printed grid lines draw the borders instead."""


@dataclass(frozen=True)
class Scope:
    """What a ledger covers: some branches (None: all), times shown in `tz`, as of `now`, for
    the organization `org`; `duty_titles` name the duties the 更正记录 mentions by id, and
    `meeting_duties` the duties (title, period) a held meeting of each 三会一课 kind counts for."""

    chat_ids: list[int] | None
    tz: ZoneInfo
    now: datetime
    org: str = "党组织"
    duty_titles: dict[str, str] = field(default_factory=dict)
    meeting_duties: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def where(self, column: Any) -> list[Any]:
        return [] if self.chat_ids is None else [col(column).in_(self.chat_ids)]


@dataclass(frozen=True)
class Heading:
    """The title block above every sheet's header."""

    org: str
    branch: str
    year: int
    exported: str

    def lines(self, sheet: str) -> list[str]:
        return [
            f"{self.org} {self.branch} 党建工作台账——{sheet}",
            f"组织名称：{self.org}　　支部名称：{self.branch}　　年度：{self.year}年　　"
            f"导出时间：{self.exported}",
        ]


SheetBuilder = Callable[[Session, Scope], list[Sheet]]


def duty_titles(duties: DutyService) -> dict[str, str]:
    """Each duty's title by id, for a Scope (the ledger is written where no plans are read)."""
    return {duty.id: duty.title for duty in duties.calendar()}


def meeting_duties(duties: DutyService) -> dict[str, list[tuple[str, str]]]:
    """The branch duties (title, period) that held meetings of each 三会一课 kind count for, as
    /duties counts them, for a Scope."""
    found: dict[str, list[tuple[str, str]]] = {}
    for duty in duties.calendar():
        if kind := meeting_duty_kind(duty):
            found.setdefault(kind, []).append((duty.title, duty.period))
    return found


def member_names(session: Session) -> dict[int, str]:
    """Every member's name as the ledger shows it (the 名册 name when there is one, as
    `roster.names` gives it, unlinked 名册 entries too); two members of the same name are told
    apart by their @username."""
    usernames = dict(session.exec(select(Member.id, Member.username)).all())
    entries = session.exec(select(RosterEntry.id)).all()
    names = roster.names(session, [*usernames, *(-(entry or 0) for entry in entries)])
    same = Counter(names.values())
    return {user_id: f"{name}（@{usernames[user_id]}）"
            if same[name] > 1 and usernames.get(user_id) else name
            for user_id, name in names.items()}


def _name(names: dict[int, str], user_id: int) -> str:
    return names.get(user_id) or f"用户{user_id}"


def _held(scope: Scope) -> tuple[Any, ...]:
    return (Activity.status != "cancelled", Activity.starts_at <= scope.now,
            *scope.where(Activity.chat_id))


# --- 三会一课记录 ---------------------------------------------------------------------------

def meeting_row(record: MeetingRecord, scope: Scope) -> list[Any]:
    """The 三会一课记录 row of a meeting (MEETING_COLUMNS); a 补录 says so, with its reason;
    计入职责 names the duty and period the meeting counts for (召开党小组会（2026年12月）)."""
    tz = scope.tz
    day = local(record.starts_at, tz).date()
    counted = "；".join(f"{title}（{_period_text(period_key(period, day))}）"
                       for title, period in scope.meeting_duties.get(record.counts_for, []))
    minutes = "\n".join(
        part for part in (record.minutes, *(f"附件：{name}" for name in record.attachments))
        if part
    )
    title = record.title
    if record.backfilled:
        title = f"（补录，原因：{record.backfill_reason}）{title}"
    return [
        f"{fmt_stamp(record.starts_at, tz)}-{fmt_stamp(record.ends_at, tz)[11:]}", record.kind,
        title, record.place, record.host, record.recorder, record.expected, record.present,
        "；".join(f"{name}（{reason}）" for name, reason in record.absent),
        record.topics, record.decisions, minutes, record.branch, record.activity_id, counted,
    ]


def activity_sheets(session: Session, scope: Scope) -> list[Sheet]:
    """The 三会一课记录, one summary sheet per activity type (activities held so far), then
    every check-in in detail, with the members who did not respond as 缺席（未响应） rows."""
    activities = session.exec(
        select(Activity).where(*_held(scope))
        .order_by(col(Activity.starts_at), col(Activity.id))
    ).all()
    tallies = tally_activities(session, activities)
    names = member_names(session)
    branches = branch_labels(session)
    tz = scope.tz

    def summary(t: ActivityTally) -> list[Any]:
        a = t.activity
        content = a.title if not a.content else f"{a.title}\n{a.content}"
        if a.backfill_reason:
            content = f"（补录，原因：{a.backfill_reason}）{content}"
        return [
            f"{fmt_stamp(a.starts_at, tz)}-{fmt_stamp(a.ends_at, tz)[11:]}", a.place, a.host,
            a.recorder, t.expected, t.present, t.leave, t.absent, content, a.id,
            branches.get(a.chat_id) or branch_label(Chat(id=a.chat_id)), t.late, t.proxied,
            "；".join(f"{_name(names, u)}（{reason}）" for u, reason in t.leave_reasons),
            "、".join(sorted(_name(names, u) for u in t.missing)),
        ]

    records = [meeting_record(session, t.activity.id or 0) for t in tallies]
    sheets = [Sheet("三会一课记录", MEETING_COLUMNS, [meeting_row(r, scope) for r in records],
                    (17, 10, 20, 14, 8, 8, 6, 6, 30, 30, 30, 40, 12, 7, 24))]
    sheets += [
        Sheet(kind, ACTIVITY_COLUMNS,
              [summary(t) for t in tallies if t.activity.kind == kind],
              (17, 14, 8, 8, 6, 6, 6, 6, 40, 7, 12, 6, 9, 24, 24))
        for kind in ACTIVITY_KINDS
    ]
    sheets.append(Sheet("签到明细", DETAIL_COLUMNS, _details(session, scope, tallies, names),
                        (7, 12, 8, 10, 24, 12, 17), bulk=True))
    return sheets


def _details(
    session: Session, scope: Scope, tallies: list[ActivityTally], names: dict[int, str]
) -> Iterator[list[Any]]:
    """Attendance rows streamed in activity order, each activity followed by its non-responders.

    代登记人 is filled only for 补签/代签 (a member's own check-in needs no second name)."""
    stream = iter(session.exec(
        select(  # type: ignore[call-overload]
            Attendance.activity_id, Attendance.user_id, Attendance.status,
            Attendance.method, Attendance.reason, Attendance.recorded_by, Attendance.recorded_at,
        )
        .join(Activity, col(Activity.id) == Attendance.activity_id)
        .where(*_held(scope))
        .order_by(Activity.starts_at, Activity.id, Attendance.id)
        .execution_options(yield_per=STREAM_BATCH)
    ))
    row = next(stream, None)
    for tally in tallies:
        a = tally.activity
        while row is not None and row[0] == a.id:
            _, user_id, status, method, reason, by, at = row
            yield [a.id, _name(names, user_id), STATUS[status], METHOD[method], reason,
                   _name(names, by) if method == "proxy" else None, fmt_stamp(at, scope.tz)]
            row = next(stream, None)
        for user_id in sorted(tally.missing, key=lambda u: _name(names, u)):
            yield [a.id, _name(names, user_id), "缺席", "未响应", None, None, None]


def study_sheets(session: Session, scope: Scope) -> list[Sheet]:
    """Study tasks with their completion, and every study record."""
    tasks = session.exec(
        select(StudyTask).where(*scope.where(StudyTask.chat_id))
        .order_by(col(StudyTask.created_at), col(StudyTask.id))
    ).all()
    tallies = tally_tasks(session, tasks)
    names = member_names(session)
    branches = branch_labels(session)
    task_rows = [
        [t.task.id, fmt_stamp(t.task.created_at, scope.tz),
         branches.get(t.task.chat_id) or branch_label(Chat(id=t.task.chat_id)),
         t.task.content, t.task.due_date.isoformat() if t.task.due_date else "", t.expected,
         t.done, f"{t.rate:.0%}" if t.expected else "",
         "、".join(sorted(_name(names, u) for u in t.missing))]
        for t in tallies
    ]

    def records() -> Iterator[list[Any]]:
        for at, chat_id, user_id, task_id, content, task_content, note in session.exec(
            select(  # type: ignore[call-overload]
                StudyRecord.recorded_at, StudyRecord.chat_id, StudyRecord.user_id,
                StudyRecord.task_id, StudyRecord.content, StudyTask.content, StudyRecord.note,
            )
            .outerjoin(StudyTask, col(StudyTask.id) == StudyRecord.task_id)
            .where(*scope.where(StudyRecord.chat_id))
            .order_by(StudyRecord.recorded_at, StudyRecord.id)
            .execution_options(yield_per=STREAM_BATCH)
        ):
            yield [fmt_stamp(at, scope.tz), branches.get(chat_id, "") if chat_id else "",
                   _name(names, user_id), task_id or "", task_content or content, note]

    return [
        Sheet("学习任务", TASK_COLUMNS, task_rows, (7, 17, 12, 40, 11, 6, 6, 7, 30)),
        Sheet("学习记录", RECORD_COLUMNS, records(), (17, 12, 12, 7, 40, 40), bulk=True),
    ]


# --- 更正记录 --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditEntry:
    """One audit row as stored, with what its renderer may look up."""

    action: str
    entity_id: str
    detail: str
    session: Session
    names: dict[int, str]
    duty_titles: dict[str, str]

    def activity(self, activity_id: str) -> str:
        """'主题党日 #4' for an activity's id."""
        activity = self.session.get(Activity, int(activity_id)) if activity_id.isdigit() else None
        return f"{activity.kind} #{activity.id}" if activity else f"活动 #{activity_id}"

    def duty(self) -> str:
        return self.duty_titles.get(self.entity_id) or f"职责 {self.entity_id}"


Rendered = tuple[str, str]
"""(事项, 详情) of an audit row."""

PROXY_DETAIL = re.compile(r"^(?P<name>.*?)：(?P<before>.*) → (?P<after>[^；]*)；原因：(?P<reason>.*)$",
                          re.DOTALL)
PROXY_VERBS = {"出席": "补签", "请假": "代请假", "缺席": "登记缺席"}


def _proxy(entry: AuditEntry) -> Rendered:
    activity_id, _, user_id = entry.entity_id.partition(":")
    match = PROXY_DETAIL.match(entry.detail)
    if match is None:
        return f"补签/代签：{entry.activity(activity_id)}", entry.detail
    name = _name(entry.names, int(user_id)) if user_id.isdigit() else match["name"]
    verb = PROXY_VERBS.get(match["after"], "补签/代签")
    return (f"{verb}：{name} {entry.activity(activity_id)}",
            f"{match['before']} → {match['after']}；原因：{match['reason']}")


def _duty_set(entry: AuditEntry) -> Rendered:
    fixed = {"reset": "恢复职责默认频次（按工作要点）", "disabled": "停用职责", "enabled": "启用职责"}
    if entry.detail in fixed:
        return fixed[entry.detail], entry.duty()
    period, _, times = entry.detail.partition("x")
    return f"设置职责频次：{PERIOD_NAMES.get(period, period)}{times}次", entry.duty()


PERIOD_KEYS = (
    (re.compile(r"^(\d{4})-(\d{2})$"), lambda m: f"{m[1]}年{int(m[2])}月"),
    (re.compile(r"^(\d{4})-Q(\d)$"), lambda m: f"{m[1]}年第{m[2]}季度"),
    (re.compile(r"^(\d{4})-H(\d)$"), lambda m: f"{m[1]}年{'上' if m[2] == '1' else '下'}半年"),
    (re.compile(r"^(\d{4})-W(\d{2})$"), lambda m: f"{m[1]}年第{int(m[2])}周"),
    (re.compile(r"^(\d{4})-B(\d)$"), lambda m: f"{m[1]}年第{m[2]}个双月"),
    (re.compile(r"^(\d{4})$"), lambda m: f"{m[1]}年度"),
)


def _period_text(key: str) -> str:
    """'2026-Q4' -> '2026年第4季度' (the periods content.duties.period_key names)."""
    for pattern, text in PERIOD_KEYS:
        match = pattern.match(key)
        if match:
            return text(match)
    return key


def _duty_done(entry: AuditEntry) -> Rendered:
    key, _, note = entry.detail.partition(" ")
    return f"标记职责完成：{entry.duty()}", "；".join(
        part for part in (_period_text(key), f"说明：{note}" if note else "") if part)


def _reminder(entry: AuditEntry, verb: str) -> Rendered:
    reminder = entry.session.get(Reminder, int(entry.entity_id)) if entry.entity_id.isdigit() \
        else None
    if reminder is None:
        return f"{verb}：{entry.detail}", ""
    return f"{verb}：{reminder.rule}", reminder.text


def _meeting(entry: AuditEntry, verb: str) -> Rendered:
    """補录, 议题/决议/纪要 and files: the detail after the meeting's own '#N 标题：'."""
    activity = entry.session.get(Activity, int(entry.entity_id)) \
        if entry.entity_id.isdigit() else None
    prefix = f"#{activity.id} {activity.title[:40]}：" if activity else ""
    detail = entry.detail.removeprefix(prefix) if prefix else entry.detail
    return f"{verb}：{entry.activity(entry.entity_id)}", detail


def _roster_link(entry: AuditEntry) -> Rendered:
    """'张三 → 用户951（@zhang）（原绑定：…）': the 名册 name, then the chat account linked."""
    name, arrow, account = entry.detail.partition(" → ")
    return (f"名册绑定账号：{name}", f"账号：{account}") if arrow else ("名册绑定账号", entry.detail)


def _rename(entry: AuditEntry) -> Rendered:
    before, arrow, after = entry.detail.partition(" -> ")
    return (f"支部更名：{after}", f"原名称：{before}") if arrow else ("支部更名", entry.detail)


AUDIT_RENDERERS: dict[str, Callable[[AuditEntry], Rendered]] = {
    "bind": lambda e: (f"登记为党支部：{e.detail}", ""),
    "rename": _rename,
    "unbind": lambda e: (f"撤销党支部登记：{e.detail}", ""),
    "roster.import": lambda e: ("导入名册", e.detail.removeprefix("导入名册：")),
    "roster.link": _roster_link,
    "add": lambda e: (f"添加文件：{e.detail}", ""),
    "replace": lambda e: (f"替换文件：{e.detail}", ""),
    "remove": lambda e: (f"删除文件：{e.detail}", ""),
    "activity.backfill": lambda e: _meeting(e, "补录会议"),
    "activity.minutes": lambda e: _meeting(e, "记录会议议题/决议/纪要"),
    "activity.file": lambda e: _meeting(e, "添加会议附件"),
    "attendance.proxy": _proxy,
    "activity.cancel": lambda e: (f"取消活动：{e.activity(e.entity_id)}", e.detail),
    "grant": lambda e: (
        f"授予书记权限：{_name(e.names, int(e.entity_id)) if e.entity_id.isdigit() else ''}", ""),
    "duty_set": _duty_set,
    "duty_done": _duty_done,
    "schedule": lambda e: _reminder(e, "设置定时提醒"),
    "cancel": lambda e: _reminder(e, "取消定时提醒"),
}
"""How each audited action reads in the 更正记录; an action not listed shows as 其他操作."""


def render_audit(entry: AuditEntry) -> Rendered:
    renderer = AUDIT_RENDERERS.get(entry.action)
    return renderer(entry) if renderer else ("其他操作", entry.detail)


def audit_sheet(session: Session, scope: Scope) -> list[Sheet]:
    """Every correction and administrative act (补签/代签, cancellations, grants…), in Chinese."""
    branches = branch_labels(session)
    names = member_names(session)

    def rows() -> Iterator[list[Any]]:
        for at, chat_id, actor_id, action, entity_id, detail in session.exec(
            select(  # type: ignore[call-overload]
                AuditLog.at, AuditLog.chat_id, AuditLog.actor_id, AuditLog.action,
                AuditLog.entity_id, AuditLog.detail,
            )
            .where(*scope.where(AuditLog.chat_id))
            .order_by(AuditLog.at, AuditLog.id)
        ):
            what, detail_text = render_audit(AuditEntry(action, entity_id, detail, session, names,
                                                        scope.duty_titles))
            yield [fmt_stamp(at, scope.tz), branches.get(chat_id, "") if chat_id else "",
                   _name(names, actor_id) if actor_id else "", what, detail_text]

    return [Sheet("更正记录", AUDIT_COLUMNS, rows(), (17, 12, 12, 36, 60))]


SHEETS: list[SheetBuilder] = [activity_sheets, study_sheets, audit_sheet]


def ledger(session: Session, scope: Scope) -> list[Sheet]:
    return [sheet for build in SHEETS for sheet in build(session, scope)]


def heading(session: Session, scope: Scope) -> Heading:
    """The title block of the ledger of `scope`."""
    if scope.chat_ids is None:
        branch = "全部支部"
    else:
        labels = branch_labels(session, scope.chat_ids)
        branch = "、".join(labels.get(chat_id) or branch_label(Chat(id=chat_id))
                          for chat_id in scope.chat_ids)
    return Heading(scope.org, branch, local(scope.now, scope.tz).year,
                   fmt_stamp(scope.now, scope.tz))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a cell that a spreadsheet would run as a formula begins (OWASP, CSV injection)."""


def _cell(value: Any) -> Any:
    """Empty strings as no cell at all; control characters members typed, which Excel files
    cannot hold, dropped."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value) or None
    return value


def _runnable(value: Any) -> bool:
    """Text that a spreadsheet would take for a formula (a leave reason `=HYPERLINK(…)`)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def _styled(worksheet: Any, value: Any, *styles: tuple[str, Any]) -> WriteOnlyCell:
    cell = WriteOnlyCell(worksheet, value=value)
    for name, style in styles:
        setattr(cell, name, style)
    return cell


def _as_text(cell: WriteOnlyCell) -> WriteOnlyCell:
    """The cell holding its value as text whatever it begins with: a string cell (not a
    formula) with Excel's quote prefix, so editing it does not turn it into one either."""
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


LINE = Side(style="thin")
BOX = ("border", Border(left=LINE, right=LINE, top=LINE, bottom=LINE))
WRAP = ("alignment", Alignment(wrap_text=True, vertical="top"))
BOLD = ("font", Font(bold=True))
TITLE = ("font", Font(bold=True, size=14))
CENTER = ("alignment", Alignment(horizontal="center", vertical="center"))


def _page_setup(worksheet: Any, width: int) -> None:
    """Frozen header; A4 landscape, one page wide, title block and header on every page, grid
    lines printed."""
    header_row = TITLE_ROWS + 1
    worksheet.print_options.gridLines = True
    worksheet.freeze_panes = f"A{header_row + 1}"
    worksheet.page_setup.orientation = "landscape"
    worksheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    worksheet.page_setup.fitToWidth = 1
    worksheet.page_setup.fitToHeight = 0
    worksheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    worksheet.print_title_rows = f"1:{header_row}"
    last = get_column_letter(max(width, 1))
    for row in range(1, TITLE_ROWS + 1):
        worksheet.merged_cells.add(f"A{row}:{last}{row}")


def write_ledger(sheets: Iterable[Sheet], xlsx: Path, csv_dir: Path | None = None,
                 heading: Heading | None = None) -> list[Path]:
    """Write the workbook (write-only, streamed) and, with `csv_dir`, one UTF-8 CSV per sheet
    named `<workbook stem>-<sheet>.csv` (with a BOM, so Excel opens it as UTF-8). The CSV
    files start at the header: the title block is for people, not for other programs.

    Text is never run: a workbook cell that begins like a formula is a string cell, and in the
    CSV it gets a leading apostrophe, as OWASP advises for CSV injection."""
    workbook = Workbook(write_only=True)
    written = [xlsx]
    xlsx.parent.mkdir(parents=True, exist_ok=True)
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.title)
        _page_setup(worksheet, len(sheet.header))
        for index, width in enumerate(sheet.widths, start=1):
            worksheet.column_dimensions[get_column_letter(index)].width = width
        title, facts = heading.lines(sheet.title) if heading else (sheet.title, "")
        worksheet.append([_styled(worksheet, _cell(title), TITLE, CENTER)])
        worksheet.append([_styled(worksheet, _cell(facts))])
        worksheet.append([_styled(worksheet, name, BOLD, WRAP, BOX) for name in sheet.header])
        with ExitStack() as stack:
            writer = None
            if csv_dir is not None:
                path = csv_dir / f"{xlsx.stem}-{sheet.title}.csv"
                writer = csv.writer(stack.enter_context(
                    path.open("w", encoding="utf-8-sig", newline="")
                ))
                writer.writerow(sheet.header)
                written.append(path)
            for row in sheet.rows:
                values = [_cell(value) for value in row]
                styles = () if sheet.bulk else (WRAP, BOX)
                if styles or any(_runnable(value) for value in values):  # bulk: rare
                    worksheet.append([_as_text(cell) if _runnable(value) else cell
                                      for value in values
                                      for cell in [_styled(worksheet, value, *styles)]])
                    values = ["'" + v if _runnable(v) else v for v in values]
                else:
                    worksheet.append(values)
                if writer is not None:
                    writer.writerow(values)
    workbook.save(xlsx)
    return written


def export(db: Database, xlsx: Path, scope: Scope, *, with_csv: bool = False) -> list[Path]:
    """Write the ledger of `scope` to `xlsx` (and CSV files beside it); returns the paths."""
    with db.session() as session:
        return write_ledger(ledger(session, scope), xlsx, xlsx.parent if with_csv else None,
                            heading(session, scope))
