"""SQLModel tables. Times are stored in UTC; Telegram ids need 64-bit columns.

Each feature appends its tables in a section of its own below the shared core.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

def utcnow() -> datetime:
    return datetime.now(UTC)

# --- knowledge base -------------------------------------------------------------------------

class Document(SQLModel, table=True):
    """One plan document; re-ingesting the same name replaces it."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=255)
    title: str = Field(max_length=255)
    content_hash: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)

class Passage(SQLModel, table=True):
    """A unit of the plan's own structure (part, subsection, item, clause) with its section path."""

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    ordinal: int
    parent_ordinal: int | None = None
    level: str = Field(max_length=16)
    heading: str = Field(sa_column=Column(Text, nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))

# --- people, branches, roles ----------------------------------------------------------------

class Chat(SQLModel, table=True):
    """A Telegram chat; a group is a branch (支部)."""

    id: int = Field(sa_type=BigInteger, primary_key=True)
    title: str = Field(default="", max_length=255)
    type: str = Field(default="private", max_length=16)
    reachable: bool = True
    created_at: datetime = Field(default_factory=utcnow)

class Member(SQLModel, table=True):
    """A Telegram user who has talked to the bot."""

    id: int = Field(sa_type=BigInteger, primary_key=True)
    display_name: str = Field(default="", max_length=255)
    username: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)

class RoleGrant(SQLModel, table=True):
    """An explicit secretary grant in a branch (group admins are secretaries without one)."""

    __table_args__ = (UniqueConstraint("chat_id", "user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, index=True)
    user_id: int = Field(sa_type=BigInteger, index=True)
    role: str = Field(default="secretary", max_length=32)
    granted_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)

class AuditLog(SQLModel, table=True):
    """Append-only record of every correction and administrative act."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: int | None = Field(default=None, sa_type=BigInteger)
    chat_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    entity_id: str = Field(default="", max_length=64)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
