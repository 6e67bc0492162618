"""What several flows need: the branches a secretary runs from a private chat, and long lists
cut into messages."""

from __future__ import annotations

from dataclasses import replace

from bot.core import Flow, escape, mention
from bot.services.organization import secretary_candidates
from bot.services.people import Actor

__all__ = ["as_secretary_of", "escape", "mention", "messages", "secretary_chats"]

MAX_MESSAGE = 4096


async def secretary_chats(flow: Flow, actor: Actor) -> list[int]:
    """The branches a secretary runs, for what they do in a private chat: granted ones, and
    the branches they were seen in whose group their platform says they administer (every
    branch for a global admin)."""
    open_mode = flow.services.settings.open_mode
    granted, others = await flow.services.db.run(
        lambda session: secretary_candidates(session, actor, open_mode))
    # the platform's answer, cached like every admin check
    administered = [chat_id for chat_id in others if await flow.is_admin_of(chat_id)]
    return sorted({*granted, *administered})


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
