"""A small world for the attendance, study, statistics and ledger tests: two branches, their
members and secretaries, and one meeting at 15:00 Beijing time on 2026-11-20."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from bot.services import attendance, roster
from bot.services.localtime import zone
from bot.services.people import Actor, remember
from storage.models import Activity, RoleGrant

TZ = zone("Asia/Shanghai")
BRANCH, OTHER = -1001, -1002
SECRETARY = 1
"""A Telegram admin of BRANCH."""
OTHER_SECRETARY = 50
"""A Telegram admin and granted secretary of OTHER, a plain member nowhere else."""
ADMIN = 900
"""A global admin (DANGJIAN_ADMINS in the `settings` fixture)."""
MEMBERS = tuple(range(2, 12))
START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
JOINED = START - timedelta(days=60)


def actor(user_id: int, chat_id: int = BRANCH, *, admin: bool = False) -> Actor:
    """Someone acting in a group (negative chat id) or privately (their own id)."""
    return Actor(
        user_id=user_id, name=f"党员{user_id}", chat_id=chat_id,
        chat_type="supergroup" if chat_id < 0 else "private",
        chat_title=f"第{-chat_id - 1000}支部" if chat_id < 0 else "",
        username=f"user{user_id}", is_chat_admin=admin, is_global_admin=user_id == ADMIN,
    )


def secretary(chat_id: int = BRANCH) -> Actor:
    return actor(SECRETARY, chat_id, admin=chat_id == BRANCH)


def other_secretary(chat_id: int = BRANCH) -> Actor:
    return actor(OTHER_SECRETARY, chat_id, admin=chat_id == OTHER)


def populate(session: Session) -> None:
    """Both branches with their rosters since JOINED; OTHER's secretary also holds a grant."""
    for chat_id, people in ((BRANCH, (SECRETARY, *MEMBERS)), (OTHER, (OTHER_SECRETARY, 60))):
        for user_id in people:
            remember(session, actor(user_id, chat_id))
            roster.join(session, chat_id, user_id, JOINED)
    remember(session, actor(ADMIN, ADMIN))
    session.add(RoleGrant(chat_id=OTHER, user_id=OTHER_SECRETARY))


def meeting(session: Session, chat_id: int = BRANCH, *, starts: datetime = START,
            title: str = "主题党日 学习党章", **options: object) -> Activity:
    """An activity opened by the branch's scheduled reminder (no actor)."""
    return attendance.open_activity(session, chat_id, title, attendance.kind_of(title), starts,
                                    **options)  # type: ignore[arg-type]
