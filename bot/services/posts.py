"""The group posts the bot keeps current (an activity with its counts, a study task)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from storage.models import Activity, StudyTask

Buttons = tuple[tuple[tuple[str, str], ...], ...]


@dataclass(frozen=True)
class Post:
    """Plain text and rows of (label, callback_data) buttons; handlers turn it into Telegram."""

    text: str
    buttons: Buttons = ()


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
