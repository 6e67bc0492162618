"""A choice a person was asked to make and has not made yet (which branch a private upload is
for), kept in the database: the tap that answers it may reach another replica, or this one
after a restart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col

from storage.models import PendingChoice

KEPT_FOR = timedelta(hours=1)
"""After this the choice has lapsed: the person is asked to start again."""


def hold(session: Session, user_id: int, key: str, value: dict[str, Any], at: datetime) -> None:
    """Keep `value` until the person answers; a newer question replaces an older one."""
    choice = session.get(PendingChoice, (user_id, key)) or PendingChoice(user_id=user_id, key=key,
                                                                         value="")
    choice.value, choice.held_at = json.dumps(value, ensure_ascii=False), at
    session.add(choice)


def take(session: Session, user_id: int, key: str, now: datetime) -> dict[str, Any] | None:
    """The value held, or None when there is none or it has lapsed. Taken in one statement, so
    of two taps at once, on two replicas, one finds it."""
    taken = session.exec(delete(PendingChoice).where(
        col(PendingChoice.user_id) == user_id, col(PendingChoice.key) == key,
    ).returning(col(PendingChoice.value), col(PendingChoice.held_at))).first()
    if taken is None or now - taken.held_at > KEPT_FOR:
        return None
    return json.loads(taken.value)
