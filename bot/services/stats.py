"""Figures for secretaries (/stats, the chart, the private non-responder list) and for a member
about themself (/me).

Per the 2026 rules against 指尖上的形式主义 there are no rankings, leaderboards or online-time
counts: per-activity 应到/实到/请假/缺席, study completion rates, and names only in private.
应到 of an activity is the branch's roster during it (its 名册 when imported, else who was seen in
its group), 应学 of a study task the roster when it was posted; each plus anyone who responded.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_
from sqlmodel import Session, col, select

from bot.services import roster
from bot.services.branches import label_of
from bot.services.display import shorten
from bot.services.errors import UserError
from bot.services.localtime import PERIOD_NAMES, Period, fmt_day, fmt_when, local, period_of
from bot.services.people import Actor, is_secretary, require_secretary, secretary_branches
from storage.models import Activity, Attendance, StudyRecord, StudyTask

log = logging.getLogger(__name__)

STATS_USAGE = "用法：/stats [本月|本季度|本年]"
AUTO = "auto"
MAX_LINES = 30
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Noto Serif CJK SC",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC",
    "Heiti SC", "Arial Unicode MS",
)


@dataclass(frozen=True)
class ActivityTally:
    """One activity's 应到/实到/请假/缺席; `missing` are roster members who did not respond."""

    activity: Activity
    expected: int
    present: int
    late: int
    proxied: int
    leave: int
    absent: int
    missing: frozenset[int] = field(default_factory=frozenset)
    leave_reasons: tuple[tuple[int, str], ...] = ()
    absent_reasons: tuple[tuple[int, str], ...] = ()  # recorded absent (补登), with the reason


@dataclass(frozen=True)
class TaskTally:
    task: StudyTask
    expected: int
    done: int
    missing: frozenset[int] = field(default_factory=frozenset)

    @property
    def rate(self) -> float:
        return self.done / self.expected if self.expected else 0.0


@dataclass(frozen=True)
class Report:
    branch: str
    period: Period
    activities: list[ActivityTally]
    tasks: list[TaskTally]
    upcoming: list[Activity] = field(default_factory=list)
    """Meetings of the period yet to start (待召开): listed, never counted."""
    source: str = "群内成员"  # where 应到 comes from: 名册 or 群内成员


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def tally_activities(session: Session, activities: Sequence[Activity]) -> list[ActivityTally]:
    """Counts for each activity from its attendance rows and its branch's roster."""
    members = roster.memberships(session, {a.chat_id for a in activities})
    rows: dict[int, list[tuple[int, str, str, str]]] = defaultdict(list)
    ids = [a.id for a in activities if a.id is not None]
    for chunk in _chunks(ids):
        for activity_id, user_id, status, method, reason in session.exec(
            select(  # type: ignore[call-overload]
                Attendance.activity_id, Attendance.user_id, Attendance.status,
                Attendance.method, Attendance.reason,
            )
            .where(col(Attendance.activity_id).in_(chunk))
        ):
            rows[activity_id].append((user_id, status, method, reason))
    return [_tally(a, rows[a.id], members[a.chat_id]) for a in activities]  # type: ignore[index]


def _tally(
    activity: Activity, rows: list[tuple[int, str, str, str]],
    members: list[roster.Membership],
) -> ActivityTally:
    on_roster = {m.user_id for m in members if m.within(activity.starts_at, activity.ends_at)}
    responded = {user_id for user_id, *_ in rows}
    present = [r for r in rows if r[1] == "present"]
    leave = [(user_id, reason) for user_id, status, _method, reason in rows if status == "leave"]
    expected = len(on_roster | responded)
    return ActivityTally(
        activity=activity, expected=expected, present=len(present),
        late=sum(1 for r in present if r[2] == "late"),
        proxied=sum(1 for r in present if r[2] == "proxy"),
        leave=len(leave), absent=expected - len(present) - len(leave),
        missing=frozenset(on_roster - responded), leave_reasons=tuple(sorted(leave)),
        absent_reasons=tuple(sorted((user_id, reason) for user_id, status, _method, reason
                                    in rows if status == "absent")),
    )


def tally_tasks(session: Session, tasks: Sequence[StudyTask]) -> list[TaskTally]:
    """Completion of each task: who studied, out of the members when it was posted (who joined
    later owes it nothing) and anyone else who studied it."""
    members = roster.memberships(session, {t.chat_id for t in tasks})
    done: dict[int, set[int]] = defaultdict(set)
    ids = [t.id for t in tasks if t.id is not None]
    for chunk in _chunks(ids):
        for task_id, user_id in session.exec(
            select(StudyRecord.task_id, StudyRecord.user_id)
            .where(col(StudyRecord.task_id).in_(chunk))
        ):
            done[task_id].add(user_id)  # type: ignore[index]
    tallies = []
    for task in tasks:
        on_roster = {m.user_id for m in members[task.chat_id] if m.at(task.created_at)}
        studied = done[task.id]  # type: ignore[index]
        tallies.append(TaskTally(task, len(on_roster | studied), len(studied),
                                 frozenset(on_roster - studied)))
    return tallies


def branch_scope(session: Session, actor: Actor) -> list[int] | None:
    """The branches a secretary's /stats or /export covers: this group; privately, the
    branches granted to them; for a global admin in private, every branch (None)."""
    if actor.in_group:
        require_secretary(session, actor, actor.chat_id)
        return [actor.chat_id]
    if actor.is_global_admin:
        return None
    granted = secretary_branches(session, actor)
    if not granted:
        raise UserError("抱歉，此操作仅限支部书记使用；请在本支部群中发送该命令。")
    return granted


def branch_name(session: Session, chat_ids: list[int] | None) -> str:
    if chat_ids is None:
        return "全部支部"
    titles = [label_of(session, chat_id) for chat_id in chat_ids]
    return "、".join(titles)


def report(session: Session, chat_ids: list[int] | None, period: Period,
           now: datetime | None = None) -> Report:
    """The figures of the branches (None: all) for a period; cancelled activities left out.
    As of `now`, only meetings held by then (started) count; later ones are `upcoming`."""
    activities = select(Activity).where(
        Activity.status != "cancelled", Activity.starts_at >= period.start,
        Activity.starts_at < period.end,
    )
    tasks = select(StudyTask).where(
        StudyTask.created_at >= period.start, StudyTask.created_at < period.end
    )
    if chat_ids is not None:
        activities = activities.where(col(Activity.chat_id).in_(chat_ids))
        tasks = tasks.where(col(StudyTask.chat_id).in_(chat_ids))
    found = session.exec(activities.order_by(col(Activity.starts_at))).all()
    held = [a for a in found if now is None or a.starts_at <= now]
    return Report(
        branch=branch_name(session, chat_ids),
        period=period,
        activities=tally_activities(session, held),
        tasks=tally_tasks(session, session.exec(tasks.order_by(col(StudyTask.created_at))).all()),
        upcoming=[a for a in found if now is not None and a.starts_at > now],
        source=roster.expected_source(session, chat_ids),
    )


def stats(session: Session, actor: Actor, args: Sequence[str], *, now: datetime,
          tz: ZoneInfo) -> Report:
    """/stats [本月|本季度|本年] for a secretary's branches."""
    name = args[0] if args else "本月"
    if name not in PERIOD_NAMES or len(args) > 1:
        raise UserError(f"无法识别的统计范围“{' '.join(args)}”。{STATS_USAGE}")
    return report(session, branch_scope(session, actor), period_of(name, now, tz), now)


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "—"


def render_report(result: Report, tz: ZoneInfo) -> str:
    """The figures as text: each activity's 应到/实到/请假/缺席 and each task's completion."""
    period = result.period
    last_day = (local(period.end, tz) - timedelta(days=1)).date()
    lines = [
        f"📊 {result.branch} {period.name}统计"
        f"（{fmt_day(local(period.start, tz).date())}—{fmt_day(last_day)}）"
    ]
    acts = result.activities
    if acts:
        expected = sum(t.expected for t in acts)
        present = sum(t.present for t in acts)
        lines.append(f"\n活动 {len(acts)} 次，总体出席率 {_rate(present, expected)}"
                     f"（实到/应到；应到依据：{result.source}）")
        for tally in acts[-MAX_LINES:]:
            a = tally.activity
            extra = "，".join(
                part for part in (
                    f"迟到 {tally.late}" if tally.late else "",
                    f"补签 {tally.proxied}" if tally.proxied else "",
                ) if part
            )
            lines.append(
                f"• {local(a.starts_at, tz):%m-%d} 【{a.kind}】{shorten(a.title, 20)}：应到 {tally.expected}，"
                f"实到 {tally.present}{f'（{extra}）' if extra else ''}，请假 {tally.leave}，"
                f"缺席 {tally.absent}"
            )
        if len(acts) > MAX_LINES:
            lines.append(f"……更早的 {len(acts) - MAX_LINES} 次活动见 /export 台账")
    elif not result.upcoming:
        lines.append("\n本期没有活动记录。")
    else:
        lines.append("\n本期还没有已召开的活动。")
    for a in result.upcoming[:MAX_LINES]:
        lines.append(f"• {local(a.starts_at, tz):%m-%d} 【{a.kind}】{a.title[:20]}：待召开")
    if result.tasks:
        expected = sum(t.expected for t in result.tasks)
        done = sum(t.done for t in result.tasks)
        lines.append(f"\n学习任务 {len(result.tasks)} 项，总体完成率 {_rate(done, expected)}")
        for task in result.tasks[-MAX_LINES:]:
            lines.append(
                f"• #{task.task.id} {shorten(task.task.content, 20)}：已学习 {task.done}/{task.expected}"
                f"（{_rate(task.done, task.expected)}）"
            )
    else:
        lines.append("\n本期没有学习任务。")
    return "\n".join(lines)


def render_missing(session: Session, result: Report, tz: ZoneInfo) -> str:
    """Who has not responded, for the secretary's private chat only (never a public @-list)."""
    everyone = set().union(*(t.missing for t in result.activities),
                           *(t.missing for t in result.tasks))
    names = roster.names(session, everyone)
    lines = [f"🔒 {result.branch} {result.period.name}未响应名单（仅您可见）"]
    for tally in result.activities:
        if tally.missing:
            a = tally.activity
            who = "、".join(sorted(names[u] for u in tally.missing))
            lines.append(f"• #{a.id} {local(a.starts_at, tz):%m-%d} {shorten(a.title, 15)}：{who}")
    for task in result.tasks:
        if task.missing:
            who = "、".join(sorted(names[u] for u in task.missing))
            lines.append(f"• 学习任务 #{task.task.id} {shorten(task.task.content, 15)}：{who}")
    if len(lines) == 1:
        lines.append("本期所有成员均已响应。")
    return "\n".join(lines)


@lru_cache
def cjk_font() -> str | None:
    """An installed font family that has Chinese glyphs, or None."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def chart(result: Report, tz: ZoneInfo, font: str | None = AUTO) -> bytes | None:
    """A PNG: stacked 实到/请假/缺席 per activity, completion rate per study task.

    `font` is a font family with Chinese glyphs (found among the installed fonts by default);
    without one the labels fall back to ASCII (dates and numbers), never to boxes.
    """
    acts = result.activities[-MAX_LINES:]
    tasks = result.tasks[-MAX_LINES:]
    if not acts and not tasks:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if font == AUTO:
        font = cjk_font()
    zh = font is not None

    def words(chinese: str, plain: str) -> str:
        return chinese if zh else plain

    panels = [p for p in (acts, tasks) if p]
    heights = [max(1.0, 0.28 * len(p)) for p in panels]  # inches of bars per panel
    gaps = 0.7  # inches between panels, for the axis label and the next legend
    total = sum(heights) + gaps * (len(panels) - 1) + 1.3
    figure = Figure(figsize=(8, total), dpi=100)
    # Fixed margins instead of tight_layout, which measures every label and doubles the time.
    figure.subplots_adjust(left=0.3 if zh else 0.14, right=0.97, top=1 - 0.75 / total,
                           bottom=0.55 / total, hspace=gaps / (sum(heights) / len(panels)))
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, squeeze=False,
                           gridspec_kw={"height_ratios": heights})[:, 0]
    text_kw = {"fontfamily": font} if font else {}
    first, last = local(result.period.start, tz), local(result.period.end, tz) - timedelta(days=1)
    recent = f"（最近 {MAX_LINES} 次活动）" if len(result.activities) > MAX_LINES else ""
    figure.suptitle(words(f"{result.branch} {result.period.name}统计{recent}",
                          f"Statistics {first:%Y-%m-%d} - {last:%Y-%m-%d}"), **text_kw)
    index = 0
    if acts:
        ax = axes[index]
        index += 1
        labels = [
            f"{local(t.activity.starts_at, tz):%m-%d} "
            + words(shorten(t.activity.title, 10), f"#{t.activity.id}")
            for t in acts
        ]
        rows = range(len(acts))
        present = [t.present for t in acts]
        leave = [t.leave for t in acts]
        absent = [t.absent for t in acts]
        ax.barh(rows, present, color="#c0392b", label=words("实到", "present"))
        ax.barh(rows, leave, left=present, color="#f39c12", label=words("请假", "leave"))
        ax.barh(rows, absent, left=[p + q for p, q in zip(present, leave, strict=True)],
                color="#bdc3c7", label=words("缺席", "absent"))
        ax.set_yticks(list(rows), labels, **text_kw)
        ax.invert_yaxis()
        ax.set_xlabel(words("人数", "people"), **text_kw)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncol=3, frameon=False,
                  prop={"family": font, "size": 8} if font else {"size": 8})
    if tasks:
        ax = axes[index]
        rows = range(len(tasks))
        ax.barh(rows, [t.rate * 100 for t in tasks], color="#2e86c1")
        ax.set_yticks(list(rows), [
            f"#{t.task.id} " + words(shorten(t.task.content, 10), "") for t in tasks
        ], **text_kw)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel(words("学习完成率 %", "study completion %"), **text_kw)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def my_record(
    session: Session, actor: Actor, user_id: int, *, now: datetime, tz: ZoneInfo
) -> str:
    """/me: a member's own attendance and study this year. A secretary may look up a member of
    their branch and sees only the branches they run (never the member's other branches); a
    member sees nobody else's record."""
    stays = roster.memberships_of(session, user_id)
    shown: list[int] | None = None  # every branch
    if user_id != actor.user_id and not actor.is_global_admin:
        shown = sorted(chat_id for chat_id in stays if is_secretary(session, actor, chat_id))
        if not shown:
            raise UserError("抱歉，您只能查看自己的记录；书记可查看本支部成员的记录。")
        stays = defaultdict(list, {chat_id: stays[chat_id] for chat_id in shown})

    def in_shown(column: Any) -> list[Any]:
        return [] if shown is None else [col(column).in_(shown)]

    year = period_of("本年", now, tz)
    in_year = (Activity.starts_at >= year.start, Activity.starts_at < year.end)
    answered: dict[int, tuple[str, str]] = {
        activity_id: (status, method)
        for activity_id, status, method in session.exec(
            select(Attendance.activity_id, Attendance.status, Attendance.method)
            .join(Activity, col(Activity.id) == Attendance.activity_id)
            .where(Attendance.user_id == user_id, *in_year, *in_shown(Activity.chat_id))
        )
    }
    activities = [
        a for a in session.exec(
            select(Activity).where(
                Activity.status != "cancelled", Activity.starts_at <= now, *in_year,
                or_(col(Activity.chat_id).in_(list(stays)), col(Activity.id).in_(list(answered))),
            ).order_by(col(Activity.starts_at))
        )
        if a.id in answered or any(m.within(a.starts_at, a.ends_at) for m in stays[a.chat_id])
    ]

    def state(a: Activity) -> str:
        status, method = answered.get(a.id or 0, ("", ""))
        if status == "present":
            return "出席" + {"late": "（迟到）", "proxy": "（补签）"}.get(method, "")
        if status == "leave":
            return "请假"
        return "缺席" if status == "absent" or a.ends_at < now else "未签到"

    states = [state(a) for a in activities]
    records = session.exec(
        select(StudyRecord.task_id).where(
            StudyRecord.user_id == user_id, StudyRecord.recorded_at >= year.start,
            StudyRecord.recorded_at < year.end, *in_shown(StudyRecord.chat_id),
        )
    ).all()
    studied = {task_id for task_id in records if task_id is not None}
    tasks = {  # those posted while they belonged (the 应学), and any they studied anyway
        task_id for task_id, chat_id, posted in session.exec(
            select(StudyTask.id, StudyTask.chat_id, StudyTask.created_at).where(
                col(StudyTask.chat_id).in_(list(stays)), StudyTask.created_at >= year.start,
                StudyTask.created_at < year.end,
            )
        )
        if task_id in studied or any(m.at(posted) for m in stays[chat_id])
    }
    late = states.count("出席（迟到）")
    where = "" if shown is None else f"在{branch_name(session, shown)}"
    lines = [
        f"📋 {roster.names(session, [user_id])[user_id]} {local(now, tz).year}年{where}的记录",
        f"参加活动 {sum(s.startswith('出席') for s in states)} 次"
        + (f"（其中迟到 {late} 次）" if late else "")
        + f"，请假 {states.count('请假')} 次，缺席 {states.count('缺席')} 次",
        f"学习任务已完成 {len(studied & tasks)}/{len(tasks)} 项，"
        f"自学登记 {records.count(None)} 次",
    ]
    if activities:
        lines.append("\n最近的活动：")
        for a, shown_state in list(zip(activities, states, strict=True))[-10:]:
            lines.append(f"• {local(a.starts_at, tz):%m-%d} 【{a.kind}】{shorten(a.title, 20)}"
                         f"：{shown_state}")
    leaves = upcoming_leaves(session, user_id, now=now, chat_ids=shown)
    if leaves:
        lines.append("\n已请假（尚未召开）：")
        lines += [f"• {fmt_when(a.starts_at, tz)} 【{a.kind}】{shorten(a.title, 20)}"
                  + (f"（原因：{reason}）" if reason else "") for a, reason in leaves]
    return "\n".join(lines)


def upcoming_leaves(session: Session, user_id: int, *, now: datetime,
                    chat_ids: list[int] | None = None) -> list[tuple[Activity, str]]:
    """The member's 请假 for meetings not held yet (in the given branches; None: all), soonest
    first, with the reason they gave."""
    return [(activity, reason) for activity, reason in session.exec(
        select(Activity, Attendance.reason)
        .join(Attendance, col(Attendance.activity_id) == Activity.id)
        .where(Attendance.user_id == user_id, Attendance.status == "leave",
               Activity.status != "cancelled", Activity.starts_at > now,
               *([] if chat_ids is None else [col(Activity.chat_id).in_(chat_ids)]))
        .order_by(col(Activity.starts_at), col(Activity.id))
    )]
