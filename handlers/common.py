"""What several flows need: the branches a secretary runs from a private chat, and long lists
cut into messages."""

from __future__ import annotations

from dataclasses import replace

from bot.core import Flow, escape, mention
from bot.services.people import Actor, secretary_candidates

__all__ = ["as_secretary_of", "escape", "mention", "messages", "secretary_chats"]

MAX_MESSAGE = 4096


async def secretary_chats(flow: Flow, actor: Actor) -> list[int]:
    """The branches a secretary runs, for what they do in a private chat: granted ones, and
    the branches they belong to whose group their platform says they administer (every
    registered branch chat for a global admin)."""
    granted, others = await flow.services.db.run(
        lambda session: secretary_candidates(session, actor))
    administered = await admin_of(flow, [chat_id for chat_id in others if chat_id not in granted])
    return sorted({*granted, *administered})


async def admin_of(flow: Flow, chat_ids: list[int]) -> set[int]:
    """Which of these groups the acting user administers, per the platform (cached like every
    admin check): how a secretary acting in a private chat is recognised."""
    return {chat_id for chat_id in chat_ids if await flow.is_admin_of(chat_id)}


def as_secretary_of(actor: Actor, chat_id: int) -> Actor:
    """The actor acting for a branch `secretary_chats` found they run (from a private chat)."""
    return replace(actor, chat_id=chat_id, chat_type="supergroup", is_chat_admin=True)


def messages(blocks: list[str], separator: str = "\n\n") -> list[str]:
    """Blocks joined into as few messages as the length limit allows, each kept whole."""
    found, current = [], ""
    for block in blocks:
        if current and len(current) + len(separator) + len(block) > MAX_MESSAGE - 100:
            found.append(current)
            current = block
        else:
            current = f"{current}{separator}{block}" if current else block
    found.append(current)
    return found
