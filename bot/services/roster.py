"""Who belongs to a branch: members seen in its group, the 应到 of its meetings and tasks.

Telegram gives bots no member list, so the roster grows as members act in the group (any
message or tap, see handlers/roster.py; a secretary's 补签 names one too) and shrinks when
Telegram reports them leaving. Each stay is a row: joined, left, joined again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.services.errors import UserError
from bot.services.typed import MAX_USER_ID, number
from storage.models import BranchMembership, Member
from storage.upsert import upsert


@dataclass(frozen=True)
class Membership:
    """One stay in a branch; a member who left and came back has one per stay."""

    user_id: int
    joined_at: datetime
    left_at: datetime | None

    def within(self, start: datetime, end: datetime) -> bool:
        """Belonged to the branch at some point of [start, end] (a meeting's 应到)."""
        return self.joined_at <= end and (self.left_at is None or self.left_at >= start)

    def at(self, moment: datetime) -> bool:
        """Belonged to the branch at `moment` (a task's 应学: members when it was posted)."""
        return self.joined_at <= moment and (self.left_at is None or self.left_at > moment)


_OPEN = col(BranchMembership.left_at).is_(None)
_OPEN_STAY = BranchMembership.__table__.c.left_at.is_(None)  # type: ignore[attr-defined]


def _stays_of(chat_id: int, user_id: int) -> tuple[Any, ...]:
    return BranchMembership.chat_id == chat_id, BranchMembership.user_id == user_id


def join(session: Session, chat_id: int, user_id: int, at: datetime) -> None:
    """Seen in the branch's group at `at`: a stay opens unless one is open, or one ended at or
    after `at` (a message from before they left, handled late, brings nobody back)."""
    ends = session.exec(
        select(BranchMembership.left_at).where(*_stays_of(chat_id, user_id))
    ).all()
    if any(end is None or end >= at for end in ends):
        return
    _open_stay(session, chat_id, user_id, at)


def note(session: Session, chat_id: int, user_id: int, at: datetime) -> None:
    """A secretary named this member for the branch (a 补签): on its roster from `at` if the bot
    has never seen them there. One who left stays gone: a correction is not a return."""
    known = session.exec(
        select(BranchMembership.id).where(*_stays_of(chat_id, user_id))
    ).first()
    if known is None:
        _open_stay(session, chat_id, user_id, at)


def _open_stay(session: Session, chat_id: int, user_id: int, at: datetime) -> None:
    """Insert an open stay; another replica opening it at the same moment wins harmlessly."""
    upsert(session, BranchMembership,
           {"chat_id": chat_id, "user_id": user_id, "joined_at": at, "left_at": None},
           conflict=("chat_id", "user_id"), conflict_where=_OPEN_STAY)


def leave(session: Session, chat_id: int, user_id: int, at: datetime) -> None:
    """Telegram says the member left the group: their open stay ends."""
    stay = session.exec(
        select(BranchMembership).where(*_stays_of(chat_id, user_id), _OPEN)
    ).first()
    if stay is not None:
        stay.left_at = max(at, stay.joined_at)
        session.add(stay)


def branches_of(session: Session, user_id: int) -> list[int]:
    """The branches a member currently belongs to."""
    rows = session.exec(
        select(BranchMembership.chat_id).where(BranchMembership.user_id == user_id, _OPEN)
    ).all()
    return sorted(set(rows))


def is_member(session: Session, chat_id: int, user_id: int) -> bool:
    """Whether the member belongs to the branch now."""
    stay = session.exec(
        select(BranchMembership.id).where(*_stays_of(chat_id, user_id), _OPEN)
    ).first()
    return stay is not None


def memberships(session: Session, chat_ids: Iterable[int] | None) -> dict[int, list[Membership]]:
    """Every stay in the given branches (all branches for None), by branch."""
    query = select(
        BranchMembership.chat_id, BranchMembership.user_id, BranchMembership.joined_at,
        BranchMembership.left_at,
    )
    if chat_ids is not None:
        query = query.where(col(BranchMembership.chat_id).in_(list(chat_ids)))
    by_chat: dict[int, list[Membership]] = defaultdict(list)
    for chat_id, user_id, joined_at, left_at in session.exec(query):
        by_chat[chat_id].append(Membership(user_id, joined_at, left_at))
    return by_chat


def memberships_of(session: Session, user_id: int) -> dict[int, list[Membership]]:
    """One member's stays, by branch (past ones too)."""
    by_chat: dict[int, list[Membership]] = defaultdict(list)
    for row in session.exec(select(BranchMembership).where(BranchMembership.user_id == user_id)):
        by_chat[row.chat_id].append(Membership(row.user_id, row.joined_at, row.left_at))
    return by_chat


def names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Display names for ids; members the bot never met are shown by id."""
    wanted = set(user_ids)
    found: dict[int, str] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        for user_id, name in session.exec(
            select(Member.id, Member.display_name).where(col(Member.id).in_(chunk))
        ):
            found[user_id] = name or f"用户{user_id}"
    return {user_id: found.get(user_id, f"用户{user_id}") for user_id in wanted}


def find_user(session: Session, token: str) -> int:
    """A member named by `@username` (someone the bot has met) or by Telegram user id."""
    token = token.strip()
    user_id = number(token)
    if user_id is not None and 0 < user_id <= MAX_USER_ID:
        return user_id
    if token.startswith("@") and len(token) > 1:
        user_id = session.exec(
            select(Member.id).where(func.lower(Member.username) == token[1:].lower())
        ).first()
        if user_id is not None:
            return user_id
        raise UserError(f"找不到成员 {token}：请让其先在群里发言，或回复其消息再操作。")
    raise UserError(f"无法识别成员“{token}”，请用 @用户名、用户id，或回复其消息。")


def member_named(session: Session, chat_id: int, text: str) -> int | None:
    """The member a notice names (主持人：张三, 记录人：@lisi): by @username, or by display name
    among the branch's members; None when no one, or more than one, answers to it."""
    text = text.strip()
    if text.startswith("@"):
        found = session.exec(select(Member.id).where(
            func.lower(Member.username) == text[1:].lower())).all()
    else:
        found = session.exec(
            select(Member.id).distinct()
            .join(BranchMembership, col(BranchMembership.user_id) == Member.id)
            .where(BranchMembership.chat_id == chat_id, Member.display_name == text)
        ).all()
    return found[0] if len(found) == 1 and text else None
