"""Who may add documents to the knowledge base, and which files are accepted."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from bot.services.errors import UserError
from bot.services.people import Actor, is_secretary, secretary_branches
from content.ingest import SUPPORTED_SUFFIXES

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def check_upload(session: Session, actor: Actor, file_name: str, size: int) -> None:
    """Secretaries (of this group, or holding a grant anywhere when in private) and admins only;
    txt/md/docx/pdf up to 10 MB."""
    allowed = is_secretary(session, actor) or (
        not actor.in_group and bool(secretary_branches(session, actor))
    )
    if not allowed:
        raise UserError("抱歉，只有支部书记或管理员可以向知识库添加文件。")
    suffix = Path(file_name).suffix.lower()
    if suffix in (".xlsx", ".xls", ".csv"):
        raise UserError("表格文件不能加入知识库；如果这是党员名册，请回复该文件发送 /roster 导入。")
    if suffix not in SUPPORTED_SUFFIXES:
        raise UserError(f"不支持的文件类型「{suffix or '无扩展名'}」，请上传 txt、md、docx 或 pdf 文件。")
    if size > MAX_UPLOAD_BYTES:
        raise UserError("文件过大，请上传 10MB 以内的文件。")
