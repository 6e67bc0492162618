"""The organization boundary: which groups are branches, who may be served where, and who
registers branches (DESIGN.md, "Organization").

With global admins configured (DANGJIAN_ADMINS) only registered branches are served: a global
admin registers a group (/bind, or by adding the bot to it). Without any: open mode, every group
is a branch.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from bot.services.branches import branch_label
from bot.services.errors import UserError
from bot.services.people import Actor, secretary_branches
from storage.models import AuditLog, BranchMembership, Chat, Member

UNREGISTERED = "本群尚未登记为党支部，请组织管理员在群内发送 /bind 支部名称。"
PRIVATE_REFUSAL = ("您好！我是党建助手，只为已登记党支部的成员服务：请先在您所在支部的群里"
                   "使用我，或联系组织管理员。")
OPEN_MODE_WARNING = ("开放模式：未设置组织管理员（DANGJIAN_ADMINS），任何群都被视为党支部、"
                     "群管理员都是支部书记。正式使用前请设置 DANGJIAN_ADMINS。")
NOT_GLOBAL_ADMIN = "抱歉，只有组织管理员（DANGJIAN_ADMINS）可以登记或注销党支部。"
OPEN_MODE_BIND = "当前为开放模式（未设置 DANGJIAN_ADMINS）：每个群都视为党支部，无需登记。"
BIND_USAGE = "用法：在支部群内发送 /bind 支部名称，如 /bind 第一党支部"
UNBIND_USAGE = "用法：在支部群内发送 /unbind，或私聊发送 /unbind 群id（见 /branches）"
NAME_MAX = 60
GROUP_TYPES = ("group", "supergroup")


def branches_only(open_mode: bool) -> ColumnElement[bool]:
    """The SQL condition on Chat of a branch: a group in open mode, else a registered one."""
    if open_mode:
        return col(Chat.type).in_(GROUP_TYPES)
    return col(Chat.registered_at).is_not(None)


def is_registered(session: Session, chat_id: int) -> bool:
    chat = session.get(Chat, chat_id)
    return chat is not None and chat.registered_at is not None


def is_branch(session: Session, chat_id: int, open_mode: bool) -> bool:
    """A group the bot serves as a branch: every group in open mode, else a registered one."""
    if open_mode:
        chat = session.get(Chat, chat_id)
        return chat is None or chat.type in GROUP_TYPES
    return is_registered(session, chat_id)


def seen_branches(session: Session, user_id: int, open_mode: bool) -> list[int]:
    """The branches where the bot has seen this member (an open stay), registered ones only
    unless in open mode."""
    query = select(BranchMembership.chat_id).where(
        BranchMembership.user_id == user_id, col(BranchMembership.left_at).is_(None))
    if not open_mode:
        query = query.join(Chat, col(Chat.id) == BranchMembership.chat_id).where(
            col(Chat.registered_at).is_not(None))
    return sorted(set(session.exec(query).all()))


def secretary_candidates(session: Session, actor: Actor,
                         open_mode: bool) -> tuple[list[int], list[int]]:
    """For acts in a private chat: the branches the actor surely runs (granted; every branch
    for a global admin), and the other branches they were seen in, where their platform says
    whether they administer the group. Branches only: a group unbound since is left out."""
    if actor.is_global_admin:
        return sorted(session.exec(select(Chat.id).where(branches_only(open_mode))).all()), []
    granted = [chat_id for chat_id in secretary_branches(session, actor)
               if is_branch(session, chat_id, open_mode)]
    return granted, [chat_id for chat_id in seen_branches(session, actor.user_id, open_mode)
                     if chat_id not in granted]


def may_serve(session: Session, *, chat_id: int, in_group: bool, user_id: int | str,
              admins: Collection[int | str]) -> str | None:
    """Whether this user may be served in this chat: None when yes, else the one line they get.
    Open mode (no admins) serves everyone; global admins are served everywhere; a group must be
    a registered branch; a private chat needs a member seen in a registered branch."""
    if not admins or user_id in admins:
        return None
    if in_group:
        return None if is_registered(session, chat_id) else UNREGISTERED
    if isinstance(user_id, int) and seen_branches(session, user_id, open_mode=False):
        return None
    return PRIVATE_REFUSAL


@dataclass(frozen=True)
class BindResult:
    name: str
    renamed_from: str | None  # the earlier name when the group was already registered


def _require_global_admin(actor: Actor, open_mode: bool) -> None:
    if open_mode:
        raise UserError(OPEN_MODE_BIND)
    if not actor.is_global_admin:
        raise UserError(NOT_GLOBAL_ADMIN)


def bind(session: Session, actor: Actor, name: str, at: datetime, *,
         open_mode: bool = False) -> BindResult:
    """/bind 支部名称 in a group: register it as a branch (or rename it), audited."""
    _require_global_admin(actor, open_mode)
    if not actor.in_group:
        raise UserError("请在要登记的支部群内发送。" + BIND_USAGE)
    name = " ".join(name.split()) or actor.chat_title.strip()
    if not name:
        raise UserError(BIND_USAGE)
    if len(name) > NAME_MAX:
        raise UserError(f"支部名称太长（{len(name)} 字），请在 {NAME_MAX} 字以内。")
    return register(session, actor.chat_id, name, actor.user_id, at,
                    title=actor.chat_title, chat_type=actor.chat_type)


def register(session: Session, chat_id: int, name: str, by: int | str, at: datetime, *,
             title: str = "", chat_type: str = "supergroup") -> BindResult:
    """Record the group as a registered branch named `name` (the rule behind /bind and behind
    a global admin adding the bot to a group)."""
    chat = session.get(Chat, chat_id) or Chat(id=chat_id, title=title, type=chat_type)
    earlier = chat.branch_name if chat.registered_at is not None else None
    chat.branch_name = name
    chat.registered_at = chat.registered_at or at
    chat.registered_by = by if isinstance(by, int) else None
    session.add(chat)
    session.add(AuditLog(actor_id=by if isinstance(by, int) else None, chat_id=chat_id,
                         action="rename" if earlier else "bind", entity="branch",
                         entity_id=str(chat_id), detail=name if not earlier else
                         f"{earlier} -> {name}"))
    return BindResult(name=name, renamed_from=earlier if earlier != name else None)


def unbind(session: Session, actor: Actor, target: str = "", *, open_mode: bool = False) -> str:
    """/unbind in a registered group (or /unbind 群id in private): the group is no longer a
    branch; its records stay. Returns the name it had."""
    _require_global_admin(actor, open_mode)
    if actor.in_group:
        chat_id = actor.chat_id
    elif target.strip().lstrip("-").isdigit():
        chat_id = int(target.strip())
    else:
        raise UserError(UNBIND_USAGE)
    chat = session.get(Chat, chat_id)
    if chat is None or chat.registered_at is None:
        raise UserError("该群尚未登记为党支部。" if actor.in_group else
                        f"没有登记为党支部的群 {chat_id}，请用 /branches 查看。")
    name = branch_label(chat)
    chat.branch_name, chat.registered_at, chat.registered_by = None, None, None
    session.add(chat)
    session.add(AuditLog(actor_id=actor.user_id, chat_id=chat_id, action="unbind",
                         entity="branch", entity_id=str(chat_id), detail=name))
    return name


@dataclass(frozen=True)
class Branch:
    chat_id: int
    name: str
    title: str
    registered_at: datetime
    registered_by: str
    members: int


def branches(session: Session, actor: Actor, *, open_mode: bool = False) -> list[Branch]:
    """/branches: the registered branches, for global admins."""
    _require_global_admin(actor, open_mode)
    chats = session.exec(select(Chat).where(col(Chat.registered_at).is_not(None))
                         .order_by(col(Chat.registered_at))).all()
    counts = dict(session.exec(
        select(BranchMembership.chat_id, func.count(col(BranchMembership.id)))
        .where(col(BranchMembership.left_at).is_(None))
        .group_by(col(BranchMembership.chat_id))).all())
    by_ids = {chat.registered_by for chat in chats if chat.registered_by is not None}
    names = {m.id: m.display_name for m in session.exec(
        select(Member).where(col(Member.id).in_(by_ids)))} if by_ids else {}
    return [
        Branch(chat_id=chat.id, name=branch_label(chat), title=chat.title,
               registered_at=chat.registered_at,  # type: ignore[arg-type]
               registered_by=names.get(chat.registered_by or 0) or str(chat.registered_by or ""),
               members=counts.get(chat.id, 0))
        for chat in chats
    ]
