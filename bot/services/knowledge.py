"""Who may add, see and remove documents of the knowledge base, and which files are accepted.

Organization documents (the plans directory, `dangjian ingest`, a global admin's upload) answer
everyone; a branch document (its secretary's upload) answers only that branch's members, in its
group and in their private chats.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete
from sqlmodel import Session, col, or_, select

from bot.services import organization
from bot.services.branches import branch_labels
from bot.services.errors import UserError
from bot.services.people import Actor, is_secretary
from content.ingest import LIMITS, SUPPORTED_SUFFIXES
from storage.models import AuditLog, Document, Member, Passage

MAX_UPLOAD_BYTES = LIMITS.file_bytes
NOT_SECRETARY = "抱歉，只有支部书记或管理员可以向知识库添加文件。"
DOCS_USAGE = "用法：/docs 查看知识库文件；/docs 删除 编号 删除一份（与添加的权限相同）"


def check_file(file_name: str, size: int) -> None:
    """txt/md/docx/pdf up to the size bound."""
    suffix = Path(file_name).suffix.lower()
    if suffix in (".xlsx", ".xls", ".csv"):
        raise UserError("表格文件不能加入知识库；如果这是党员名册，请回复该文件发送 /roster 导入。")
    if suffix not in SUPPORTED_SUFFIXES:
        raise UserError(f"不支持的文件类型「{suffix or '无扩展名'}」，请上传 txt、md、docx 或 pdf 文件。")
    if size > MAX_UPLOAD_BYTES:
        raise UserError(f"文件过大（超过 {MAX_UPLOAD_BYTES // 2**20}MB 的上限），未加入知识库。")


def upload_branches(session: Session, actor: Actor,
                    runs: Collection[int]) -> list[int] | None:
    """Where an upload by this actor goes: None for an organization document (a global
    admin's), else the branches it may be for (one in a group; in private, the branches the
    actor `runs`, as `handlers.common.secretary_chats` finds them). Refuses others."""
    if actor.is_global_admin:
        return None
    if actor.in_group:
        if not is_secretary(session, actor):
            raise UserError(NOT_SECRETARY)
        return [actor.chat_id]
    mine = sorted(runs)
    if not mine:
        raise UserError(NOT_SECRETARY + "请在支部群内发送，或确认您是所在支部的群管理员。")
    return mine


def visible_documents(session: Session, actor: Actor, open_mode: bool) -> list[int] | None:
    """The stored documents whose passages may answer this actor (None: all, for global
    admins): the organization's, and those of their branch (the group they ask in, or in
    private every branch where they are a member)."""
    if actor.is_global_admin:
        return None
    branches = ([actor.chat_id] if actor.in_group
                else organization.seen_branches(session, actor.user_id, open_mode))
    scope = col(Document.chat_id).is_(None)
    if branches:
        scope = or_(scope, col(Document.chat_id).in_(branches))
    return list(session.exec(select(Document.id).where(scope)).all())  # type: ignore[arg-type]


@dataclass(frozen=True)
class Listed:
    number: int | None  # None: from the plans directory (not removable here)
    title: str
    name: str
    scope: str
    added_by: str
    added_at: datetime | None


def list_documents(session: Session, actor: Actor, open_mode: bool,
                   directory: Collection[tuple[str, str]]) -> list[Listed]:
    """/docs: the documents this actor can see, the plans directory's (name, title) first."""
    visible = visible_documents(session, actor, open_mode)
    query = select(Document).order_by(col(Document.id))
    if visible is not None:
        query = query.where(col(Document.id).in_(visible))
    documents = list(session.exec(query))
    people = {m.id: m.display_name for m in session.exec(select(Member).where(
        col(Member.id).in_({d.added_by for d in documents if d.added_by})))}
    branch = branch_labels(session, {d.chat_id for d in documents if d.chat_id})
    listed = [Listed(None, title, name, "组织文件", "计划目录", None) for name, title in directory]
    listed.extend(
        Listed(d.id, d.title, d.name,
               "组织文件" if d.chat_id is None else f"支部文件：{branch.get(d.chat_id, d.chat_id)}",
               people.get(d.added_by or 0) or ("命令行导入" if d.added_by is None else
                                               str(d.added_by)), d.created_at)
        for d in documents if d.id is not None)
    return listed


def remove_document(session: Session, actor: Actor, number: str,
                    runs: Collection[int]) -> Document:
    """/docs 删除 编号: the same rights as adding it (global admins for the organization's; the
    branch's secretaries for a branch's); audited."""
    if not number.strip().lstrip("#").isdigit():
        raise UserError(DOCS_USAGE)
    document = session.get(Document, int(number.strip().lstrip("#")))
    if document is None:
        raise UserError(f"没有编号为 {number.strip()} 的知识库文件，请用 /docs 查看。")
    if document.chat_id is None:
        allowed = actor.is_global_admin
    else:
        allowed = document.chat_id in runs or is_secretary(session, actor, document.chat_id)
    if not allowed:
        raise UserError("抱歉，只有添加该文件的支部书记或组织管理员可以删除它。")
    session.exec(delete(Passage).where(col(Passage.document_id) == document.id))
    session.delete(document)
    session.add(AuditLog(actor_id=actor.user_id, chat_id=document.chat_id, action="remove",
                         entity="document", entity_id=str(document.id),
                         detail=f"{document.name}《{document.title}》"))
    return document
