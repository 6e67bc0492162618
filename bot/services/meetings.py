"""A meeting's life and its record: phase, 补录, 议题/决议/纪要 and files, the ledger's record.

A meeting (an `Activity` posted by /remind or a schedule) is 待召开 until check-in opens, then
签到中 until its start, 进行中 until its end and 已结束 after it; a cancelled one is 已取消.
**Held** means its start time has passed and it was not cancelled: only held meetings count in
/stats, 出席率, 未响应名单, the ledger and the 三会一课 duties (a future one shows as 待召开 and
owes no absences). The phase is derived from the clock, never stored, so nothing has to run at
the start time for a meeting to count.

补录 enters a meeting held before it was announced here (`/remind 补录 12月1日 15:00 支委会
原因：系统未上线`): it is stored with its reason, audited, and not posted with buttons; the
secretary then records who came with /proxy. `/minutes` adds 议题, 决议 and 纪要 (text) and
photos or files to a held meeting; `meeting_record` gives the ledger everything about one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from bot.services import attendance, roster
from bot.services.branches import label_of
from bot.services.errors import UserError
from bot.services.localtime import fmt_when
from bot.services.people import Actor, require_secretary
from bot.services.stats import tally_activities
from bot.services.typed import MAX_RECORD_ID, clean, number
from content.meetings import THREE_MEETINGS, is_held
from storage.models import Activity, Attendance, AuditLog, MeetingFile

BACKFILL_WORD = "补录"
BACKFILL_USAGE = (
    "补录已召开的会议：/remind 补录 日期 时间 内容 原因：为何补录，例如 /remind 补录 12月1日 15:00"
    " 支委会 主持人：王书记 原因：系统未上线；补录后用 /proxy 活动号 成员 签到 补录 登记出席"
)
MINUTES_USAGE = (
    "用法：/minutes 活动号 议题：… 决议：… 纪要：…（可只写其中一项，再发送会替换该项；"
    "照片或文件可回复活动通知发送，或在说明中写 /minutes 活动号）"
)
MINUTES_FIELDS = {"议题": "topics", "决议": "decisions", "纪要": "minutes", "会议纪要": "minutes",
                  "会议记录": "minutes"}
FIELD_LABELS = {"topics": "议题", "decisions": "决议", "minutes": "纪要"}
MAX_TEXT = 4000
"""Characters of each of 议题, 决议 and 纪要 (a longer record goes in as a file)."""
MAX_FILES = 20
"""Photos and files one meeting keeps."""
MAX_FILE_BYTES = 20 * 1024 * 1024
"""The largest file a bot can fetch back from Telegram."""

LAST_YEAR_AFTER = timedelta(days=31)
"""A 补录 date without a year that falls this far ahead is read as last year's."""

_LABEL = re.compile(r"(会议纪要|会议记录|议题|决议|纪要)\s*[:：]")
_REASON = re.compile(r"(?:补录)?原因\s*[:：]\s*(.*)$")


# --- 补录 -------------------------------------------------------------------------------------

def is_backfill(text: str) -> bool:
    """Whether a /remind text is a 补录 (it starts with the word)."""
    return text.strip().startswith(BACKFILL_WORD)


def backfill(session: Session, actor: Actor, text: str, *, now: datetime, tz: ZoneInfo,
             source_message_id: int | None = None) -> Activity:
    """`/remind 补录 日期 时间 内容 原因：…`: a secretary enters a meeting held before, with the
    reason; audited, marked 补录, and never posted as if it were upcoming."""
    if not actor.in_group:
        raise UserError("请在支部群中补录本支部的会议。" + BACKFILL_USAGE)
    require_secretary(session, actor, actor.chat_id)
    body = clean(text.strip()[len(BACKFILL_WORD):]).lstrip(":： ")
    found = _REASON.search(body)
    reason = clean(found.group(1)) if found else ""
    if not reason:
        raise UserError("请写明补录原因（原因：…）。" + BACKFILL_USAGE)
    body = body[:found.start()].strip() if found else body
    draft = attendance.parse_remind(body, now, tz, past=True, usage=BACKFILL_USAGE)
    if draft.starts_at > now + LAST_YEAR_AFTER:  # 12月1日 written in January: last December
        draft = attendance.parse_remind(body, _year_before(now), tz, past=True,
                                        usage=BACKFILL_USAGE)
    if draft.starts_at > now:
        raise UserError(f"{fmt_when(draft.starts_at, tz)} 还没有到，补录只用于已召开的会议；"
                        f"即将召开的会议请直接发送 /remind 时间 内容。")
    activity = attendance.open_activity(
        session, actor.chat_id, draft.title, draft.kind, draft.starts_at, actor,
        ends_at=draft.ends_at, place=draft.place, host=draft.host, recorder=draft.recorder,
        content=draft.content, late_policy=draft.late_policy,
        source_message_id=source_message_id, backfill_reason=reason[:255],
    )
    logged = session.exec(select(AuditLog.id).where(
        AuditLog.action == "activity.backfill", AuditLog.entity_id == str(activity.id))).first()
    if logged is None:
        _audit(session, actor, activity, now, "activity.backfill",
               f"补录（会议时间 {fmt_when(activity.starts_at, tz)}）；原因：{reason}")
    return activity


def _year_before(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


def backfill_reply(activity: Activity, tz: ZoneInfo) -> str:
    """What the secretary is told after a 补录: the number, and how to record who came."""
    people = "、".join(f"{label}{name}" for label, name in
                      (("主持人", activity.host), ("记录人", activity.recorder)) if name)
    return "\n".join(line for line in (
        f"✅ 已补录会议 #{activity.id}（补录）：【{activity.kind}】{activity.title}",
        f"时间：{fmt_when(activity.starts_at, tz)}" + (f"　地点：{activity.place}"
                                                     if activity.place else ""),
        f"补录原因：{activity.backfill_reason}（已记入更正记录）",
        f"{people}已记为出席。" if people else "发布人已作为主持人记为出席。",
        f"请登记其他成员的出席情况：/proxy {activity.id} 成员 签到 补录（请假、缺席同样登记），"
        f"会议内容：/minutes {activity.id} 议题：… 决议：… 纪要：…",
    ) if line)


# --- 议题, 决议, 纪要 and files -----------------------------------------------------------------

@dataclass(frozen=True)
class MinutesResult:
    activity: Activity
    changed: tuple[str, ...]  # the fields (topics, decisions, minutes) whose text changed
    file_added: bool = False


def find_meeting(session: Session, actor: Actor, query: str | None,
                 notice_message_id: int | None) -> Activity:
    """The meeting a /minutes names: by number, or the notice it replies to."""
    activity = None
    wanted = number(query) if query else None
    if wanted is not None and 0 < wanted <= MAX_RECORD_ID:
        activity = session.get(Activity, wanted)
        if activity is None:
            raise UserError(f"没有找到活动 #{wanted}。{MINUTES_USAGE}")
    elif notice_message_id is not None and actor.in_group:
        activity = session.exec(select(Activity).where(
            Activity.chat_id == actor.chat_id, Activity.message_id == notice_message_id)).first()
    if activity is None:
        raise UserError("请写明活动号，或回复该活动的通知。" + MINUTES_USAGE)
    require_secretary(session, actor, activity.chat_id)
    if activity.status == "cancelled":
        raise UserError(f"活动 #{activity.id} 已取消，无需记录议题和纪要。")
    return activity


def _ready(activity: Activity, now: datetime, tz: ZoneInfo) -> None:
    if not is_held(activity, now):
        raise UserError(f"活动 #{activity.id} 尚未召开（{fmt_when(activity.starts_at, tz)}），"
                        f"会后再补充议题、决议和纪要。")


def parse_minutes(text: str) -> dict[str, str]:
    """`议题：… 决议：… 纪要：…` → the fields given; text without a label is the 纪要."""
    text = text.strip()
    marks = list(_LABEL.finditer(text))
    found: dict[str, str] = {}
    if not marks:
        return {"minutes": text} if text else {}
    if head := text[:marks[0].start()].strip():
        found["minutes"] = head
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        found[MINUTES_FIELDS[mark.group(1)]] = text[mark.end():end].strip(" \n；;，,")
    return found


def add_minutes(session: Session, actor: Actor, activity: Activity, text: str, *,
                now: datetime, tz: ZoneInfo) -> MinutesResult:
    """Store the 议题/决议/纪要 given (each replaces what was there), audited."""
    _ready(activity, now, tz)
    fields = parse_minutes(text)
    if not fields or not any(fields.values()):
        raise UserError("请写明议题、决议或纪要。" + MINUTES_USAGE)
    for name, value in fields.items():
        if len(value) > MAX_TEXT:
            raise UserError(f"{FIELD_LABELS[name]}共 {len(value)} 字，超过 {MAX_TEXT} 字；请精简，"
                            f"或把纪要作为文件回复活动通知发送。")
    changed = tuple(name for name, value in fields.items()
                    if value and getattr(activity, name) != value)
    for name in changed:
        _audit(session, actor, activity, now, "activity.minutes",
               f"{FIELD_LABELS[name]}：" + ("更新" if getattr(activity, name) else "新增")
               + f"（{len(fields[name])}字）")
        setattr(activity, name, fields[name])
    session.add(activity)
    return MinutesResult(activity, changed)


def add_file(session: Session, actor: Actor, activity: Activity, *, kind: str, file_id: str,
             file_unique_id: str, name: str, size: int | None, caption: str, now: datetime,
             tz: ZoneInfo) -> MinutesResult:
    """Keep a photo or file (its Telegram file id and name) in the meeting's record; a caption's
    议题/决议/纪要 are stored too. The same file twice is kept once."""
    _ready(activity, now, tz)
    if size is not None and size > MAX_FILE_BYTES:
        raise UserError(f"文件过大（{size / 1024 / 1024:.0f}MB），请发送 20MB 以内的文件。")
    kept = session.exec(select(func.count()).select_from(MeetingFile)
                        .where(MeetingFile.activity_id == activity.id)).one()
    if kept >= MAX_FILES:
        raise UserError(f"活动 #{activity.id} 已有 {MAX_FILES} 个附件，无法再添加。")
    name = clean(name)[:255] or ("照片" if kind == "photo" else "文件") + f"{kept + 1}"
    result = add_minutes(session, actor, activity, caption, now=now, tz=tz) \
        if caption.strip() else MinutesResult(activity, ())
    row = MeetingFile(activity_id=activity.id or 0, kind=kind, file_id=file_id[:255],
                      file_unique_id=file_unique_id[:128], name=name, size=size,
                      added_by=actor.user_id, added_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same file again
        return result
    _audit(session, actor, activity, now, "activity.file", f"附件：{name}")
    return MinutesResult(activity, result.changed, True)


def minutes_reply(result: MinutesResult) -> str:
    a = result.activity
    what = [FIELD_LABELS[name] for name in result.changed]
    if result.file_added:
        what.append("附件")
    if not what:
        return f"活动 #{a.id} 的记录没有变化（内容与已存的相同）。"
    return f"✅ 已记入活动 #{a.id}「{a.title[:30]}」：{'、'.join(what)}（将写入台账）。"


def _audit(session: Session, actor: Actor, activity: Activity, now: datetime, action: str,
           detail: str) -> None:
    session.add(AuditLog(at=now, actor_id=actor.user_id, chat_id=activity.chat_id,
                         action=action, entity="activity", entity_id=str(activity.id),
                         detail=f"#{activity.id} {activity.title[:40]}：{detail}"))


# --- the record the ledger writes ------------------------------------------------------------

@dataclass(frozen=True)
class MeetingRecord:
    """One meeting as the 三会一课记录 shows it. Times are UTC (the ledger shows them local);
    `absent` lists who was absent (the secretary's reason, else 缺席), on leave (请假：reason) or
    never answered (未响应)."""

    activity_id: int
    branch: str
    kind: str
    title: str
    content: str
    starts_at: datetime
    ends_at: datetime
    place: str
    host: str
    recorder: str
    expected: int
    present: int
    leave: int
    absent: tuple[tuple[str, str], ...]
    topics: str
    decisions: str
    minutes: str
    attachments: tuple[str, ...]
    backfill_reason: str
    counts_for: str
    """The 三会一课 duty kind a held meeting counts for (支部党员大会, 支委会, 党小组会, 党课,
    主题党日), else empty."""

    @property
    def backfilled(self) -> bool:
        return bool(self.backfill_reason)


def meeting_record(session: Session, activity_id: int) -> MeetingRecord:
    """Everything the ledger writes of one meeting: 时间、地点、主持人、记录人、应到、实到、
    缺席及原因 (缺席 with the secretary's reason, 请假 with the member's, and who never
    responded, 未响应)、议题、决议、纪要 and the attachments' names. Meant for held meetings
    (`content.meetings.is_held`): for one still to come, everyone not yet answered is 未响应."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise UserError(f"没有找到活动 #{activity_id}。")
    tally = tally_activities(session, [activity])[0]
    rows = session.exec(select(Attendance.user_id, Attendance.status, Attendance.reason).where(
        Attendance.activity_id == activity_id, col(Attendance.status).in_(("leave", "absent"))
    )).all()
    people = [u for u, *_ in rows] + sorted(tally.missing)
    people += [i for i in (activity.host_id, activity.recorder_id) if i is not None]
    names = roster.names(session, people)
    absent = [(names[u], f"请假：{reason}" if status == "leave" else (reason or "缺席"))
              for u, status, reason in sorted(rows, key=lambda r: (r[1], names[r[0]]))]
    absent += [(names[u], "未响应") for u in sorted(tally.missing, key=lambda u: names[u])]
    files = session.exec(select(MeetingFile.name).where(MeetingFile.activity_id == activity_id)
                         .order_by(col(MeetingFile.id))).all()
    return MeetingRecord(
        activity_id=activity_id, branch=label_of(session, activity.chat_id),
        kind=activity.kind, title=activity.title, content=activity.content,
        starts_at=activity.starts_at, ends_at=activity.ends_at, place=activity.place,
        host=activity.host or (names[activity.host_id] if activity.host_id else ""),
        recorder=activity.recorder or (names[activity.recorder_id]
                                       if activity.recorder_id else ""),
        expected=tally.expected, present=tally.present, leave=tally.leave,
        absent=tuple(absent), topics=activity.topics, decisions=activity.decisions,
        minutes=activity.minutes, attachments=tuple(files),
        backfill_reason=activity.backfill_reason,
        counts_for=activity.kind if activity.kind in THREE_MEETINGS else "",
    )
