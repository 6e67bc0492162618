"""The 台账: an Excel workbook, plus one CSV per sheet, of meetings, check-ins, study, corrections.

One sheet per activity type in the usual layout (时间, 地点, 主持人, 记录人, 应到, 实到, 请假, 缺席,
内容), then 签到明细, 学习任务, 学习记录 and 更正记录. Rows stream from the database into
openpyxl's write-only workbook (and the CSV files in the same pass), so 100,000 check-ins take
little memory. Other features add sheets by appending a builder to SHEETS.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlmodel import Session, col, select

from bot.services import roster
from bot.services.localtime import fmt_stamp
from bot.services.organization import display_name
from bot.services.stats import ActivityTally, tally_activities, tally_tasks
from storage.db import Database
from storage.models import (
    ACTIVITY_KINDS,
    Activity,
    Attendance,
    AuditLog,
    Chat,
    Member,
    StudyRecord,
    StudyTask,
)

LEDGER_COLUMNS = ("时间", "地点", "主持人", "记录人", "应到", "实到", "请假", "缺席", "内容")
ACTIVITY_COLUMNS = LEDGER_COLUMNS + ("活动号", "支部", "迟到", "补签/代签", "请假人员（原因）", "缺席人员")
DETAIL_COLUMNS = ("活动号", "姓名", "用户ID", "状态", "方式", "原因", "代登记人", "登记时间")
"""Lean on purpose (a row per member per meeting): the activity sheets carry the rest."""
TASK_COLUMNS = ("任务号", "发布时间", "支部", "学习内容", "截止日期", "应学", "已学", "完成率",
                "未学人员")
RECORD_COLUMNS = ("登记时间", "支部", "姓名", "用户ID", "任务号", "学习内容", "心得")
AUDIT_COLUMNS = ("时间", "支部", "操作人", "操作", "对象", "详情")
STATUS = {"present": "出席", "leave": "请假", "absent": "缺席"}
METHOD = {"self": "本人", "late": "迟到", "proxy": "补签/代签", "role": "主持人/记录人"}
ACTIONS = {"attendance.proxy": "补签/代签", "activity.cancel": "取消活动", "grant": "授予书记权限",
           "activity.backfill": "补录会议", "activity.minutes": "会议记录", "activity.file": "会议附件"}
STREAM_BATCH = 2000


@dataclass
class Sheet:
    """A sheet's title, header and rows (any iterable, consumed once while writing)."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: Sequence[int] = ()


@dataclass(frozen=True)
class Scope:
    """What a ledger covers: some branches (None: all), times shown in `tz`, as of `now`."""

    chat_ids: list[int] | None
    tz: ZoneInfo
    now: datetime

    def where(self, column: Any) -> list[Any]:
        return [] if self.chat_ids is None else [col(column).in_(self.chat_ids)]


SheetBuilder = Callable[[Session, Scope], list[Sheet]]


def _branches(session: Session) -> dict[int, str]:
    return {chat.id: display_name(chat) for chat in session.exec(select(Chat))}


def activity_sheets(session: Session, scope: Scope) -> list[Sheet]:
    """One sheet per activity type (activities held so far), then every check-in in detail,
    with the members who did not respond as 缺席（未响应） rows."""
    activities = session.exec(
        select(Activity)
        .where(Activity.status != "cancelled", Activity.starts_at <= scope.now,
               *scope.where(Activity.chat_id))
        .order_by(col(Activity.starts_at), col(Activity.id))
    ).all()
    tallies = tally_activities(session, activities)
    names = roster.names(session, {u for t in tallies for u in t.missing}
                         | {u for t in tallies for u, _ in t.leave_reasons})
    branches = _branches(session)
    tz = scope.tz

    def summary(t: ActivityTally) -> list[Any]:
        a = t.activity
        content = a.title if not a.content else f"{a.title}\n{a.content}"
        if a.backfill_reason:
            content = f"（补录，原因：{a.backfill_reason}）{content}"
        return [
            f"{fmt_stamp(a.starts_at, tz)}-{fmt_stamp(a.ends_at, tz)[11:]}", a.place, a.host,
            a.recorder, t.expected, t.present, t.leave, t.absent, content, a.id,
            branches.get(a.chat_id, str(a.chat_id)), t.late, t.proxied,
            "；".join(f"{names[u]}（{reason}）" for u, reason in t.leave_reasons),
            "、".join(sorted(names[u] for u in t.missing)),
        ]

    sheets = [
        Sheet(kind, ACTIVITY_COLUMNS,
              [summary(t) for t in tallies if t.activity.kind == kind],
              (17, 14, 8, 8, 6, 6, 6, 6, 40, 7, 12, 6, 9, 24, 24))
        for kind in ACTIVITY_KINDS
    ]
    sheets.append(Sheet("签到明细", DETAIL_COLUMNS, _details(session, scope, tallies, names),
                        (7, 10, 12, 8, 10, 24, 10, 17)))
    return sheets


def _details(
    session: Session, scope: Scope, tallies: list[ActivityTally], names: dict[int, str]
) -> Iterator[list[Any]]:
    """Attendance rows streamed in activity order, each activity followed by its non-responders.

    代登记人 is filled only for 补签/代签 (a member's own check-in needs no second name)."""
    in_scope = (Activity.status != "cancelled", Activity.starts_at <= scope.now,
                *scope.where(Activity.chat_id))
    proxies = roster.names(session, session.exec(
        select(Attendance.recorded_by).distinct()
        .join(Activity, col(Activity.id) == Attendance.activity_id)
        .where(Attendance.method == "proxy", *in_scope)
    ).all())
    stream = iter(session.exec(
        select(  # type: ignore[call-overload]
            Attendance.activity_id, Attendance.user_id, Member.display_name, Attendance.status,
            Attendance.method, Attendance.reason, Attendance.recorded_by, Attendance.recorded_at,
        )
        .join(Activity, col(Activity.id) == Attendance.activity_id)
        .outerjoin(Member, col(Member.id) == Attendance.user_id)
        .where(*in_scope)
        .order_by(Activity.starts_at, Activity.id, Attendance.id)
        .execution_options(yield_per=STREAM_BATCH)
    ))
    row = next(stream, None)
    for tally in tallies:
        a = tally.activity
        while row is not None and row[0] == a.id:
            _, user_id, name, status, method, reason, by, at = row
            yield [a.id, name or f"用户{user_id}", user_id, STATUS[status], METHOD[method],
                          reason, proxies[by] if method == "proxy" else None,
                          fmt_stamp(at, scope.tz)]
            row = next(stream, None)
        for user_id in sorted(tally.missing):
            yield [a.id, names[user_id], user_id, "缺席", "未响应", None, None, None]


def study_sheets(session: Session, scope: Scope) -> list[Sheet]:
    """Study tasks with their completion, and every study record."""
    tasks = session.exec(
        select(StudyTask).where(*scope.where(StudyTask.chat_id))
        .order_by(col(StudyTask.created_at), col(StudyTask.id))
    ).all()
    tallies = tally_tasks(session, tasks)
    names = roster.names(session, {u for t in tallies for u in t.missing})
    branches = _branches(session)
    task_rows = [
        [t.task.id, fmt_stamp(t.task.created_at, scope.tz), branches.get(t.task.chat_id, ""),
         t.task.content, t.task.due_date.isoformat() if t.task.due_date else "", t.expected,
         t.done, f"{t.rate:.0%}" if t.expected else "",
         "、".join(sorted(names[u] for u in t.missing))]
        for t in tallies
    ]

    def records() -> Iterator[list[Any]]:
        for at, chat_id, user_id, name, task_id, content, task_content, note in session.exec(
            select(  # type: ignore[call-overload]
                StudyRecord.recorded_at, StudyRecord.chat_id, StudyRecord.user_id,
                Member.display_name, StudyRecord.task_id, StudyRecord.content, StudyTask.content,
                StudyRecord.note,
            )
            .outerjoin(StudyTask, col(StudyTask.id) == StudyRecord.task_id)
            .outerjoin(Member, col(Member.id) == StudyRecord.user_id)
            .where(*scope.where(StudyRecord.chat_id))
            .order_by(StudyRecord.recorded_at, StudyRecord.id)
            .execution_options(yield_per=STREAM_BATCH)
        ):
            yield [fmt_stamp(at, scope.tz), branches.get(chat_id, "") if chat_id else "",
                   name or f"用户{user_id}", user_id, task_id or "", task_content or content,
                   note]

    return [
        Sheet("学习任务", TASK_COLUMNS, task_rows, (7, 17, 12, 40, 11, 6, 6, 7, 30)),
        Sheet("学习记录", RECORD_COLUMNS, records(), (17, 12, 10, 12, 7, 40, 40)),
    ]


def audit_sheet(session: Session, scope: Scope) -> list[Sheet]:
    """Every correction and administrative act (补签/代签, cancellations, grants…)."""
    branches = _branches(session)

    def rows() -> Iterator[list[Any]]:
        for at, chat_id, name, actor_id, action, entity, entity_id, detail in session.exec(
            select(  # type: ignore[call-overload]
                AuditLog.at, AuditLog.chat_id, Member.display_name, AuditLog.actor_id,
                AuditLog.action, AuditLog.entity, AuditLog.entity_id, AuditLog.detail,
            )
            .outerjoin(Member, col(Member.id) == AuditLog.actor_id)
            .where(*scope.where(AuditLog.chat_id))
            .order_by(AuditLog.at, AuditLog.id)
        ):
            yield [fmt_stamp(at, scope.tz), branches.get(chat_id, "") if chat_id else "",
                   name or (f"用户{actor_id}" if actor_id else ""), ACTIONS.get(action, action),
                   f"{entity} {entity_id}".strip(), detail]

    return [Sheet("更正记录", AUDIT_COLUMNS, rows(), (17, 12, 10, 18, 18, 60))]


SHEETS: list[SheetBuilder] = [activity_sheets, study_sheets, audit_sheet]


def ledger(session: Session, scope: Scope) -> list[Sheet]:
    return [sheet for build in SHEETS for sheet in build(session, scope)]


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


def _as_text(worksheet: Any, value: str) -> WriteOnlyCell:
    """A workbook cell that holds `value` as text whatever it begins with: a string cell (not a
    formula) with Excel's quote prefix, so editing it does not turn it into one either."""
    cell = WriteOnlyCell(worksheet, value=value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def write_ledger(sheets: Iterable[Sheet], xlsx: Path, csv_dir: Path | None = None) -> list[Path]:
    """Write the workbook (write-only, streamed) and, with `csv_dir`, one UTF-8 CSV per sheet
    named `<workbook stem>-<sheet>.csv` (with a BOM, so Excel opens it as UTF-8).

    Text is never run: a workbook cell that begins like a formula is a string cell, and in the
    CSV it gets a leading apostrophe, as OWASP advises for CSV injection."""
    workbook = Workbook(write_only=True)
    written = [xlsx]
    xlsx.parent.mkdir(parents=True, exist_ok=True)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.title)
        worksheet.freeze_panes = "A2"
        for index, width in enumerate(sheet.widths, start=1):
            worksheet.column_dimensions[get_column_letter(index)].width = width
        header = []
        for name in sheet.header:
            cell = WriteOnlyCell(worksheet, value=name)
            cell.font, cell.alignment = bold, wrap
            header.append(cell)
        worksheet.append(header)
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
                cells = [_cell(value) for value in row]
                if any(_runnable(value) for value in cells):  # rare: only such rows pay
                    worksheet.append([_as_text(worksheet, v) if _runnable(v) else v
                                      for v in cells])
                    cells = ["'" + v if _runnable(v) else v for v in cells]
                else:
                    worksheet.append(cells)
                if writer is not None:
                    writer.writerow(cells)
    workbook.save(xlsx)
    return written


def export(db: Database, xlsx: Path, scope: Scope, *, with_csv: bool = False) -> list[Path]:
    """Write the ledger of `scope` to `xlsx` (and CSV files beside it); returns the paths."""
    with db.session() as session:
        return write_ledger(ledger(session, scope), xlsx, xlsx.parent if with_csv else None)
