"""A branch's 名册 and naming its members: importing the list a secretary sends, showing it,
linking each name to the chat account of the member it is, and finding the member a command
names (a name, an @username, a user id, or a 名册 number).

An entry not yet linked stands for its member by the number -entry id (bot/services/roster.py):
a secretary may record attendance for them before they ever open the chat, and linking moves
those records onto the account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from bot.services.errors import UserError
from bot.services.people import Actor, require_secretary, secretary_branches
from bot.services.roster import branches_of, person_id
from bot.services.roster_file import RosterRow
from bot.services.typed import MAX_USER_ID, number
from storage.models import Attendance, AuditLog, BranchMembership, Member, RosterEntry

IMPORT_HINT = ("导入名册：把名册文件（.xlsx 或 .csv，表头：姓名、党小组、职务、手机）发到群里或私聊，"
               "附言写 /roster；或回复该文件发送 /roster 导入。")
IAM_USAGE = "用法：/iam 姓名（绑定本人）；书记可用 /iam 姓名 @用户名，或回复该成员的消息发送 /iam 姓名"
ROSTER_PREFIX = "名册"
UNGROUPED = "未分党小组"


@dataclass(frozen=True)
class ImportResult:
    total: int
    added: int
    updated: int
    removed: int
    linked: int
    skipped: int = 0


@dataclass(frozen=True)
class Listed:
    entry_id: int
    name: str
    party_group: str
    position: str
    user_id: int | None


@dataclass(frozen=True)
class Linked:
    name: str
    user_id: int
    account: str  # the account's display name
    already: bool = False
    replaced: str = ""  # the account the entry was linked to before
    moved_from: str = ""  # the entry the account was linked to before


def current(session: Session, chat_id: int) -> list[RosterEntry]:
    """The branch's 名册 as it stands, in the file's order."""
    return list(session.exec(
        select(RosterEntry).where(RosterEntry.chat_id == chat_id,
                                  col(RosterEntry.removed_at).is_(None))
        .order_by(col(RosterEntry.ordinal), col(RosterEntry.id))
    ))


def import_roster(session: Session, actor: Actor, chat_id: int, rows: Sequence[RosterRow], *,
                  now: datetime, skipped: int = 0) -> ImportResult:
    """Replace the branch's 名册 with `rows`, keeping each name's link: a name is the same entry
    when its name and 党小组 match, or its name alone matches one entry. Names no longer listed
    are marked removed (their past records keep their names)."""
    require_secretary(session, actor, chat_id)
    old = list(session.exec(select(RosterEntry).where(RosterEntry.chat_id == chat_id)
                            .order_by(col(RosterEntry.removed_at).is_not(None),
                                      col(RosterEntry.id))))
    unmatched = {entry.id: entry for entry in old}
    by_name: dict[str, list[RosterEntry]] = defaultdict(list)
    for entry in old:
        by_name[entry.name].append(entry)
    added = updated = 0
    for ordinal, row in enumerate(rows):
        same_name = [e for e in by_name[row.name] if e.id in unmatched]
        entry = next((e for e in same_name if e.party_group == row.party_group), None)
        if entry is None and len(same_name) == 1:
            entry = same_name[0]
        if entry is None:
            entry = RosterEntry(chat_id=chat_id, name=row.name, created_at=now)
            added += 1
        else:
            del unmatched[entry.id]
            changed = (entry.party_group, entry.position, entry.phone, entry.removed_at) != (
                row.party_group, row.position, row.phone, None)
            updated += changed
        entry.ordinal, entry.party_group, entry.position = ordinal, row.party_group, row.position
        entry.phone, entry.removed_at = row.phone, None
        session.add(entry)
    removed = 0
    for entry in unmatched.values():
        if entry.removed_at is None:
            entry.removed_at, removed = now, removed + 1
            session.add(entry)
    session.flush()
    linked = sum(1 for e in current(session, chat_id) if e.user_id is not None)
    result = ImportResult(len(rows), added, updated, removed, linked, skipped)
    session.add(AuditLog(at=now, actor_id=actor.user_id, chat_id=chat_id, action="roster.import",
                         entity="roster", entity_id=str(chat_id),
                         detail=f"导入名册：共{result.total}人，新增{added}，更新{updated}，移除{removed}"))
    return result


def listing(session: Session, chat_id: int) -> list[Listed]:
    return [Listed(e.id or 0, e.name, e.party_group, e.position, e.user_id)
            for e in current(session, chat_id)]


def seen_members(session: Session, chat_id: int) -> list[str]:
    """Without a 名册: the names of those seen in the group now."""
    rows = session.exec(
        select(Member.display_name, Member.id)
        .join(BranchMembership, col(BranchMembership.user_id) == Member.id)
        .where(BranchMembership.chat_id == chat_id, col(BranchMembership.left_at).is_(None))
        .order_by(col(Member.display_name))
    ).all()
    return [name or f"用户{user_id}" for name, user_id in rows]


def render_roster(branch: str, entries: list[Listed], accounts: dict[int, str], *,
                  secretary: bool) -> str:
    """/roster: names by 党小组, each marked linked (✅) or not yet (○)."""
    groups: dict[str, list[Listed]] = defaultdict(list)
    for entry in entries:
        groups[entry.party_group or UNGROUPED].append(entry)
    linked = sum(1 for e in entries if e.user_id is not None)
    lines = [f"📒 {branch}名册：共 {len(entries)} 人，已绑定账号 {linked} 人（✅ 已绑定　○ 未绑定）"]
    for group, members in groups.items():
        if len(groups) > 1 or group != UNGROUPED:
            lines.append(f"\n【{group}】{len(members)}人")
        for e in members:
            position = f"（{e.position}）" if e.position else ""
            account = ""
            if secretary and e.user_id is not None:
                account = f" → {accounts.get(e.user_id, e.user_id)}"
            lines.append(f"{'✅' if e.user_id is not None else '○'} {e.name}{position}{account}")
    if linked < len(entries):
        lines.append("\n未绑定的党员请发送 /iam 本人姓名，或点击 /iam 列出的姓名。")
    return "\n".join(lines)


def unlinked(session: Session, chat_id: int) -> list[Listed]:
    return [e for e in listing(session, chat_id) if e.user_id is None]


def entry_in(session: Session, chat_id: int, name: str) -> RosterEntry:
    """The current entry of this branch a /iam names: its name, `名册N`, or `姓名 党小组`."""
    words = name.split()
    if (wanted := _entry_number(words[0] if words else "")) is not None:
        entry = session.get(RosterEntry, wanted)
        if entry is None or entry.chat_id != chat_id or entry.removed_at is not None:
            raise UserError(f"本支部名册中没有 {words[0]}。")
        return entry
    found = [e for e in current(session, chat_id) if e.name == (words[0] if words else "")]
    if len(words) > 1:
        found = [e for e in found if e.party_group == words[1]] or found
    if not found:
        if not current(session, chat_id):
            raise UserError("本支部还没有导入名册。" + IMPORT_HINT)
        raise UserError(f"本支部名册中没有“{name}”，请核对姓名（发送 /roster 查看名册）。")
    if len(found) > 1:
        raise SharedName(
            f"名册中有 {len(found)} 位“{found[0].name}”，请写明是哪一位："
            + "；".join(f"/iam {ROSTER_PREFIX}{e.id}（{e.party_group or UNGROUPED}）" for e in found),
            [Listed(e.id or 0, e.name, e.party_group, e.position, e.user_id) for e in found])
    return found[0]


class SharedName(UserError):
    """A /iam name two 名册 entries share; `choices` are they (for buttons)."""

    def __init__(self, text: str, choices: list[Listed]) -> None:
        super().__init__(text)
        self.choices = choices


def link(session: Session, actor: Actor, entry_id: int, user_id: int, *, now: datetime,
         chat_id: int | None = None) -> Linked:
    """Link a 名册 entry to an account: a member links themself, a secretary anyone. One account
    per entry and one entry per account in a branch: a member cannot take a name another account
    holds (a secretary can, and is told whose link ended); an account linked to another name
    moves (and is told). Records kept under the unlinked entry move onto the account."""
    entry = session.get(RosterEntry, entry_id)
    if entry is None or entry.removed_at is not None or (
            chat_id is not None and entry.chat_id != chat_id):
        raise UserError("名册中没有这个姓名（名册可能已重新导入），请发送 /roster 查看。")
    if user_id != actor.user_id:
        require_secretary(session, actor, entry.chat_id)
    if not 0 < user_id <= MAX_USER_ID:
        raise UserError("无法识别要绑定的账号。" + IAM_USAGE)
    account = _account(session, user_id)
    if entry.user_id == user_id:
        return Linked(entry.name, user_id, account, already=True)
    replaced = ""
    if entry.user_id is not None:
        holder = entry.user_id
        if user_id == actor.user_id:
            _require_secretary_or(session, actor, entry.chat_id,
                                 f"“{entry.name}”已由其他账号绑定；如有误请联系支部书记更正。")
        replaced = _account(session, holder)
    before = session.exec(select(RosterEntry).where(
        RosterEntry.chat_id == entry.chat_id, RosterEntry.user_id == user_id)).first()
    moved_from = ""
    if before is not None:
        before.user_id, moved_from = None, before.name
        session.add(before)
        session.flush()
    synthetic = -entry_id
    entry.user_id, entry.linked_by = user_id, actor.user_id
    session.add(entry)
    session.flush()
    _move_records(session, synthetic, user_id)
    detail = f"{entry.name} → {account}" + (f"（原绑定：{replaced}）" if replaced else "")
    session.add(AuditLog(at=now, actor_id=actor.user_id, chat_id=entry.chat_id,
                         action="roster.link", entity="roster", entity_id=str(entry_id),
                         detail=detail))
    return Linked(entry.name, user_id, account, replaced=replaced, moved_from=moved_from)


def _account(session: Session, user_id: int) -> str:
    return accounts(session, [user_id])[user_id]


def accounts(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """Chat accounts as people see them: display name (and @username)."""
    found = {member.id: f"{member.display_name or f'用户{member.id}'}"
                        + (f"（@{member.username}）" if member.username else "")
             for member in session.exec(select(Member).where(col(Member.id).in_(list(user_ids))))}
    return {user_id: found.get(user_id, f"用户{user_id}") for user_id in user_ids}


def _require_secretary_or(session: Session, actor: Actor, chat_id: int, refusal: str) -> None:
    try:
        require_secretary(session, actor, chat_id)
    except UserError:
        raise UserError(refusal) from None


def _move_records(session: Session, synthetic: int, user_id: int) -> None:
    """Attendance recorded for the unlinked entry becomes the account's, unless the account has
    its own record of that activity (which stands)."""
    own = select(Attendance.activity_id).where(Attendance.user_id == user_id)
    session.exec(update(Attendance).where(  # type: ignore[call-overload]
        col(Attendance.user_id) == synthetic, col(Attendance.activity_id).not_in(own.scalar_subquery())
    ).values(user_id=user_id))
    session.exec(delete(Attendance).where(col(Attendance.user_id) == synthetic))  # type: ignore[call-overload]


def _entry_number(token: str) -> int | None:
    if token.startswith(ROSTER_PREFIX):
        wanted = number(token[len(ROSTER_PREFIX):])
        return wanted if wanted is not None and 0 < wanted < 2**31 else None
    return None


def branches_of_actor(session: Session, actor: Actor) -> list[int] | None:
    """Where a name the actor types is looked for: this group; in private, the branches the
    actor belongs to or holds a grant in (every branch for a global admin)."""
    if actor.in_group:
        return [actor.chat_id]
    if actor.is_global_admin:
        return None
    linked = session.exec(select(RosterEntry.chat_id).where(
        RosterEntry.user_id == actor.user_id, col(RosterEntry.removed_at).is_(None))).all()
    return sorted({*branches_of(session, actor.user_id), *secretary_branches(session, actor),
                   *linked})


def find_member(session: Session, token: str, branches: list[int] | None) -> int:
    """The member a command names, as a member number (bot/services/roster.py): a user id, an
    @username, `名册N`, or a name (名册 name or chat display name, with or without @) among the
    given branches (every branch for None). A name two people share is asked about, listing
    each with the number that names them; a name nobody has is said so."""
    token = token.strip()
    user_id = number(token)
    if user_id is not None:
        if 0 < user_id <= MAX_USER_ID:
            return user_id
        raise UserError(f"无法识别成员“{token}”：这不是有效的用户id。")
    if (entry_id := _entry_number(token)) is not None:
        entry = session.get(RosterEntry, entry_id)
        if entry is None or (branches is not None and entry.chat_id not in branches):
            raise UserError(f"找不到 {token}：本支部名册中没有这个编号。")
        return person_id(entry)
    name = token.lstrip("@＠")
    if not name:
        raise UserError("请写明成员：姓名、@用户名或用户id，或回复其消息。")
    if token[0] in "@＠":
        user_id = session.exec(
            select(Member.id).where(func.lower(Member.username) == name.lower())
        ).first()
        if user_id is not None:
            return user_id
    candidates = _named(session, name, branches)
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        where = "本支部名册和群内成员中" if branches is not None else "名册和成员中"
        raise UserError(f"找不到成员“{token}”：{where}都没有这个名字。"
                        "请核对姓名，或用 @用户名、用户id，或回复其消息。")
    listed = "；".join(f"{label}：写 {key}" for key, label in sorted(candidates.values()))
    raise AmbiguousMember(f"有 {len(candidates)} 位“{name}”，请写明是哪一位——{listed}",
                          {number: label for number, (_key, label) in candidates.items()})


class AmbiguousMember(UserError):
    """A name several members answer to; `candidates` maps each one's number to a label."""

    def __init__(self, text: str, candidates: dict[int, str]) -> None:
        super().__init__(text)
        self.candidates = candidates


def _named(session: Session, name: str, branches: list[int] | None) -> dict[int, tuple[str, str]]:
    """Everyone in the branches called `name`: member number → (how to name them, label)."""
    wanted = name.casefold()
    found: dict[int, tuple[str, str]] = {}
    entries = select(RosterEntry).where(col(RosterEntry.removed_at).is_(None),
                                        func.lower(RosterEntry.name) == wanted)
    members = select(Member).where(func.lower(Member.display_name) == wanted)
    if branches is not None:
        entries = entries.where(col(RosterEntry.chat_id).in_(branches))
        members = members.join(BranchMembership, col(BranchMembership.user_id) == Member.id).where(
            col(BranchMembership.chat_id).in_(branches))
    for entry in session.exec(entries):
        group = entry.party_group or UNGROUPED
        if entry.user_id is None:
            found[-(entry.id or 0)] = (f"{ROSTER_PREFIX}{entry.id}", f"{entry.name}（{group}，未绑定账号）")
        else:
            found[entry.user_id] = (str(entry.user_id), f"{entry.name}（{group}）")
    for member in session.exec(members):
        if member.id not in found:
            handle = f"@{member.username}" if member.username else str(member.id)
            found[member.id] = (handle, f"{member.display_name}（{handle}）")
    return found
