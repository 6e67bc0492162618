"""The group posts the bot keeps current (an activity with its counts, a study task)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import Activity, Attendance, StudyRecord, StudyTask

Buttons = tuple[tuple[tuple[str, str], ...], ...]
Record = TypeVar("Record", Activity, StudyTask)


@dataclass(frozen=True)
class Post:
    """Plain text and rows of (label, callback_data) buttons; handlers turn it into Telegram."""

    text: str
    buttons: Buttons = ()
    chat_id: int | None = None
    """The group that shows it, and its message there once posted: live counts edit that one."""
    message_id: int | None = None


def tapped_since(session: Session,
                 since: datetime) -> list[tuple[type[Activity | StudyTask], int, int]]:
    """The posted activities and tasks, with their group, that had a check-in, leave or
    completion recorded since `since`: the posts whose count edit a process that died may
    have left unsent."""
    activities = session.exec(select(Activity.id, Activity.chat_id).distinct().join(
        Attendance, col(Attendance.activity_id) == Activity.id).where(
        col(Attendance.recorded_at) >= since, col(Activity.message_id).is_not(None))).all()
    tasks = session.exec(select(StudyTask.id, StudyTask.chat_id).distinct().join(
        StudyRecord, col(StudyRecord.task_id) == StudyTask.id).where(
        col(StudyRecord.recorded_at) >= since, col(StudyTask.message_id).is_not(None))).all()
    return ([(Activity, record_id, chat_id) for record_id, chat_id in sorted(activities)]
            + [(StudyTask, record_id, chat_id) for record_id, chat_id in sorted(tasks)])


def add_once(session: Session, record: Record) -> Record:
    """Insert an activity or task made from a command message; when that message was handled
    before (Telegram delivered the update twice), return the first record instead."""
    if record.source_message_id is None:
        session.add(record)
        session.flush()
        return record
    model = type(record)
    same = select(model).where(model.chat_id == record.chat_id,
                               model.source_message_id == record.source_message_id)
    existing = session.exec(same).first()
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:  # the same update, handled at this very moment by another replica
        return session.exec(same).one()
    return record


def attach_message(
    session: Session, model: type[Activity] | type[StudyTask], record_id: int, message_id: int
) -> None:
    """Remember which message shows the record, so later counts can edit it in place."""
    record = session.get(model, record_id)
    if record is not None:
        record.message_id = message_id
        session.add(record)


@dataclass(frozen=True)
class Outcome:
    """What a member's action did: the one-line reply, and whether the counts on the post of
    `record_id` (an activity or a study task) changed."""

    record_id: int
    text: str
    changed: bool
