"""What a branch is called wherever the bot names it (the 台账, replies in a private chat).

One place on purpose: the name a global admin registered with /bind, else the group's title.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from storage.models import Chat

UNNAMED = "未命名支部"


def branch_label(chat: Chat) -> str:
    """The branch's name as people know it: registered, else the group's title; a group whose
    title the bot never learnt is 未命名支部 with its chat number, so two such groups in a list
    stay apart."""
    name = chat.branch_name or chat.title
    return name if name.strip() else f"{UNNAMED}（{chat.id}）"


def label_of(session: Session, chat_id: int) -> str:
    """The name of the branch `chat_id`, known to the bot or not."""
    return branch_label(session.get(Chat, chat_id) or Chat(id=chat_id))


def branch_labels(session: Session, chat_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Names of the given branches (every chat the bot knows for None)."""
    query = select(Chat)
    if chat_ids is not None:
        query = query.where(col(Chat.id).in_(list(chat_ids)))
    return {chat.id: branch_label(chat) for chat in session.exec(query)}
