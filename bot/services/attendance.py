"""Meetings and check-ins: open an activity, check in, ask leave with a reason, corrections.

Check-in windows are judged by `at`, the time of the member's own message, not by when the bot
got to it, so a backlog after downtime is not misrecorded; `now` is when a record is written.
Repeats are harmless by constraint: one attendance row per activity and member.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, func, update
from sqlmodel import Session, col, select

from bot.services import members, roster
from bot.services.display import shorten
from bot.services.errors import UserError
from bot.services.localtime import fmt_when, local
from bot.services.people import Actor, require_secretary
from bot.services.posts import Outcome, Post, add_once
from bot.services.typed import MAX_RECORD_ID, clean, number
from content.meetings import meeting_kind, phase
from content.timerules import is_workday, working_days_around
from content.when import RuleError, parse_when
from storage.models import ACTIVITY_KINDS, Activity, Attendance, AuditLog, LeaveRequest
from storage.upsert import upsert

EARLY = timedelta(minutes=30)
"""Check-in opens this long before the start."""
GRACE = timedelta(minutes=15)
"""After the start, check-ins count as on time for this long; later ones are late (or refused)."""
LENGTH = timedelta(hours=2)
"""An activity without an end time lasts this long; check-in and leave close at its end."""
LEAVE_REASON_TTL = timedelta(hours=1)
"""How long a 请假 tap waits for its reason."""

STATUS_LABELS = {"present": "出席", "leave": "请假", "absent": "缺席"}
METHOD_LABELS = {"self": "本人签到", "late": "迟到签到", "proxy": "补签/代签",
                 "role": "主持人/记录人"}
ROLE_METHOD = "role"
"""Attendance of the 主持人 and 记录人, recorded when the meeting is announced; they may still
ask leave (or be corrected by /proxy)."""
PROXY_STATUSES = {"签到": "present", "出席": "present", "请假": "leave", "缺席": "absent"}

REMIND_USAGE = (
    "用法：/remind 时间 内容，例如 /remind 明天下午3点 主题党日 学习党章 地点：三楼会议室"
    " 主持人：张三 记录人：李四（时间也可写 15:00-17:00、周五上午9点到11点，立即开始写“现在”；"
    "可加“迟到：不予签到”）"
)
CHECKIN_USAGE = "用法：/checkin [活动号或活动名称]"
LEAVE_USAGE = "用法：/leave [活动号] 请假原因，例如 /leave 12 出差在外"
PROXY_USAGE = (
    "用法：/proxy 活动号 成员 [签到|请假|缺席] 原因，成员写姓名、@用户名或用户id，"
    "例如 /proxy 4 张三 请假 出差（也可回复该成员的消息：/proxy 活动号 [签到|请假|缺席] 原因）"
)

_FIELD = re.compile(r"(地点|主持人|主持|记录人|记录|迟到)\s*[:：]\s*([^\s；;，,]+)")
_TITLE_MAX = 100


@dataclass(frozen=True)
class Draft:
    """An activity as a secretary described it in /remind."""

    title: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    place: str = ""
    host: str = ""
    recorder: str = ""
    late_policy: str = "late"
    content: str = ""


def parse_remind(text: str, now: datetime, tz: ZoneInfo, *,
                 start_at: datetime | None = None, past: bool = False,
                 usage: str = REMIND_USAGE) -> Draft:
    """`时间 内容 [地点：…] [主持人：…] [记录人：…] [迟到：不予签到]`. Without a time it asks,
    never taking "now" for a time it could not read; `start_at` is the start of a scheduled
    meeting, whose text needs none. With `past` (补录) a date without a year is this year's
    and a meeting already over is what is wanted."""
    text = clean(text)
    if not text:
        raise UserError("请写明活动内容。" + usage)
    try:
        when = parse_when(text, now, tz, want="once", allow_past=past)
    except RuleError as exc:
        raise UserError(f"{exc}{usage}") from exc
    start, end, rest = (when.start, when.end, when.rest) if when else (start_at, None, text)
    if start is None:
        raise UserError("请在内容前写明活动时间，例如“明天下午3点”。" + usage)
    fields: dict[str, str] = {}

    def take(match: re.Match[str]) -> str:
        fields[match.group(1)[:2]] = match.group(2)
        return " "

    body = " ".join(_FIELD.sub(take, rest).split()).strip(" ；;，,")
    if not body:
        raise UserError("请写明活动内容。" + usage)
    starts_at = start.astimezone(UTC)
    ends_at = end.astimezone(UTC) if end else starts_at + LENGTH
    if ends_at < now and not past:
        raise UserError(f"活动时间 {fmt_when(starts_at, tz)} 已经过去，请检查时间"
                        f"（补录已召开的会议请发送 /remind 补录 日期 时间 内容 原因：…）。{usage}")
    refuse_late = any(word in fields.get("迟到", "") for word in ("不", "拒"))
    title = body if len(body) <= _TITLE_MAX else body[: _TITLE_MAX - 1] + "…"
    return Draft(
        title=title, kind=meeting_kind(body), starts_at=starts_at, ends_at=ends_at,
        place=fields.get("地点", ""), host=fields.get("主持", ""), recorder=fields.get("记录", ""),
        late_policy="refuse" if refuse_late else "late",
        content=body if body != title else "",
    )


def rest_day_note(activity: Activity, now: datetime, tz: ZoneInfo) -> str:
    """For a meeting yet to start on a rest day: say so, with the /remind that moves it to the
    working day before (提前) or after (顺延); empty otherwise."""
    start, end = local(activity.starts_at, tz), local(activity.ends_at, tz)
    if is_workday(start.date()) or activity.starts_at <= now:
        return ""
    people = (("地点", activity.place), ("主持人", activity.host), ("记录人", activity.recorder))
    body = (activity.content or activity.title) + "".join(
        f" {label}：{name}" for label, name in people if name)
    body += " 迟到：不予签到" if activity.late_policy == "refuse" else ""
    moves = [f"/remind {day.month}月{day.day}日 {start:%H:%M}-{end:%H:%M} {body}（{label}）"
             for label, day in zip(("提前", "顺延"), working_days_around(start.date()), strict=True)
             if datetime.combine(day, start.timetz()) > now]
    return (f"注意：{fmt_when(activity.starts_at, tz)} 不是工作日（节假日或周末）。如需改期，请发送"
            f" /activities 取消 {activity.id}，再发送 {' 或 '.join(moves)}。")


def open_activity(
    session: Session,
    chat_id: int,
    title: str,
    kind: str = "其他",
    starts_at: datetime | None = None,
    opened_by: Actor | None = None,
    *,
    ends_at: datetime | None = None,
    place: str = "",
    host: str = "",
    recorder: str = "",
    content: str = "",
    late_policy: str = "late",
    source_message_id: int | None = None,
    poster: int | None = None,
    backfill_reason: str = "",
) -> Activity:
    """Open an activity in a branch; post `activity_post(...)` and `attach_message(...)` after.

    The reminder engine calls this with `opened_by=None` (the reminder's author was checked when
    it was scheduled); a secretary's /remind passes the Actor, who must be a secretary here.
    Check-in opens EARLY before `starts_at`, is late after GRACE and closes at `ends_at`
    (default `starts_at` + LENGTH); `late_policy="refuse"` refuses late check-ins instead.
    With `source_message_id` (the command's message) a repeated update returns the first one.

    The 主持人 and 记录人 are matched to members (by name or @username; a name nobody answers
    to stays text) and recorded present; without a 主持人 the poster (`opened_by`, else
    `poster`: a schedule's author) hosts. A `backfill_reason` marks a 补录.
    """
    if opened_by is not None:
        require_secretary(session, opened_by, chat_id)
    if kind not in ACTIVITY_KINDS or late_policy not in ("late", "refuse"):
        raise ValueError(f"unknown activity kind {kind!r} or late policy {late_policy!r}")
    if starts_at is None or starts_at.utcoffset() is None:
        raise ValueError("starts_at must be a timezone-aware datetime")
    title = clean(title)
    if not title:
        raise UserError("请写明活动内容。" + REMIND_USAGE)
    starts_at = starts_at.astimezone(UTC)
    activity = Activity(
        chat_id=chat_id, kind=kind, title=title[:255], content=content, starts_at=starts_at,
        ends_at=(ends_at or starts_at + LENGTH).astimezone(UTC), place=place[:255],
        host=host[:64], recorder=recorder[:64], checkin_opens_at=starts_at - EARLY,
        late_after=starts_at + GRACE, late_policy=late_policy,
        created_by=opened_by.user_id if opened_by else poster,
        source_message_id=source_message_id, backfill_reason=backfill_reason,
        host_id=_named(session, chat_id, host) if host else None,
        recorder_id=_named(session, chat_id, recorder) if recorder else None,
    )
    if not host:
        activity.host_id = activity.created_by
    kept = add_once(session, activity)
    if kept is activity:  # new, not a redelivered command
        _record_roles(session, activity)
    return kept


def _named(session: Session, chat_id: int, name: str) -> int | None:
    """The member a notice names as 主持人 or 记录人, when exactly one answers to it in the branch;
    None keeps the name as text only."""
    try:
        return members.find_member(session, name, [chat_id])
    except UserError:
        return None


def _record_roles(session: Session, activity: Activity) -> None:
    """The 主持人 and 记录人 who are members are present unless they say otherwise."""
    roles: dict[int, str] = {}
    for user_id, label in ((activity.recorder_id, "记录人"), (activity.host_id, "主持人")):
        if user_id is not None:
            roles[user_id] = label
    for user_id, label in roles.items():
        session.add(Attendance(
            activity_id=activity.id or 0, user_id=user_id, status="present", method=ROLE_METHOD,
            reason=label, recorded_by=activity.created_by or user_id,
            recorded_at=activity.created_at, message_at=activity.starts_at,
        ))
    session.flush()


def remind(
    session: Session, actor: Actor, text: str, *, now: datetime, tz: ZoneInfo,
    source_message_id: int | None = None,
) -> Activity:
    """/remind: a secretary opens an activity in this group (once per command message)."""
    if not actor.in_group:
        raise UserError("请在支部群中发布活动通知。" + REMIND_USAGE)
    require_secretary(session, actor, actor.chat_id)
    draft = parse_remind(text, now, tz)
    return open_activity(
        session, actor.chat_id, draft.title, draft.kind, draft.starts_at, actor,
        ends_at=draft.ends_at, place=draft.place, host=draft.host, recorder=draft.recorder,
        content=draft.content, late_policy=draft.late_policy, source_message_id=source_message_id,
    )


def counts(session: Session, activity_id: int) -> dict[str, int]:
    """How many responded present / leave / absent."""
    rows = session.exec(
        select(Attendance.status, func.count())
        .where(Attendance.activity_id == activity_id)
        .group_by(Attendance.status)
    ).all()
    return dict(rows)


def activity_post(session: Session, activity_id: int, tz: ZoneInfo) -> Post:
    """The group message for an activity: details, check-in rule, live counts, [签到] [请假]."""
    activity = _activity(session, activity_id)
    tally = counts(session, activity_id)
    when = fmt_when(activity.starts_at, tz)
    if local(activity.ends_at, tz).date() == local(activity.starts_at, tz).date():
        when += f"–{local(activity.ends_at, tz):%H:%M}"
    header = activity.title if activity.kind in activity.title else f"【{activity.kind}】{activity.title}"
    lines = [f"📢 {header}", f"时间：{when}"]
    if activity.place:
        lines.append(f"地点：{activity.place}")
    people = "　".join(
        f"{label}：{name}"
        for label, name in (("主持人", activity.host), ("记录人", activity.recorder)) if name
    )
    if people:
        lines.append(people)
    if activity.status == "cancelled":
        lines.append(f"活动号：#{activity.id}\n（本活动已取消）")
        return Post("\n".join(lines), (), activity.chat_id, activity.message_id)
    opens, late_after = local(activity.checkin_opens_at, tz), local(activity.late_after, tz)
    if activity.late_policy == "refuse":
        rule = f"{late_after:%H:%M} 截止（迟到不予签到）"
    else:
        rule = f"{late_after:%H:%M} 后记为迟到，{local(activity.ends_at, tz):%H:%M} 截止"
    lines.append(f"签到：{opens:%H:%M} 起，{rule}")
    lines.append(f"活动号：#{activity.id}（也可发送 /checkin {activity.id}）")
    lines.append(f"已签到 {tally.get('present', 0)} / 请假 {tally.get('leave', 0)}")
    buttons = ((("签到", f"att:in:{activity.id}"), ("请假", f"att:leave:{activity.id}")),)
    return Post("\n".join(lines), buttons, activity.chat_id, activity.message_id)


def resolve_activity(
    session: Session, actor: Actor, query: str, *, at: datetime, upcoming: bool = False
) -> int:
    """The number of the activity a member means: by number, by words of its title, or the one
    open now.

    Open means check-in is open at `at`; with `upcoming`, any activity not yet over (for leave).
    """
    query = query.strip()
    usage = LEAVE_USAGE if upcoming else CHECKIN_USAGE
    if (wanted := number(query)) is not None:
        return wanted
    scope = [actor.chat_id] if actor.in_group else roster.branches_of(session, actor.user_id)
    if not scope:
        raise UserError("请在支部群中操作，或写明活动号。" + usage)
    statement = select(Activity).where(
        col(Activity.chat_id).in_(scope), Activity.status != "cancelled", Activity.ends_at >= at
    )
    if not upcoming:
        statement = statement.where(Activity.checkin_opens_at <= at)
    found = [a for a in session.exec(statement.order_by(col(Activity.starts_at))) if query in a.title]
    if not found:
        what = f"“{query}”" if query else ""
        state = "未结束的" if upcoming else "正在签到的"
        raise UserError(f"当前没有{state}{what}活动。{usage}")
    if len(found) > 1:
        listed = "；".join(f"#{a.id} {shorten(a.title, 20)}" for a in found[:5])
        raise UserError(f"有多个活动，请写明活动号：{listed}")
    return found[0].id  # type: ignore[return-value]


def check_in(
    session: Session, actor: Actor, activity_id: int, *, at: datetime, now: datetime,
    tz: ZoneInfo,
) -> Outcome:
    """A member checks in; a repeat answers 已签到, a check-in after 请假 replaces the leave.

    Every write here stands alone (the attendance upsert or update; marking the activity held,
    which the next check-in repeats if it was lost), so the handlers run it in an autocommit
    session: a double tap is then one round trip to a database server."""
    activity = _activity(session, activity_id, user_id=actor.user_id)
    _member_may_act(session, actor, activity)
    if at < activity.checkin_opens_at:
        raise UserError(f"签到尚未开始，{fmt_when(activity.checkin_opens_at, tz)} 起可签到。")
    late = at > activity.late_after
    if at > activity.ends_at or (late and activity.late_policy == "refuse"):
        raise UserError("签到已截止，如需补签请联系支部书记。")
    method = "late" if late else "self"
    values = {
        "activity_id": activity.id, "user_id": actor.user_id, "status": "present",
        "method": method, "reason": "", "recorded_by": actor.user_id, "recorded_at": now,
        "message_at": at,
    }
    status = activity.mine
    if status is None:
        if upsert(session, Attendance, values, conflict=("activity_id", "user_id")):
            if activity.status == "planned":
                session.connection().execute(_HELD, {"activity_id": activity.id})
            return Outcome(activity.id, "签到成功（迟到）。" if late else "签到成功！", True)
        key = {"activity_id": activity.id, "user_id": actor.user_id}  # recorded meanwhile
        status = session.connection().execute(_STATUS, key).scalar_one()
    if status == "present":  # a double tap: the commonest repeat, answered without the ORM
        return Outcome(activity.id, "您已签到，无需重复签到。", False)
    text = "已由请假改为签到。" if status == "leave" else "签到成功！"
    row = _attendance(session, activity.id, actor.user_id)
    _update(row, status="present", method=method, reason="", by=actor.user_id, now=now, at=at)
    session.add(row)
    return Outcome(activity.id, text, True)


def prepare_leave(
    session: Session, actor: Actor, activity_id: int, *, at: datetime, now: datetime
) -> tuple[Row[Any], bool]:
    """Check a 请假 tap; the flag is True when its reason is already awaited (a double tap)."""
    activity = _activity(session, activity_id)
    _member_may_leave(session, actor, activity, at)
    waiting = session.exec(
        select(LeaveRequest.user_id).where(
            LeaveRequest.user_id == actor.user_id,
            LeaveRequest.activity_id == activity.id,
            LeaveRequest.asked_at >= now - LEAVE_REASON_TTL,
        )
    ).first()
    return activity, waiting is not None


def expect_leave_reason(
    session: Session, user_id: int, chat_id: int, activity_id: int,
    prompt_message_id: int | None, now: datetime,
) -> None:
    """Remember that the user's next message in `chat_id` (in a group: the reply to the prompt)
    is the reason for leave from `activity_id`."""
    values = {"activity_id": activity_id, "prompt_message_id": prompt_message_id, "asked_at": now}
    upsert(
        session, LeaveRequest, {"user_id": user_id, "chat_id": chat_id, **values},
        conflict=("user_id", "chat_id"), update=tuple(values),
    )


def take_leave_reason(
    session: Session, actor: Actor, text: str, reply_to_message_id: int | None, *,
    at: datetime, now: datetime, tz: ZoneInfo,
) -> Outcome | None:
    """Record leave if this message is an awaited reason; None lets the message pass on."""
    pending = session.get(LeaveRequest, (actor.user_id, actor.chat_id))
    if pending is None:
        return None
    if pending.asked_at < now - LEAVE_REASON_TTL:
        session.delete(pending)
        return None
    if actor.in_group and reply_to_message_id != pending.prompt_message_id:
        return None
    session.delete(pending)
    if text.strip() in ("取消", "不请了", "算了"):
        return Outcome(pending.activity_id, "已取消请假。", False)
    try:
        return record_leave(session, actor, pending.activity_id, text, at=at, now=now, tz=tz)
    except UserError as exc:  # answered and consumed; the request is over either way
        return Outcome(pending.activity_id, str(exc), False)


def record_leave(
    session: Session, actor: Actor, activity_id: int, reason: str, *,
    at: datetime, now: datetime, tz: ZoneInfo,
) -> Outcome:
    """Leave with a reason; a second one updates the reason, after checking in it is refused."""
    activity = _activity(session, activity_id)
    _member_may_leave(session, actor, activity, at)
    reason = clean(reason)[:500]
    if not reason:
        raise UserError("请说明请假原因。" + LEAVE_USAGE)
    values = {
        "activity_id": activity.id, "user_id": actor.user_id, "status": "leave",
        "method": "self", "reason": reason, "recorded_by": actor.user_id, "recorded_at": now,
        "message_at": at,
    }
    title = f"“{shorten(activity.title, 30)}”（{fmt_when(activity.starts_at, tz)}）"
    if upsert(session, Attendance, values, conflict=("activity_id", "user_id")):
        return Outcome(activity.id, f"已为您登记请假：{title}，原因：{reason}。", True)
    row = _attendance(session, activity.id, actor.user_id)
    changed = row.status != "leave"
    _update(row, status="leave", method="self", reason=reason, by=actor.user_id, now=now, at=at)
    session.add(row)
    return Outcome(activity.id, f"已更新请假原因：{reason}。", changed)


def leave(
    session: Session, actor: Actor, text: str, *, at: datetime, now: datetime, tz: ZoneInfo
) -> Outcome:
    """/leave [活动号] 原因."""
    words = text.split(maxsplit=1)
    query = ""
    if words and number(words[0]) is not None:
        query, text = words[0], words[1] if len(words) > 1 else ""
    if not text.strip():
        raise UserError("请说明请假原因。" + LEAVE_USAGE)
    activity_id = resolve_activity(session, actor, query, at=at, upcoming=True)
    return record_leave(session, actor, activity_id, text, at=at, now=now, tz=tz)


def proxy(
    session: Session, actor: Actor, activity_id: int, user_id: int, status: str, reason: str,
    *, now: datetime,
) -> Outcome:
    """补签/代签 by a secretary of the activity's branch, with a reason, into the audit log.

    Repeating the same correction changes nothing and logs nothing.
    """
    activity = _activity(session, activity_id)
    require_secretary(session, actor, activity.chat_id)
    if activity.status == "cancelled":
        raise UserError("该活动已取消，无需补登。")
    if status not in STATUS_LABELS:
        raise ValueError(status)
    reason = clean(reason)[:500]
    if not reason:
        raise UserError("请写明补签/代签原因。" + PROXY_USAGE)
    row = session.exec(
        select(Attendance).where(
            Attendance.activity_id == activity.id, Attendance.user_id == user_id
        )
    ).first()
    name = roster.names(session, [user_id])[user_id]
    label = STATUS_LABELS[status]
    if row is not None and (row.status, row.method, row.reason) == (status, "proxy", reason):
        return Outcome(activity.id, f"{name} 在活动 #{activity.id} 已登记为{label}，无需重复。", False)
    before = f"{STATUS_LABELS[row.status]}（{METHOD_LABELS[row.method]}）" if row else "未登记"
    if row is None:
        row = Attendance(activity_id=activity.id, user_id=user_id, status=status,
                         recorded_by=actor.user_id, message_at=now)
    _update(row, status=status, method="proxy", reason=reason, by=actor.user_id, now=now, at=now)
    session.add(row)
    if user_id > 0:  # an unlinked 名册 entry (-id) is on the roster already
        roster.note(session, activity.chat_id, user_id, now)
    session.add(AuditLog(
        at=now, actor_id=actor.user_id, chat_id=activity.chat_id, action="attendance.proxy",
        entity="attendance", entity_id=f"{activity.id}:{user_id}",
        detail=f"{name}：{before} → {label}；原因：{reason}",
    ))
    return Outcome(
        activity.id,
        f"已为 {name} 补登活动 #{activity.id}：{before} → {label}，原因：{reason}（已记入更正记录）。",
        True,
    )


def proxy_command(
    session: Session, actor: Actor, args: list[str], replied_user_id: int | None, *,
    now: datetime,
) -> Outcome:
    """/proxy 活动号 @用户或用户id [签到|请假|缺席] 原因 (the member may instead be the author of
    the message the command replies to)."""
    activity_id = number(args[0]) if args else None
    if activity_id is None:
        raise UserError(PROXY_USAGE)
    rest = args[1:]
    chat_id = _activity(session, activity_id).chat_id
    require_secretary(session, actor, chat_id)
    if replied_user_id is not None and not (rest and rest[0].startswith(("@", "＠"))):
        user_id = replied_user_id
    elif rest:
        user_id, rest = members.find_member(session, rest[0], [chat_id]), rest[1:]
    else:
        raise UserError(PROXY_USAGE)
    status = "present"
    if rest and rest[0] in PROXY_STATUSES:
        status, rest = PROXY_STATUSES[rest[0]], rest[1:]
    return proxy(session, actor, activity_id, user_id, status, " ".join(rest), now=now)


def cancel_activity(session: Session, actor: Actor, activity_id: int, *, now: datetime) -> Activity:
    """A secretary cancels an activity: no more check-ins, left out of statistics."""
    require_secretary(session, actor, _activity(session, activity_id).chat_id)
    activity = session.get(Activity, activity_id)
    assert activity is not None
    if activity.status != "cancelled":
        activity.status = "cancelled"
        session.add(activity)
        session.add(AuditLog(
            at=now, actor_id=actor.user_id, chat_id=activity.chat_id, action="activity.cancel",
            entity="activity", entity_id=str(activity.id), detail=activity.title,
        ))
    return activity


def recent_activities(session: Session, actor: Actor, tz: ZoneInfo, limit: int = 10, *,
                      now: datetime) -> str:
    """/activities: this branch's latest activities with their numbers, phase and counts."""
    if not actor.in_group:
        raise UserError("请在支部群中查看本支部的活动。")
    require_secretary(session, actor, actor.chat_id)
    activities = session.exec(
        select(Activity).where(Activity.chat_id == actor.chat_id)
        .order_by(col(Activity.starts_at).desc()).limit(limit)
    ).all()
    if not activities:
        return "本支部还没有活动。发布活动：" + REMIND_USAGE
    lines = ["本支部最近的活动："]
    for activity in activities:
        tally = counts(session, activity.id)  # type: ignore[arg-type]
        state = "" if activity.status == "cancelled" else (
            f"：已签到 {tally.get('present', 0)} / 请假 {tally.get('leave', 0)}"
        )
        marks = f"（{phase(activity, now)}）" + ("（补录）" if activity.backfill_reason else "")
        lines.append(
            f"#{activity.id} {fmt_when(activity.starts_at, tz)} 【{activity.kind}】"
            f"{shorten(activity.title, 30)}{marks}{state}"
        )
    lines.append("补签/代签：/proxy 活动号 @成员 原因；取消活动：/activities 取消 活动号；"
                 "会议记录：/minutes 活动号 议题：… 决议：… 纪要：…")
    return "\n".join(lines)


_ACTIVITY = Activity.__table__  # type: ignore[attr-defined]
_BY_ID = select(_ACTIVITY).where(_ACTIVITY.c.id == bindparam("activity_id"))
_ATTENDANCE = Attendance.__table__  # type: ignore[attr-defined]
_STATUS = select(_ATTENDANCE.c.status).where(
    _ATTENDANCE.c.activity_id == bindparam("activity_id"),
    _ATTENDANCE.c.user_id == bindparam("user_id"),
)
_BY_ID_WITH_MINE = select(_ACTIVITY, _STATUS.scalar_subquery().label("mine")).where(
    _ACTIVITY.c.id == bindparam("activity_id")
)
_HELD = (
    update(_ACTIVITY)
    .where(_ACTIVITY.c.id == bindparam("activity_id"), _ACTIVITY.c.status == "planned")
    .values(status="held")
)


def _activity(session: Session, activity_id: int, user_id: int | None = None) -> Row[Any]:
    """The activity as a read-only row, by a prepared statement: check-ins are the hot path.
    With `user_id`, its `mine` is that member's attendance status (None if not recorded): a
    double tap is then answered from this one round trip."""
    row = None
    if 0 < activity_id <= MAX_RECORD_ID:
        params = {"activity_id": activity_id, "user_id": user_id}
        statement = _BY_ID if user_id is None else _BY_ID_WITH_MINE
        row = session.connection().execute(statement, params).first()
    if row is None:
        raise UserError(f"没有找到活动 #{activity_id}。")
    return row


def _member_may_act(session: Session, actor: Actor, activity: Activity | Row[Any]) -> None:
    """Members act on their own branch's activities: in its group, or privately if on its roster."""
    if activity.status == "cancelled":
        raise UserError("该活动已取消。")
    if actor.in_group:
        if activity.chat_id != actor.chat_id:
            raise UserError("该活动不属于本群，请在活动所在的支部群操作。")
    elif not actor.is_global_admin and not roster.is_member(session, activity.chat_id, actor.user_id):
        raise UserError("您不在该活动所属的支部，无法签到或请假。")


def _member_may_leave(
    session: Session, actor: Actor, activity: Activity | Row[Any], at: datetime
) -> None:
    _member_may_act(session, actor, activity)
    if at > activity.ends_at:
        raise UserError("活动已结束，无法请假；如需补登请联系支部书记。")
    row = session.exec(
        select(Attendance.status, Attendance.method).where(
            Attendance.activity_id == activity.id, Attendance.user_id == actor.user_id
        )
    ).first()
    if row is not None and row[0] == "present" and row[1] != ROLE_METHOD:
        raise UserError("您已签到，无需请假；如需更正请联系支部书记。")


def _attendance(session: Session, activity_id: int, user_id: int) -> Attendance:
    return session.exec(
        select(Attendance).where(
            Attendance.activity_id == activity_id, Attendance.user_id == user_id
        )
    ).one()


def _update(
    row: Attendance, *, status: str, method: str, reason: str, by: int, now: datetime,
    at: datetime,
) -> None:
    row.status, row.method, row.reason = status, method, reason
    row.recorded_by, row.recorded_at, row.message_at = by, now, at
