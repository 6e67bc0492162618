"""Study tasks and records: /task posts a task with [已学习]; the button or /study records it.

One record per task and member (a repeat only updates the 心得); free self-study entries carry
their command's message, so a redelivered update adds nothing either.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.services import roster
from bot.services.display import shorten
from bot.services.errors import UserError
from bot.services.localtime import fmt_day
from bot.services.people import Actor, require_secretary
from bot.services.posts import Outcome, Post, add_once
from bot.services.typed import MAX_RECORD_ID, clean, number
from content.when import RuleError, parse_when
from storage.models import StudyRecord, StudyTask
from storage.upsert import upsert

TASK_USAGE = "用法：/task 学习内容 [截止日期]，例如 /task 学习《中国共产党章程》总纲 12月31日"
STUDY_USAGE = (
    "用法：/study 任务号 [心得]，或 /study 学习内容 [心得：…]，例如 /study 5 深受教育"
)
MATCH_WINDOW = timedelta(days=90)
"""/study by content matches tasks posted this recently."""
_NOTE = re.compile(r"\s*心得\s*[:：]\s*")


def post_task(
    session: Session, actor: Actor, text: str, *, now: datetime, tz: ZoneInfo,
    source_message_id: int | None = None,
) -> StudyTask:
    """/task: a secretary posts a study task to this group (once per command message); post
    `task_post(...)` after."""
    if not actor.in_group:
        raise UserError("请在支部群中发布学习任务。" + TASK_USAGE)
    require_secretary(session, actor, actor.chat_id)
    text = clean(text)
    try:
        when = parse_when(text, now, tz, want="date")
    except RuleError as exc:
        raise UserError(f"{exc}{TASK_USAGE}") from exc
    due, content = (when.day, when.rest) if when else (None, text)
    if not content:
        raise UserError("请写明学习内容。" + TASK_USAGE)
    return add_once(session, StudyTask(
        chat_id=actor.chat_id, content=content[:2000], due_date=due, created_by=actor.user_id,
        created_at=now, source_message_id=source_message_id,
    ))


def task_post(session: Session, task_id: int) -> Post:
    """The group message for a task: content, due date, how many studied, [已学习]."""
    task = _task(session, task_id)
    done = session.exec(
        select(func.count()).select_from(StudyRecord).where(StudyRecord.task_id == task.id)
    ).one()
    lines = [f"📚 学习任务 #{task.id}：{task.content}"]
    if task.due_date:
        lines.append(f"截止：{fmt_day(task.due_date)}")
    lines.append(f"学习后请点【已学习】，或发送 /study {task.id} 心得体会")
    lines.append(f"已学习 {done} 人")
    return Post("\n".join(lines), ((("已学习", f"study:done:{task.id}"),),), task.chat_id,
                task.message_id)


def complete_task(
    session: Session, actor: Actor, task_id: int, *, at: datetime, now: datetime,
    note: str = "", source_message_id: int | None = None,
) -> Outcome:
    """A member has studied a task; a repeat answers 已登记 (or updates the 心得 it brings)."""
    task = _task(session, task_id)
    if actor.in_group:
        if task.chat_id != actor.chat_id:
            raise UserError("该学习任务不属于本群，请在任务所在的支部群登记。")
    elif not actor.is_global_admin and not roster.is_member(session, task.chat_id, actor.user_id):
        raise UserError("您不在该学习任务所属的支部，无法登记。")
    note = clean(note)[:1000]
    values = {
        "task_id": task.id, "user_id": actor.user_id, "chat_id": task.chat_id, "note": note,
        "source_chat_id": actor.chat_id if source_message_id else None,
        "source_message_id": source_message_id, "recorded_at": now, "message_at": at,
    }
    if upsert(session, StudyRecord, values, conflict=("task_id", "user_id")):
        thanks = "，心得已保存" if note else ""
        return Outcome(task_id, f"已登记学习任务 #{task_id}{thanks}。", True)
    record = session.exec(
        select(StudyRecord).where(
            StudyRecord.task_id == task.id, StudyRecord.user_id == actor.user_id
        )
    ).one()
    if note and note != record.note:
        record.note = note
        session.add(record)
        return Outcome(task_id, f"已更新学习任务 #{task_id} 的心得。", False)
    return Outcome(task_id, f"您已登记过学习任务 #{task_id}（已学习）。", False)


def study(
    session: Session, actor: Actor, text: str, *, at: datetime, now: datetime,
    source_message_id: int,
) -> Outcome:
    """/study 任务号 [心得] | /study 内容 [心得：…]: a task by number or by its words, else a
    free self-study entry."""
    text = clean(text)
    if not text:
        raise UserError(STUDY_USAGE)
    first, _, rest = text.partition(" ")
    if (task_id := number(first)) is not None:
        return complete_task(session, actor, task_id, at=at, now=now, note=rest,
                             source_message_id=source_message_id)
    marker = _NOTE.search(text)
    content, note = (text[: marker.start()], text[marker.end():]) if marker else (text, "")
    task = _task_matching(session, actor, content, now)
    if task is not None:
        return complete_task(session, actor, task.id, at=at, now=now, note=note,  # type: ignore[arg-type]
                             source_message_id=source_message_id)
    if not content:
        raise UserError("请写明学习内容。" + STUDY_USAGE)
    values = {
        "task_id": None, "user_id": actor.user_id,
        "chat_id": actor.chat_id if actor.in_group else None, "content": content[:2000],
        "note": note[:1000], "source_chat_id": actor.chat_id,
        "source_message_id": source_message_id, "recorded_at": now, "message_at": at,
    }
    upsert(session, StudyRecord, values,
           conflict=("user_id", "source_chat_id", "source_message_id"))
    return Outcome(0, f"已登记自学：{shorten(content, 50)}" + ("，心得已保存。" if note else "。"), False)


def _task(session: Session, task_id: int) -> StudyTask:
    task = session.get(StudyTask, task_id) if 0 < task_id <= MAX_RECORD_ID else None
    if task is None:
        raise UserError(f"没有找到学习任务 #{task_id}。")
    return task


def _words(text: str) -> str:
    """Letters only, without a leading 学习/学了: what two ways of naming a task share."""
    text = "".join(ch for ch in text if ch.isalnum())
    return re.sub(r"^(?:已经|已)?(?:学习|学了|学完)", "", text)


def _task_matching(session: Session, actor: Actor, content: str, now: datetime) -> StudyTask | None:
    """The newest recent task of the member's branch that these words name, in order
    (`党章总纲` names `学习《中国共产党章程》总纲`)."""
    wanted = _words(content)
    if len(wanted) < 2:
        return None
    scope = [actor.chat_id] if actor.in_group else roster.branches_of(session, actor.user_id)
    tasks = session.exec(
        select(StudyTask)
        .where(col(StudyTask.chat_id).in_(scope), StudyTask.created_at >= now - MATCH_WINDOW)
        .order_by(col(StudyTask.created_at).desc())
        .limit(50)
    )
    for task in tasks:
        letters = iter(_words(task.content))
        if all(ch in letters for ch in wanted):
            return task
    return None
