"""Who belongs to a branch: members seen in its group, the 应到 of its meetings and tasks.

Telegram gives bots no member list, so the roster grows as members act in the group (any
message or tap, see handlers/roster.py; a secretary's 补签 names one too) and shrinks when
Telegram reports them leaving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.services.errors import UserError
from bot.services.typed import MAX_USER_ID, number
from storage.models import BranchMember, Member
from storage.upsert import upsert


@dataclass(frozen=True)
class Membership:
    user_id: int
    joined_at: datetime
    left_at: datetime | None

    def within(self, start: datetime, end: datetime) -> bool:
        """Belonged to the branch at some point of [start, end]."""
        return self.joined_at <= end and (self.left_at is None or self.left_at >= start)


_HAD_LEFT = col(BranchMember.left_at).is_not(None)


def join(session: Session, chat_id: int, user_id: int, at: datetime) -> None:
    """Add a member to the branch, or bring back one who had left."""
    upsert(
        session, BranchMember,
        {"chat_id": chat_id, "user_id": user_id, "joined_at": at, "left_at": None},
        conflict=("chat_id", "user_id"), update=("left_at",), where=_HAD_LEFT,
    )


def leave(session: Session, chat_id: int, user_id: int, at: datetime) -> None:
    """Telegram says the member left the group."""
    row = session.get(BranchMember, (chat_id, user_id))
    if row is not None and row.left_at is None:
        row.left_at = at
        session.add(row)


def branches_of(session: Session, user_id: int) -> list[int]:
    """The branches a member currently belongs to."""
    rows = session.exec(
        select(BranchMember.chat_id).where(
            BranchMember.user_id == user_id, col(BranchMember.left_at).is_(None)
        )
    ).all()
    return sorted(rows)


def is_member(session: Session, chat_id: int, user_id: int) -> bool:
    row = session.get(BranchMember, (chat_id, user_id))
    return row is not None and row.left_at is None


def memberships(session: Session, chat_ids: Iterable[int] | None) -> dict[int, list[Membership]]:
    """Every membership of the given branches (all branches for None), by branch."""
    query = select(
        BranchMember.chat_id, BranchMember.user_id, BranchMember.joined_at, BranchMember.left_at
    )
    if chat_ids is not None:
        query = query.where(col(BranchMember.chat_id).in_(list(chat_ids)))
    by_chat: dict[int, list[Membership]] = defaultdict(list)
    for chat_id, user_id, joined_at, left_at in session.exec(query):
        by_chat[chat_id].append(Membership(user_id, joined_at, left_at))
    return by_chat


def memberships_of(session: Session, user_id: int) -> dict[int, Membership]:
    """One member's memberships, by branch."""
    rows = session.exec(select(BranchMember).where(BranchMember.user_id == user_id))
    return {row.chat_id: Membership(row.user_id, row.joined_at, row.left_at) for row in rows}


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
