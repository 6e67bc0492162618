"""Who is acting where: members, branches (groups) and the secretary role."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from bot.services.errors import UserError
from storage.models import AuditLog, Chat, Member, RoleGrant, utcnow
from storage.upsert import upsert


@dataclass(frozen=True)
class Actor:
    """The user behind an update, in the chat it came from, with what Telegram says of them."""

    user_id: int
    name: str
    chat_id: int
    chat_type: str = "private"
    chat_title: str = ""
    username: str | None = None
    is_chat_admin: bool = False
    is_global_admin: bool = False

    @property
    def in_group(self) -> bool:
        return self.chat_type in ("group", "supergroup")


def remember(session: Session, actor: Actor, unnamed: str = "") -> str:
    """Upsert the member and the chat, so later lists and ledgers can name them; the member's
    name: the actor's, else (an event that carries none) the one stored, else `unnamed`."""
    member = session.get(Member, actor.user_id)
    name = actor.name or (member.display_name if member and member.display_name else unnamed)
    if member is None:
        session.add(Member(id=actor.user_id, display_name=name, username=actor.username))
    elif member.display_name != name or member.username != actor.username:
        member.display_name, member.username = name, actor.username
        session.add(member)
    chat = session.get(Chat, actor.chat_id)
    if chat is None:
        session.add(Chat(id=actor.chat_id, title=actor.chat_title, type=actor.chat_type))
    elif actor.chat_title and chat.title != actor.chat_title:
        chat.title = actor.chat_title
        session.add(chat)
    return name


def name_member(session: Session, user_id: int, name: str, username: str | None, *,
                unnamed: str = "") -> None:
    """Store or refresh a member's name as the platform shows it. An event that carries none
    (a DingTalk tap) never blanks a stored one, and stores a member first seen so under
    `unnamed` (their id, as `remember` names them). Two replicas doing it at once for the same
    member are both fine (an upsert, not a read then a write)."""
    upsert(session, Member, {"id": user_id, "display_name": name or unnamed,
                             "username": username, "created_at": utcnow()},
           conflict=("id",), update=("display_name", "username") if name else ())


def is_secretary(session: Session, actor: Actor, chat_id: int | None = None) -> bool:
    """Global admins everywhere; in a branch, its Telegram admins and granted secretaries."""
    if actor.is_global_admin:
        return True
    target = actor.chat_id if chat_id is None else chat_id
    if target == actor.chat_id and actor.in_group and actor.is_chat_admin:
        return True
    grant = session.exec(
        select(RoleGrant).where(
            RoleGrant.chat_id == target,
            RoleGrant.user_id == actor.user_id,
            RoleGrant.role == "secretary",
        )
    ).first()
    return grant is not None


def require_secretary(session: Session, actor: Actor, chat_id: int | None = None) -> None:
    """Raise the polite refusal members get for secretary-only acts."""
    if not is_secretary(session, actor, chat_id):
        raise UserError("抱歉，此操作仅限本支部书记（群管理员）或授权人员使用。")


def secretary_branches(session: Session, actor: Actor) -> list[int]:
    """Branches where the actor holds an explicit grant (admins are found through Telegram)."""
    rows = session.exec(
        select(RoleGrant.chat_id).where(
            RoleGrant.user_id == actor.user_id, RoleGrant.role == "secretary"
        )
    ).all()
    return sorted(set(rows))


def grant_secretary(session: Session, actor: Actor, user_id: int, chat_id: int) -> bool:
    """Grant the secretary role in a branch; returns False when it was already held."""
    require_secretary(session, actor, chat_id)
    exists = session.exec(
        select(RoleGrant).where(
            RoleGrant.chat_id == chat_id, RoleGrant.user_id == user_id,
            RoleGrant.role == "secretary",
        )
    ).first()
    if exists:
        return False
    session.add(RoleGrant(chat_id=chat_id, user_id=user_id, granted_by=actor.user_id))
    session.add(
        AuditLog(actor_id=actor.user_id, chat_id=chat_id, action="grant", entity="role",
                 entity_id=str(user_id), detail="secretary")
    )
    return True
