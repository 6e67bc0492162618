"""Reminders: secretaries' rules in Chinese, and every fire delivered at most once per chat.

The database is the source of truth. A Reminder row holds the parsed rule; APScheduler only
computes fire times (bot/scheduler.py rebuilds its jobs from these rows). Each fire claims one
Delivery row per chat (unique: reminder, fire time, chat) before anything is sent, so a restart,
a repeated job or a second replica can never send it twice. After downtime, a fire missed by less
than its kind's grace time is sent once; older ones are reported to the secretaries privately
instead of flooding the group. A send cut off by a crash is never repeated (it is reported).
Telegram stays behind `Sender`, so all of this runs in tests without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlalchemy import select as columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot.services import attendance, study
from bot.services.branches import UNNAMED, branch_label, branch_labels
from bot.services.display import shorten
from bot.services.duties import DutyService
from bot.services.errors import UserError
from bot.services.localtime import fmt_day, fmt_when
from bot.services.organization import branches_only
from bot.services.people import Actor, require_secretary
from bot.services.posts import Post, attach_message
from content.meetings import OTHER, meeting_kind
from content.timerules import TimeRule, is_workday, working_days_around
from content.when import EXAMPLES, RuleError, parse_when
from storage.db import Database
from storage.models import (
    Activity,
    AuditLog,
    Chat,
    Delivery,
    Reminder,
    RoleGrant,
    StudyTask,
)
from storage.upsert import upsert

log = logging.getLogger(__name__)

GRACE = {
    "meeting": timedelta(minutes=30),
    "notice": timedelta(hours=1),
    "study": timedelta(hours=6),
    "duty": timedelta(hours=12),
}
"""How late a fire may still be sent after downtime; older fires are reported instead."""
KIND_LABELS = {"notice": "通知", "meeting": "会议", "study": "学习", "duty": "职责提醒"}
_EXPLICIT = {"会议": "meeting", "活动": "meeting", "学习": "study", "通知": "notice", "提醒": "notice"}
_MEETING_WORDS = ("会议", "开会", "座谈", "大会", "活动")
ALL_BRANCHES = ("全部支部", "所有支部", "全体支部")
SCHEDULE_USAGE = (
    "用法：/schedule 时间规则 内容，例如 /schedule 每月最后一个周五 15:00 主题党日；"
    f"时间规则示例：{EXAMPLES}"
)
CANCEL_USAGE = "用法：/cancel 提醒编号，编号见 /reminders；私聊时可加支部名称：/cancel 3 第一支部"
MAX_PER_CHAT = 100
DIGEST_KEY = "duty-digest"
DIGEST_RULE = "每天 09:00"
SEND_CONCURRENCY = 8
REPORT_LIMIT = 10
STILL_PENDING = col(Delivery.status) == "pending"
"""upsert's condition for turning a row into 'missed' (one object: upsert caches by it)."""


# --- the boundary to Telegram ------------------------------------------------------------------

class ChatUnreachable(Exception):
    """The bot was blocked, removed from the group, or the chat no longer exists."""


class SendUncertain(Exception):
    """No answer says whether the message arrived (a timeout, a 5xx, a dropped connection, a
    crash mid-send): recorded as uncertain and reported to the secretaries, never repeated."""


class Sender(Protocol):
    """What the engine needs from Telegram; bot/scheduler.py implements it over the Bot API."""

    async def send(self, chat_id: int, post: Post) -> int:
        """Send within Telegram's limits; the message id, or ChatUnreachable / SendUncertain /
        another exception for a send that certainly failed."""

    async def chat_admins(self, chat_id: int) -> list[int]:
        """The group's human administrators (its secretaries by Telegram's account)."""


# --- scheduling by secretaries -------------------------------------------------------------------

@dataclass(frozen=True)
class ReminderView:
    """A reminder as /reminders shows it (`number`: its #, as people type it)."""

    number: int
    kind: str
    scope: str
    text: str
    rule: str
    next_fire: datetime | None
    branch: str = ""
    """The branch's name, when listed in a private chat."""


@dataclass(frozen=True)
class Schedule:
    """What the scheduler needs to (re)build one job."""

    reminder_id: int
    kind: str
    active: bool
    spec: str  # the stored rule (TimeRule JSON)
    next_fire: datetime | None  # the first fire not yet handled; in the past when missed
    version: datetime


def rest_day_note(command: str, first: datetime | None, number: int, tz: ZoneInfo) -> str:
    """For a reminder first firing on a rest day: say so, with the /schedule that moves such
    dates to the working day after (顺延) or before (提前); empty on a working day."""
    if first is None or is_workday(day := first.astimezone(tz).date()):
        return ""
    before, after = working_days_around(day)
    return (f"注意：首次提醒日 {fmt_day(day)} 不是工作日（节假日或周末）。如需避开，请发送"
            f" /cancel {number}，再发送 /schedule {command}（遇节假日顺延）（改到 {fmt_day(after)}）"
            f"或 /schedule {command}（遇节假日提前）（改到 {fmt_day(before)}）。")


def shown_number(reminder: Reminder) -> int:
    """The # people see: the reminder's number in its chat (a system reminder's id)."""
    return reminder.number or reminder.id or 0


def kind_of(content: str) -> tuple[str, str]:
    """The kind a reminder's content asks for ('会议：…' or by its words) and the content."""
    for word, kind in _EXPLICIT.items():
        for opening, closing in (("", "：:"), ("【", "】"), ("[", "]")):
            after = content[len(opening + word):]
            if content.startswith(opening + word) and after and after[0] in closing:
                return kind, after[1:].strip()
    if meeting_kind(content) != OTHER or any(w in content for w in _MEETING_WORDS):
        return "meeting", content
    if "学习" in content:
        return "study", content
    return "notice", content


class ReminderService:
    """Secretaries' reminders and the delivery of their fires; Telegram-free."""

    def __init__(self, db: Database, tz: ZoneInfo, duties: DutyService,
                 clock: Callable[[], datetime], *, open_mode: bool = True) -> None:
        self.db = db
        self.open_mode = open_mode  # else only registered branches get what goes to all
        self.tz = tz
        self.duties = duties
        self.clock = clock

    def schedule(self, session: Session, actor: Actor, text: str, *, now: datetime,
                 message_id: int | None = None) -> tuple[Reminder, datetime | None]:
        """/schedule 时间规则 内容 (a global admin may prefix 全部支部): the stored reminder and
        its first fire time; the same command message again returns the reminder it made."""
        if message_id is not None:
            made = session.exec(select(Reminder).where(
                Reminder.chat_id == actor.chat_id, Reminder.source_message_id == message_id)).first()
            if made is not None:
                return made, made.next_fire_at
        body = " ".join(text.split())
        if not body:
            raise UserError(SCHEDULE_USAGE)
        scope = "chat"
        for word in ALL_BRANCHES:
            if body.startswith(word):
                scope, body = "branches", body[len(word):].strip()
        if scope == "branches":
            if not actor.is_global_admin:
                raise UserError("只有管理员可以向全部支部发送提醒。")
        elif not actor.in_group:
            raise UserError("请在支部群中设置提醒（管理员可私聊发送“/schedule 全部支部 时间规则 内容”）。")
        else:
            require_secretary(session, actor, actor.chat_id)
        try:
            when = parse_when(body, now, self.tz, want="rule")
        except RuleError as exc:
            raise UserError(f"{exc}\n{SCHEDULE_USAGE}") from None
        if when is None or when.rule is None:
            raise UserError(f"无法识别时间规则“{body.split()[0][:20]}”。示例：{EXAMPLES}")
        rule, (kind, content) = when.rule, kind_of(when.rest)
        if not content:
            raise UserError("请在时间规则后写上提醒内容。" + SCHEDULE_USAGE)
        if kind == "meeting":  # place/host/recorder are read alike
            attendance.parse_remind(content, now, self.tz, start_at=when.start)
        active = session.exec(select(Reminder.id).where(
            Reminder.chat_id == actor.chat_id, col(Reminder.active))).all()
        if len(active) >= MAX_PER_CHAT:
            raise UserError(f"本群已有 {len(active)} 条提醒，请先用 /cancel 取消不需要的。")
        first = rule.next_after(now, self.tz)
        last = session.exec(select(func.max(Reminder.number)).where(
            Reminder.chat_id == actor.chat_id)).one()
        reminder = Reminder(
            chat_id=actor.chat_id, scope=scope, kind=kind, text=content[:2000],
            rule=rule.label[:255], spec=json.dumps(rule.to_spec()), created_by=actor.user_id,
            created_at=now, updated_at=now, next_fire_at=first, source_message_id=message_id,
            number=(last or 0) + 1,
        )
        session.add(reminder)
        session.flush()
        session.add(AuditLog(actor_id=actor.user_id, chat_id=actor.chat_id, action="schedule",
                             entity="reminder", entity_id=str(reminder.id),
                             detail=f"{rule.label} {content[:100]}"))
        return reminder, first

    def listing(self, session: Session, actor: Actor, *, now: datetime,
                branches: Sequence[int] = ()) -> list[ReminderView]:
        """/reminders: this group's active reminders (and, for admins, those to all branches);
        in a private chat, those of `branches` (the ones the actor runs), each named."""
        if actor.in_group:
            require_secretary(session, actor, actor.chat_id)
        elif not actor.is_global_admin and not branches:
            raise UserError("抱歉，此操作仅限支部书记使用；请在本支部群中发送 /reminders。")
        query = select(Reminder).where(col(Reminder.active), Reminder.system_key == None)  # noqa: E711
        own = Reminder.scope == "chat"
        if actor.in_group and actor.is_global_admin:
            query = query.where((Reminder.chat_id == actor.chat_id) | (Reminder.scope == "branches"))
        elif actor.in_group:
            query = query.where(Reminder.chat_id == actor.chat_id, own)
        elif actor.is_global_admin:
            query = query.where((col(Reminder.chat_id).in_(branches) & own)
                                | (Reminder.scope == "branches"))
        else:
            query = query.where(col(Reminder.chat_id).in_(branches), own)
        reminders = session.exec(query.order_by(col(Reminder.chat_id), col(Reminder.id))).all()
        names = {} if actor.in_group else branch_labels(
            session, {r.chat_id for r in reminders if r.scope == "chat"})
        views = []
        for reminder in reminders:
            rule = _rule(reminder)
            base = max(reminder.last_fire_at or reminder.created_at, now)
            views.append(ReminderView(shown_number(reminder), reminder.kind, reminder.scope,
                                      reminder.text, reminder.rule, rule.next_after(base, self.tz),
                                      names.get(reminder.chat_id, "")))
        return views

    def cancel(self, session: Session, actor: Actor, text: str, *, now: datetime,
               branches: Sequence[int] | None = ()) -> tuple[Reminder, str]:
        """/cancel 编号 [支部名称]: the reminder cancelled and its branch's name. In a group,
        the group's reminder of that number; in private, one of `branches` (those the actor
        runs, None for a global admin: all) or the actor's own chat, asking which when the
        number is used in several."""
        number, _, branch = text.strip().partition(" ")
        number, branch = number.lstrip("#＃"), branch.strip()
        if not number.isdigit() or len(number) > 9:
            raise UserError(CANCEL_USAGE)
        query = select(Reminder).where(Reminder.number == int(number),
                                       col(Reminder.system_key).is_(None))
        if actor.in_group:
            chats: Sequence[int] | None = [actor.chat_id]
        elif branches is not None and not branches:
            raise UserError("抱歉，此操作仅限支部书记使用；请在本支部群中发送该命令。")
        else:
            chats = None if branches is None else [*branches, actor.chat_id]
        if chats is not None:
            query = query.where(col(Reminder.chat_id).in_(chats))
        found = session.exec(query).all()
        labels = branch_labels(session, {r.chat_id for r in found})
        label = {r.id: "全部支部" if r.scope == "branches" else labels.get(r.chat_id) or UNNAMED
                 for r in found}
        found = sorted((r for r in found if branch in label[r.id]), key=lambda r: label[r.id])
        where = "本群" if actor.in_group else "您管理的支部"
        if not found:
            raise UserError(f"{where}没有编号为 {number} 的提醒。" + CANCEL_USAGE)
        if len(found) > 1:
            raise UserError(f"编号 {number} 在几个支部都有提醒，请注明支部：\n" + "\n".join(
                f"/cancel {number} {label[r.id]}（{r.rule}｜{shorten(r.text, 20)}）"
                for r in found))
        [reminder] = found
        if reminder.scope == "branches" and not actor.is_global_admin:
            raise UserError("只有管理员可以取消发往全部支部的提醒。")
        if actor.in_group:
            require_secretary(session, actor, reminder.chat_id)
        if not reminder.active:
            raise UserError(f"{label[reminder.id]}的提醒 #{number} 已经取消或已发送完毕。")
        reminder.active, reminder.updated_at = False, now
        session.add(reminder)
        session.add(AuditLog(actor_id=actor.user_id, chat_id=reminder.chat_id, action="cancel",
                             entity="reminder", entity_id=str(reminder.id),
                             detail=reminder.rule))
        return reminder, label[reminder.id]

    # --- what the scheduler builds its jobs from ---------------------------------------------

    def ensure_digest(self, session: Session, now: datetime) -> None:
        """The one system reminder that sends each branch's duty deadlines every morning."""
        when = parse_when(DIGEST_RULE, now, self.tz, want="rule")
        assert when is not None and when.rule is not None
        rule = when.rule
        upsert(session, Reminder, {
            "chat_id": 0, "scope": "duties", "kind": "duty", "text": "工作职责提醒",
            "rule": rule.label, "spec": json.dumps(rule.to_spec()), "created_at": now,
            "updated_at": now, "active": True, "system_key": DIGEST_KEY,
        }, conflict=("system_key",))

    def schedules(self, session: Session, ids: Sequence[int] | None = None) -> list[Schedule]:
        """Every active reminder's job (or the given reminders', active or not)."""
        query = columns(*(col(c) for c in (
            Reminder.id, Reminder.kind, Reminder.active, Reminder.spec, Reminder.last_fire_at,
            Reminder.next_fire_at, Reminder.created_at, Reminder.updated_at)))
        if ids is None:
            query = query.where(col(Reminder.active))
        else:
            query = query.where(col(Reminder.id).in_(ids))
        result = []
        for rid, kind, active, spec, last, stored, created, updated in session.execute(query):
            first = None
            if active:
                # The row keeps its next fire; it is derived from the rule, so recompute it
                # when it is missing or behind the last fire handled.
                first = stored if stored and (last is None or stored > last) else (
                    TimeRule.from_json(spec).next_after(last or created, self.tz))
            result.append(Schedule(rid, kind, first is not None, spec, first, updated))
        return result

    # --- firing ------------------------------------------------------------------------------

    async def fire(self, reminder_id: int, fire_time: datetime, sender: Sender, *,
                   worker: str, stopping: Callable[[], bool] = lambda: False) -> None:
        """Deliver one fire: once per chat, or report it when it is past its grace time."""
        with self.db.session() as session:
            reminder = session.get(Reminder, reminder_id)
            if reminder is None or not reminder.active:
                return
            if reminder.last_fire_at is not None and fire_time <= reminder.last_fire_at:
                return  # already handled (a rebuilt job, another replica)
            rule = _rule(reminder)
            skipped = rule.fires_between(reminder.last_fire_at or reminder.created_at, fire_time,
                                         self.tz, limit=REPORT_LIMIT)
            session.expunge(reminder)
        late = self.clock() - fire_time > GRACE[reminder.kind]
        texts = await self._texts(reminder, fire_time, sender)
        targets = list(texts)
        abandoned = self._mark_abandoned(reminder, fire_time, worker)
        missed = self._mark_missed(reminder.id or 0, skipped, targets)
        if late:
            missed += self._mark_missed(reminder.id or 0, [fire_time], targets)
        else:
            self._claim(reminder.id or 0, fire_time, targets)
            abandoned += await self._deliver(reminder, fire_time, texts, sender, worker, stopping)
        if reminder.kind != "duty":
            if missed:
                await self._report_missed(reminder, missed, late, sender)
            if abandoned:
                await self._report_uncertain(reminder, fire_time, abandoned, sender)
        self._finish(reminder.id or 0, fire_time, rule)

    async def _texts(self, reminder: Reminder, fire_time: datetime,
                     sender: Sender) -> dict[int, str]:
        """Each target chat and its text (a duty digest differs per recipient)."""
        if reminder.scope == "duties":
            return await self._digests(fire_time, sender)
        with self.db.session() as session:
            if reminder.scope == "branches":
                chats = session.exec(select(Chat.id).where(
                    branches_only(self.open_mode), col(Chat.reachable))).all()
            else:
                chats = [reminder.chat_id]
        return {chat_id: reminder.text for chat_id in chats}

    async def _digests(self, fire_time: datetime, sender: Sender) -> dict[int, str]:
        today = fire_time.astimezone(self.tz).date()
        with self.db.session() as session:
            branches = session.exec(select(Chat).where(
                branches_only(self.open_mode), col(Chat.reachable))).all()
            lines = {b.id: (branch_label(b), self.duties.digest(session, b.id, today))
                     for b in branches}
        by_recipient: dict[int, list[str]] = defaultdict(list)
        for chat_id, (title, items) in lines.items():
            if not items:
                continue
            recipients = await self.secretary_chats(chat_id, sender) or [chat_id]
            for recipient in recipients:
                by_recipient[recipient].append(f"【{title}】\n" + "\n".join(items))
        footer = "完成后发送 /done 职责编号（在支部群或这里私聊均可）；不适用的职责可在群里用 /duty 编号 停用。"
        return {
            recipient: f"📋 工作职责提醒（{fmt_day(today)}）\n\n" + "\n\n".join(parts) + f"\n\n{footer}"
            for recipient, parts in by_recipient.items()
        }

    def _claim(self, reminder_id: int, fire_time: datetime, chats: Sequence[int]) -> None:
        """One pending row per chat; rows already there (a repeated fire) stay as they are."""
        if not chats:
            return
        now = self.clock()
        with self.db.session() as session:
            insert = (postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert)
            for start in range(0, len(chats), 500):
                rows = [{"reminder_id": reminder_id, "fire_time": fire_time, "chat_id": chat_id,
                         "status": "pending", "worker": "", "error": "", "updated_at": now}
                        for chat_id in chats[start:start + 500]]
                session.execute(insert(Delivery).values(rows).on_conflict_do_nothing(
                    index_elements=["reminder_id", "fire_time", "chat_id"]))

    async def _deliver(self, reminder: Reminder, fire_time: datetime, texts: dict[int, str],
                       sender: Sender, worker: str, stopping: Callable[[], bool]) -> list[int]:
        """Send the pending rows; returns the chats whose send failed or may not have arrived."""
        with self.db.session() as session:
            pending = session.execute(columns(col(Delivery.id), col(Delivery.chat_id)).where(
                col(Delivery.reminder_id) == reminder.id, col(Delivery.fire_time) == fire_time,
                col(Delivery.status) == "pending")).all()
        gate = asyncio.Semaphore(SEND_CONCURRENCY)
        unreachable: list[int] = []
        uncertain: list[int] = []

        async def one(delivery_id: int, chat_id: int) -> None:
            async with gate:
                if stopping():
                    return
                try:
                    post = self._start(delivery_id, reminder, chat_id, fire_time, texts, worker)
                except Exception as exc:  # e.g. the activity could not be opened: not sent
                    log.exception("reminder %s: could not prepare for %s", reminder.id, chat_id)
                    with self.db.session() as session:
                        _set(session, delivery_id, self.clock(), status="failed",
                             error=repr(exc)[:255])
                    uncertain.append(chat_id)
                    return
                if post is None:
                    return
                try:
                    message_id = await sender.send(chat_id, post)
                except ChatUnreachable as exc:
                    self._settle(delivery_id, worker, "unreachable", error=str(exc))
                    unreachable.append(chat_id)
                except SendUncertain as exc:
                    self._settle(delivery_id, worker, "uncertain", error=str(exc))
                    uncertain.append(chat_id)
                except Exception as exc:  # a send that certainly failed: recorded, reported
                    log.warning("reminder %s to %s failed: %r", reminder.id, chat_id, exc)
                    self._settle(delivery_id, worker, "failed", error=repr(exc))
                    uncertain.append(chat_id)
                else:
                    self._settle(delivery_id, worker, "sent", message_id=message_id)

        await asyncio.gather(*(one(d, c) for d, c in pending))
        for chat_id in unreachable:
            await self._unreachable(reminder, chat_id, sender)
        return uncertain

    def _start(self, delivery_id: int, reminder: Reminder, chat_id: int, fire_time: datetime,
               texts: dict[int, str], worker: str) -> Post | None:
        """Take the row (only one worker can) and prepare its message; an activity or a study
        task is opened here, in the same transaction, so it exists once per delivery."""
        with self.db.session() as session:
            taken = session.execute(
                update(Delivery)
                .where(col(Delivery.id) == delivery_id, col(Delivery.status) == "pending")
                .values(status="sending", worker=worker, updated_at=self.clock())
                .returning(col(Delivery.id))
            ).first()
            if taken is None:
                return None
            text = texts.get(chat_id)
            if text is None:  # no longer a target (the digest changed between two runs)
                _set(session, delivery_id, self.clock(), status="failed", error="no longer a target")
                return None
            chat = session.get(Chat, chat_id)
            if chat is not None and not chat.reachable:
                _set(session, delivery_id, self.clock(), status="unreachable",
                     error="chat marked unreachable")
                return None
            post, activity_id = self._post(session, reminder, chat_id, fire_time, text)
            if activity_id is not None:
                _set(session, delivery_id, self.clock(), activity_id=activity_id)
            return post

    def _post(self, session: Session, reminder: Reminder, chat_id: int, fire_time: datetime,
              text: str) -> tuple[Post, int | None]:
        if reminder.kind == "meeting":
            draft = attendance.parse_remind(text, fire_time, self.tz, start_at=fire_time)
            activity = attendance.open_activity(
                session, chat_id, draft.title, draft.kind, draft.starts_at, None,
                ends_at=draft.ends_at, place=draft.place, host=draft.host,
                recorder=draft.recorder, content=draft.content, late_policy=draft.late_policy,
                poster=reminder.created_by,
            )
            post = attendance.activity_post(session, activity.id or 0, self.tz)
            return Post(f"⏰ 定时提醒\n{post.text}", post.buttons), activity.id
        if reminder.kind == "study":
            task = StudyTask(chat_id=chat_id, content=text, created_by=reminder.created_by,
                             created_at=fire_time)
            session.add(task)
            session.flush()
            return study.task_post(session, task.id or 0), task.id
        if reminder.kind == "duty":
            return Post(text), None
        return Post(f"⏰ 提醒：{text}"), None

    def _settle(self, delivery_id: int, worker: str, status: str, *, error: str = "",
                message_id: int | None = None) -> None:
        """Record a send's outcome, only while this worker still holds the row."""
        with self.db.session() as session:
            settled = session.execute(
                update(Delivery)
                .where(col(Delivery.id) == delivery_id, col(Delivery.status) == "sending",
                       col(Delivery.worker) == worker)
                .values(status=status, error=error[:255], message_id=message_id,
                        updated_at=self.clock())
                .returning(col(Delivery.activity_id), col(Delivery.reminder_id))
            ).first()
            if settled is None or status != "sent" or message_id is None:
                return
            record_id, reminder_id = settled
            kind = session.get(Reminder, reminder_id).kind  # type: ignore[union-attr]
            if record_id is not None and kind in ("meeting", "study"):
                model = Activity if kind == "meeting" else StudyTask
                attach_message(session, model, record_id, message_id)

    def _mark_abandoned(self, reminder: Reminder, fire_time: datetime, worker: str) -> list[int]:
        """Sends another worker started and never finished (it died): never repeated; returns
        their chats."""
        with self.db.session() as session:
            return list(session.execute(
                update(Delivery)
                .where(col(Delivery.reminder_id) == reminder.id,
                       col(Delivery.fire_time) == fire_time, col(Delivery.status) == "sending",
                       col(Delivery.worker) != worker)
                .values(status="uncertain", error="interrupted", updated_at=self.clock())
                .returning(col(Delivery.chat_id))).scalars())

    def _mark_missed(self, reminder_id: int, fires: Iterable[datetime],
                     chats: Sequence[int]) -> list[datetime]:
        """Record fires too late to send; returns those not recorded before (to report once)."""
        newly: list[datetime] = []
        now = self.clock()
        with self.db.session() as session:
            for fire_time in fires:
                fresh = False
                for chat_id in chats:
                    fresh |= upsert(session, Delivery, {
                        "reminder_id": reminder_id, "fire_time": fire_time, "chat_id": chat_id,
                        "status": "missed", "worker": "", "error": "", "updated_at": now,
                    }, conflict=("reminder_id", "fire_time", "chat_id"),
                        update=("status", "updated_at"), where=STILL_PENDING)
                if fresh:
                    newly.append(fire_time)
        return newly

    def _finish(self, reminder_id: int, fire_time: datetime, rule: TimeRule) -> None:
        """Advance the reminder past this fire once no chat is left pending."""
        with self.db.session() as session:
            left = session.exec(select(Delivery.id).where(
                Delivery.reminder_id == reminder_id, Delivery.fire_time == fire_time,
                Delivery.status == "pending")).first()
            reminder = session.get(Reminder, reminder_id)
            if left is not None or reminder is None:
                return
            if reminder.last_fire_at is None or reminder.last_fire_at < fire_time:
                reminder.last_fire_at = fire_time
                reminder.next_fire_at = rule.next_after(fire_time, self.tz)
                if reminder.next_fire_at is None:
                    reminder.active = False  # a one-off reminder, done
            session.add(reminder)

    # --- telling secretaries ---------------------------------------------------------------

    async def secretary_chats(self, chat_id: int, sender: Sender,
                              extra: Iterable[int | None] = ()) -> list[int]:
        """Private chats of the branch's secretaries (Telegram admins, grants) who talk to the bot."""
        admins: list[int] = []
        if chat_id < 0:
            try:
                admins = await sender.chat_admins(chat_id)
            except Exception:  # the bot may have been removed: grants still count
                log.info("no administrators of %s", chat_id, exc_info=True)
        with self.db.session() as session:
            granted = session.exec(select(RoleGrant.user_id).where(
                RoleGrant.chat_id == chat_id, RoleGrant.role == "secretary")).all()
            people = {*admins, *granted, *(u for u in extra if u)}
            if not people:
                return []
            return sorted(session.exec(select(Chat.id).where(
                col(Chat.id).in_(people), Chat.type == "private", col(Chat.reachable))).all())

    async def _tell(self, reminder: Reminder, chat_id: int, text: str, sender: Sender,
                    fallback_to_group: bool) -> None:
        recipients = await self.secretary_chats(chat_id, sender, [reminder.created_by])
        if not recipients and fallback_to_group:
            recipients = [chat_id]
        for recipient in recipients:
            try:
                await sender.send(recipient, Post(text))
            except Exception as exc:  # telling is best effort; the rows hold the facts
                log.info("could not tell %s about reminder %s: %r", recipient, reminder.id, exc)

    async def _report_missed(self, reminder: Reminder, missed: list[datetime], late: bool,
                             sender: Sender) -> None:
        when = "、".join(fmt_when(t, self.tz) for t in missed[-REPORT_LIMIT:])
        done = "" if late else "（最近一次已按时补发）"
        text = (f"⚠️ 机器人停机期间，提醒 #{shown_number(reminder)}（{reminder.rule}｜{shorten(reminder.text, 40)}）"
                f"错过了 {when}，已超过补发时限，未在群内补发{done}。如仍需通知，请用 /remind 或 "
                "/schedule 重新发布。")
        chat_id = reminder.chat_id if reminder.scope == "chat" else 0
        await self._tell(reminder, chat_id, text, sender, fallback_to_group=bool(chat_id))

    async def _report_uncertain(self, reminder: Reminder, fire_time: datetime,
                                chats: list[int], sender: Sender) -> None:
        text = (f"⚠️ 提醒 #{shown_number(reminder)}（{shorten(reminder.text, 40)}）"
                f"{fmt_when(fire_time, self.tz)} "
                f"在 {len(chats)} 个群可能未送达（发送中断或失败），为避免重复没有自动重发，"
                "请确认后视情况用 /remind 重新发布。")
        chat_id = reminder.chat_id if reminder.scope == "chat" else 0
        await self._tell(reminder, chat_id, text, sender, fallback_to_group=False)

    async def _unreachable(self, reminder: Reminder, chat_id: int, sender: Sender) -> None:
        """Mark the chat unreachable (no more sends to it) and tell its secretaries privately."""
        with self.db.session() as session:
            chat = session.get(Chat, chat_id)
            if chat is None:
                chat = Chat(id=chat_id, type="group" if chat_id < 0 else "private")
            was_reachable = chat.reachable
            chat.reachable = False
            session.add(chat)
            title = branch_label(chat)
        if was_reachable and chat_id < 0:
            await self._tell(reminder, chat_id, (
                f"⚠️ 机器人已无法在群「{title}」发消息（可能被移出群或被禁言），提醒 #{shown_number(reminder)} "
                "未送达，之后也不再向该群发送。请把机器人重新加入该群后再发送 /reminders 检查。"),
                sender, fallback_to_group=False)

    def set_reachable(self, session: Session, chat_id: int, reachable: bool, title: str = "",
                      chat_type: str = "group") -> None:
        """The bot was added to or removed from a chat (Telegram's my_chat_member update)."""
        chat = session.get(Chat, chat_id) or Chat(id=chat_id, type=chat_type, title=title)
        chat.reachable = reachable
        session.add(chat)


def _rule(reminder: Reminder) -> TimeRule:
    return TimeRule.from_json(reminder.spec)


def _set(session: Session, delivery_id: int, now: datetime, **values: object) -> None:
    session.execute(update(Delivery).where(col(Delivery.id) == delivery_id)
                    .values(updated_at=now, **values))
