"""Who belongs to a branch: the 应到 of its meetings and tasks.

A branch whose secretary imported a 名册 (bot/services/members.py) is its names: linked or not,
each counts, and an unlinked name stands for its member by the number -entry id. Otherwise
Telegram gives bots no member list, so the branch is who is seen in its group: it grows as
members act there (any message or tap, see handlers/roster.py; a secretary's 补签 names one
too) and shrinks when Telegram reports them leaving. Each stay is a row: joined, left, joined
again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from storage.models import BranchMembership, Member, RosterEntry
from storage.upsert import upsert


@dataclass(frozen=True)
class Membership:
    """One stay in a branch; a member who left and came back has one per stay. A 名册 entry
    has no start (`joined_at` None): the roster says who the branch is, whenever it came."""

    user_id: int
    joined_at: datetime | None
    left_at: datetime | None

    def within(self, start: datetime, end: datetime) -> bool:
        """Belonged to the branch at some point of [start, end] (a meeting's 应到)."""
        return ((self.joined_at is None or self.joined_at <= end)
                and (self.left_at is None or self.left_at >= start))

    def at(self, moment: datetime) -> bool:
        """Belonged to the branch at `moment` (a task's 应学: members when it was posted)."""
        return ((self.joined_at is None or self.joined_at <= moment)
                and (self.left_at is None or self.left_at > moment))


def person_id(entry: RosterEntry) -> int:
    """Who a 名册 entry stands for: its linked account, else -its id."""
    assert entry.id is not None
    return entry.user_id if entry.user_id is not None else -entry.id


def roster_branches(session: Session, chat_ids: Iterable[int] | None) -> set[int]:
    """Those of the branches (all for None) that have a 名册."""
    query = select(RosterEntry.chat_id).where(col(RosterEntry.removed_at).is_(None)).distinct()
    if chat_ids is not None:
        query = query.where(col(RosterEntry.chat_id).in_(list(chat_ids)))
    return set(session.exec(query).all())


def expected_source(session: Session, chat_ids: Iterable[int] | None) -> str:
    """Where 应到 comes from for these branches: 名册, 群内成员, or both."""
    chats = None if chat_ids is None else set(chat_ids)
    with_roster = roster_branches(session, chats)
    if not with_roster:
        return "群内成员"
    if chats is not None and with_roster >= chats:
        return "名册"
    return "名册（未导入名册的支部按群内成员）"


def _roster_stays(session: Session, *where: Any) -> Iterable[tuple[int, Membership]]:
    for entry in session.exec(select(RosterEntry).where(*where)):
        yield entry.chat_id, Membership(person_id(entry), None, entry.removed_at)


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


def match_list(session: Session, chat_id: int, user_ids: Iterable[int], at: datetime) -> None:
    """The platform listed the group's members (Feishu does): each is on the roster from `at`
    unless already, and whoever is on it but not listed has left."""
    listed = set(user_ids)
    for user_id in listed:
        join(session, chat_id, user_id, at)
    stays = session.exec(select(BranchMembership).where(
        BranchMembership.chat_id == chat_id, _OPEN)).all()
    for stay in stays:
        if stay.user_id not in listed:
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
    with_roster = roster_branches(session, chat_ids)
    by_chat: dict[int, list[Membership]] = defaultdict(list)
    for chat_id, user_id, joined_at, left_at in session.exec(query):
        if chat_id not in with_roster:
            by_chat[chat_id].append(Membership(user_id, joined_at, left_at))
    if with_roster:
        for chat_id, stay in _roster_stays(session, col(RosterEntry.chat_id).in_(with_roster)):
            by_chat[chat_id].append(stay)
    return by_chat


def memberships_of(session: Session, user_id: int) -> dict[int, list[Membership]]:
    """One member's stays, by branch (past ones too); in a branch with a 名册, their entry."""
    with_roster = roster_branches(session, None)
    by_chat: dict[int, list[Membership]] = defaultdict(list)
    for row in session.exec(select(BranchMembership).where(BranchMembership.user_id == user_id)):
        if row.chat_id not in with_roster:
            by_chat[row.chat_id].append(Membership(row.user_id, row.joined_at, row.left_at))
    mine = (RosterEntry.user_id == user_id) if user_id > 0 else (RosterEntry.id == -user_id)
    for chat_id, stay in _roster_stays(session, mine):
        by_chat[chat_id].append(stay)
    return by_chat


def names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Names for member numbers: the 名册 name when there is one, else the chat display name;
    members the bot never met are shown by id."""
    wanted = set(user_ids)
    found: dict[int, str] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        for user_id, name in session.exec(
            select(Member.id, Member.display_name).where(col(Member.id).in_(chunk))
        ):
            found[user_id] = name or f"用户{user_id}"
        entries = [-n for n in chunk if n < 0]
        for entry in session.exec(select(RosterEntry).where(  # current entries last: they win
            or_(col(RosterEntry.user_id).in_(chunk), col(RosterEntry.id).in_(entries))
        ).order_by(col(RosterEntry.removed_at).is_(None), col(RosterEntry.id))):
            number = entry.user_id if entry.user_id in wanted else -(entry.id or 0)
            found[number] = entry.name
    return {user_id: found.get(user_id, f"用户{user_id}") for user_id in wanted}
