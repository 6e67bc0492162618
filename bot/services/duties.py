"""A branch's duty calendar: the plans' duties and the 三会一课 cadence, with the branch's own
adjustments and completions; what is due soon, /done, /duty, and the reminder digest.

The calendar is derived from the very plans the QA answers from, so a newly ingested plan brings
its own duties. A period counts as done once it has `times` completions: a secretary's /done,
or a meeting of the duty's 三会一课 kind held in the period (a branch duty only; derived from
the meetings, not stored, so a cancelled meeting stops counting; it counts from its day on).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, event, func, update
from sqlmodel import Session, col, select

from bot.services.errors import UserError
from bot.services.people import Actor, require_secretary
from content.duties import (
    PERIOD_NAMES,
    RECURRING,
    Duty,
    duty_calendar,
    next_period_day,
    parse_cadence,
    period_key,
    plan_year,
    previous_period_day,
)
from content.ingest import ParsedPlan
from content.meetings import THREE_MEETINGS, meeting_kind
from storage.models import Activity, AuditLog, Chat, DutyCompletion, DutySetting
from storage.upsert import upsert

BRANCH_AUDIENCES = ("支部", "党员", "预备党员", "全体", "支部书记")
"""Whose duties are a branch's own; the rest (党委, 班子成员, 中心组…) are listed under 全部."""
PROGRESS_NAMES = {"week": "本周", "month": "本月", "two-months": "本两月", "quarter": "本季度",
                  "half-year": "本半年", "year": "本年"}
WARN_DAYS = (7, 1)
OVERDUE_EVERY = 7
QUOTE_MAX = 120
DONE_USAGE = "用法：/done 职责编号 [备注]，例如 /done 83e743 已于本月10日召开；编号见 /duties"
DUTY_USAGE = (
    "用法：/duty 职责编号 停用｜启用｜每季度2次（按本支部调整频次）｜恢复（按工作要点）"
)
OFF_WORDS = ("停用", "关闭", "禁用", "不适用")
ON_WORDS = ("启用", "开启", "打开")
RESET_WORDS = ("恢复", "默认", "重置")


@dataclass(frozen=True)
class BranchDuty:
    """A duty as it stands in one branch on one day."""

    duty: Duty  # with the branch's own cadence
    enabled: bool
    adjusted: bool
    done: int  # completions in the current period
    due: date | None  # the open deadline: this period's, or the next one's once this is done
    overdue_since: date | None  # the deadline that passed without enough completions
    meetings: tuple[int, ...] = ()  # held meetings (activity ids) counted in `done`

    @property
    def complete(self) -> bool:
        return self.done >= self.duty.times

    @property
    def order(self) -> tuple[int, date, str]:
        """Overdue first, then by the open deadline; duties without one last."""
        if self.overdue_since is not None:
            return 0, self.overdue_since, self.duty.title
        return 1, self.due or date.max, self.duty.title


def for_branch(duty: Duty) -> bool:
    """A duty of the branch itself (its meetings, its members), not of the 党委 or its leaders."""
    return any(who in BRANCH_AUDIENCES for who in duty.audience.split("、"))


class DutyService:
    """Derives the calendar from the plans (cached by their content) and keeps branch state."""

    def __init__(self, plans: Callable[[], list[ParsedPlan]], tz: ZoneInfo) -> None:
        self._plans = plans
        self.tz = tz
        self._cache: tuple[tuple[tuple[str, str], ...], list[Duty]] | None = None
        self._adopted: list[Duty] | None = None  # the calendar whose former ids were adopted
        self._lock = threading.Lock()

    def calendar(self) -> list[Duty]:
        """Every duty: the built-in cadence first, then each plan's, in document order."""
        plans = self._plans()
        key = tuple((plan.name, plan.content_hash) for plan in plans)
        with self._lock:
            if self._cache is None or self._cache[0] != key:
                self._cache = (key, duty_calendar(plans))
            return self._cache[1]

    def find(self, duty_id: str) -> Duty:
        """A duty by its id, or by an id it had before (a branch may still write that one)."""
        wanted = duty_id.strip().lstrip("#＃").lower()
        calendar = self.calendar()
        for duty in calendar:
            if duty.id == wanted:
                return duty
        for duty in calendar:
            if wanted in duty.former_ids:
                return duty
        raise UserError(f"没有编号为 {duty_id} 的工作职责，请发送 /duties 查看编号。")

    def adopt_former_ids(self, session: Session) -> None:
        """Branch settings and completions stored under an id a duty had before (a hash of its
        sentence, or a duty since merged into another) move to its id; once per calendar."""
        calendar = self.calendar()
        if self._adopted is calendar:
            return
        current = {duty.id for duty in calendar}
        for duty in calendar:
            former = [old for old in duty.former_ids if old not in current]
            if not former:
                continue
            taken = set(session.exec(select(DutySetting.chat_id).where(
                DutySetting.duty_id == duty.id)).all())
            session.exec(delete(DutySetting).where(  # type: ignore[call-overload]
                col(DutySetting.duty_id).in_(former), col(DutySetting.chat_id).in_(taken)))
            for model in (DutySetting, DutyCompletion):
                session.exec(update(model).where(  # type: ignore[call-overload]
                    col(model.duty_id).in_(former)).values(duty_id=duty.id))
        session.flush()

        def adopted(_session: Session) -> None:  # only once it is stored: a rollback undoes it
            self._adopted = calendar

        event.listen(session, "after_commit", adopted, once=True)

    def plan_note(self, today: date) -> str:
        """Which plans are not this year's, named as what the branch goes by: “按《…》执行”."""
        names = []
        for plan in self._plans():
            year = plan_year(plan)
            if year is not None and year != today.year:
                names.append(f"《{plan.title}》" + ("" if str(year) in plan.title else f"（{year}年）"))
        if not names:
            return ""
        return (f"本年度（{today.year}年）的工作要点尚未上传，按{'、'.join(names)}执行；"
                "新的工作要点发布后，书记或管理员发送文件即可更新。")

    def today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()

    # --- a branch's state --------------------------------------------------------------------

    def branch(self, session: Session, chat_id: int, today: date) -> list[BranchDuty]:
        """Every duty of the calendar as it stands in the branch today."""
        self.adopt_former_ids(session)
        settings = {
            s.duty_id: s for s in session.exec(
                select(DutySetting).where(DutySetting.chat_id == chat_id)
            ).all()
        }
        counts: dict[tuple[str, str], int] = dict(
            ((duty_id, key), n) for duty_id, key, n in session.exec(
                select(DutyCompletion.duty_id, DutyCompletion.period_key, func.count())
                .where(DutyCompletion.chat_id == chat_id)
                .group_by(DutyCompletion.duty_id, DutyCompletion.period_key)
            ).all()
        )
        chat = session.get(Chat, chat_id)
        tracked_from = chat.created_at.astimezone(self.tz).date() if chat else today
        held = self._held_meetings(session, chat_id, today)
        items = []
        for duty in self.calendar():
            duty = _effective(duty, settings.get(duty.id))
            kind = meeting_duty_kind(duty)
            linked: dict[str, list[int]] = defaultdict(list)
            for activity_id, day in held.get(kind, []) if kind else []:
                linked[period_key(duty.period, day)].append(activity_id)
            for key, ids in linked.items():
                counts[(duty.id, key)] = counts.get((duty.id, key), 0) + len(ids)
            item = _state(duty, settings.get(duty.id), counts, today, tracked_from)
            items.append(replace(item, meetings=tuple(linked.get(
                period_key(duty.period, today), ()))))
        return items

    def _held_meetings(self, session: Session, chat_id: int,
                       today: date) -> dict[str, list[tuple[int, date]]]:
        """The branch's 三会一课 held by the end of `today` (a meeting counts from its day on),
        by kind, each with its local day."""
        tomorrow = datetime.combine(today + timedelta(days=1), time(), self.tz).astimezone(UTC)
        found: dict[str, list[tuple[int, date]]] = defaultdict(list)
        for activity_id, kind, starts_at in session.exec(
            select(Activity.id, Activity.kind, Activity.starts_at).where(
                Activity.chat_id == chat_id, Activity.status != "cancelled",
                col(Activity.kind).in_(THREE_MEETINGS), Activity.starts_at < tomorrow,
            ).order_by(col(Activity.starts_at))
        ):
            found[kind].append((activity_id, starts_at.astimezone(self.tz).date()))
        return found

    def own(self, session: Session, chat_id: int, today: date) -> tuple[list[BranchDuty], int]:
        """The branch's own duties switched on, by deadline, and how many it switched off."""
        items = [i for i in self.branch(session, chat_id, today) if for_branch(i.duty)]
        return sorted((i for i in items if i.enabled), key=lambda i: i.order), sum(
            not i.enabled for i in items)

    def digest(self, session: Session, chat_id: int, today: date) -> list[str]:
        """The reminder lines for a branch's secretaries today, of its own duties: deadlines 7
        and 1 days ahead, and overdue duties (the day after the deadline, then weekly) until
        they are marked done, one line per kind of duty."""
        lines, overdue = [], defaultdict(list)
        for item in self.own(session, chat_id, today)[0]:
            if item.duty.period not in RECURRING:
                continue
            if item.overdue_since is not None:
                late = (today - item.overdue_since).days
                if late % OVERDUE_EVERY == 1:
                    overdue[item.duty.kind].append(item)
            if item.due is not None and not item.complete:
                left = (item.due - today).days
                if left in WARN_DAYS:
                    lines.append(f"⏰ 还有{left}天截止：{describe(item)}")
        overdue_lines = []
        for kind, items in overdue.items():
            first = min(i.overdue_since for i in items if i.overdue_since)
            late = (today - first).days
            what = "、".join(f"[{i.duty.id}] {i.duty.title}" for i in items)
            overdue_lines.append(f"❗ 已逾期{late}天（{kind}）：{what} —— {first.month}月{first.day}日"
                                 "到期，尚未登记完成")
        return overdue_lines + lines

    # --- secretaries' acts -------------------------------------------------------------------

    def mark_done(self, session: Session, actor: Actor, duty_id: str, *, now: datetime,
                  note: str = "", message_id: int | None = None,
                  chat_id: int | None = None) -> tuple[BranchDuty, bool]:
        """/done: record one completion for the current period in the branch (`chat_id`, from
        a private chat; else the group it is sent in); a repeated update adds nothing.
        Returns the duty's new state and whether a row was added."""
        if chat_id is None and not actor.in_group:
            raise UserError("请在支部群中使用 /done 标记本支部的工作职责。" + DONE_USAGE)
        branch = actor.chat_id if chat_id is None else chat_id
        require_secretary(session, actor, branch)
        duty = self.find(duty_id)
        today = self.today(now)
        item = self._item(session, branch, duty.id, today)
        if not item.enabled:
            raise UserError(f"职责 {duty.id} 已在本支部停用；如需恢复请发送 /duty {duty.id} 启用")
        key = period_key(item.duty.period, today)
        added = upsert(session, DutyCompletion, {
            "chat_id": branch, "duty_id": duty.id, "period_key": key,
            "done_by": actor.user_id, "done_at": now, "message_id": message_id,
            "note": note[:255],
        }, conflict=("chat_id", "message_id"))
        if added:
            session.add(AuditLog(actor_id=actor.user_id, chat_id=branch,
                                 action="duty_done", entity="duty", entity_id=duty.id,
                                 detail=f"{key} {note}".strip()))
            session.flush()
        return self._item(session, branch, duty.id, today), added

    def configure(self, session: Session, actor: Actor, duty_id: str, instruction: str,
                  *, now: datetime) -> BranchDuty:
        """/duty: switch a duty off or on for the branch, set its own cadence, or reset it."""
        if not actor.in_group:
            raise UserError("请在支部群中调整本支部的工作职责。" + DUTY_USAGE)
        require_secretary(session, actor, actor.chat_id)
        duty = self.find(duty_id)
        word = instruction.strip()
        setting = session.exec(select(DutySetting).where(
            DutySetting.chat_id == actor.chat_id, DutySetting.duty_id == duty.id)).first()
        if any(w in word for w in RESET_WORDS) and not any(w in word for w in ON_WORDS):
            if setting is not None:
                session.delete(setting)
            detail = "reset"
        else:
            setting = setting or DutySetting(chat_id=actor.chat_id, duty_id=duty.id)
            if any(w in word for w in OFF_WORDS):
                setting.enabled, detail = False, "disabled"
            elif any(w in word for w in ON_WORDS):
                setting.enabled, detail = True, "enabled"
            else:
                cadence = parse_cadence(word)
                if cadence is None:
                    raise UserError(f"无法识别“{word or '（空）'}”。{DUTY_USAGE}")
                (setting.period, setting.times), detail = cadence, f"{cadence[0]}x{cadence[1]}"
            setting.updated_by, setting.updated_at = actor.user_id, now
            session.add(setting)
        session.add(AuditLog(actor_id=actor.user_id, chat_id=actor.chat_id, action="duty_set",
                             entity="duty", entity_id=duty.id, detail=detail))
        session.flush()
        return self._item(session, actor.chat_id, duty.id, self.today(now))

    def _item(self, session: Session, chat_id: int, duty_id: str, today: date) -> BranchDuty:
        return next(i for i in self.branch(session, chat_id, today) if i.duty.id == duty_id)

    def state(self, session: Session, chat_id: int | None, duty_id: str,
              today: date) -> BranchDuty:
        """A duty as it stands in the branch, or as the plan states it (`chat_id` None)."""
        duty = self.find(duty_id)
        if chat_id is None:
            return BranchDuty(duty, True, False, 0, duty.due(today), None)
        return self._item(session, chat_id, duty.id, today)


def meeting_duty_kind(duty: Duty) -> str | None:
    """The 三会一课 kind whose held meetings count for a branch duty (召开支部委员会会议 → 支委会);
    None for duties of others (党委, 班子成员…) and for other work."""
    if "支部" not in duty.audience.split("、"):
        return None
    kind = meeting_kind(duty.title)
    return kind if kind in THREE_MEETINGS else None


def _effective(duty: Duty, setting: DutySetting | None) -> Duty:
    if setting is None or setting.period is None:
        return duty
    return duty.with_cadence(setting.period, setting.times or 1)


def _state(duty: Duty, setting: DutySetting | None, counts: dict[tuple[str, str], int],
           today: date, tracked_from: date) -> BranchDuty:
    """Where a duty stands: this period's count, the open deadline, and an unmet one behind."""
    enabled = setting is None or setting.enabled
    adjusted = setting is not None and setting.period is not None
    done = counts.get((duty.id, period_key(duty.period, today)), 0)
    item = BranchDuty(duty, enabled, adjusted, done, duty.due(today), None)
    if duty.period not in RECURRING:
        return replace(item, due=None)
    if item.due is not None and item.due < today:  # a window inside the period has passed
        if not item.complete and item.due >= tracked_from:
            item = replace(item, overdue_since=item.due)
        following = next_period_day(duty.period, today)
        return replace(item, due=duty.due(following) if following else None)
    if item.complete:
        following = next_period_day(duty.period, today)
        item = replace(item, due=duty.due(following) if following else None)
    before = previous_period_day(duty.period, today)
    if before is not None and item.overdue_since is None:
        before_due = duty.due(before)
        before_done = counts.get((duty.id, period_key(duty.period, before)), 0)
        if before_due and tracked_from <= before_due < today and before_done < duty.times:
            item = replace(item, overdue_since=before_due)
    return item


def describe(item: BranchDuty) -> str:
    """One line: id, title, cadence, progress and deadline."""
    duty = item.duty
    progress = f"（本期已完成 {item.done}/{duty.times}）" if duty.period in RECURRING else ""
    due = f"，截止 {item.due.month}月{item.due.day}日" if item.due and not item.complete else ""
    held = f"（会议 {'、'.join(f'#{i}' for i in item.meetings)}）" if item.meetings else ""
    return f"[{duty.id}] {duty.title} —— {duty.cadence}{progress}{held}{due}"


def brief(item: BranchDuty) -> str:
    """One line of /duties: what, by when, progress."""
    duty = item.duty
    head = f"[{duty.id}] {duty.title}"
    if duty.period not in RECURRING:
        return f"• {head}：{PERIOD_NAMES[duty.period]}"
    progress = f"{PROGRESS_NAMES[duty.period]} {item.done}/{duty.times}"
    if item.overdue_since is not None:
        day = item.overdue_since
        return f"❗ {head}：{day.month}月{day.day}日已到期未完成（{progress}）"
    due = f"{item.due.month}月{item.due.day}日前" if item.due else ""
    if item.complete:
        return f"✅ {head}：{progress} 已完成，下次{due}"
    return f"• {head}：{due}（{progress}）"


def detail(item: BranchDuty) -> str:
    """/duties 编号: the duty, who, and every sentence of the plans that states it."""
    duty = item.duty
    lines = [render(item, with_quote=False), f"对象：{duty.audience}"]
    for source in (duty.source, *duty.also):
        where = f"《{source.doc}》{source.section}" if source.section else f"《{source.doc}》"
        lines.append(f"原文：“{source.quote}”（{where}）")
    return "\n".join(lines)


def render(item: BranchDuty, with_quote: bool = True) -> str:
    """A duty for /duties: the line, who, and the plan's own sentence with its section."""
    lines = [describe(item)]
    if item.overdue_since is not None:
        lines[0] = "❗ " + lines[0] + f"（{item.overdue_since.month}月{item.overdue_since.day}日已到期未完成）"
    if not item.enabled:
        lines[0] += "（本支部已停用）"
    elif item.adjusted:
        lines[0] += "（本支部已调整频次）"
    if with_quote:
        source = item.duty.source
        quote = source.quote if len(source.quote) <= QUOTE_MAX else source.quote[:QUOTE_MAX - 1] + "…"
        where = f"《{source.doc}》{source.section}" if source.section else f"《{source.doc}》"
        lines.append(f"    对象：{item.duty.audience}｜原文：“{quote}”（{where}）")
    return "\n".join(lines)

