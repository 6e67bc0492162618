"""Keeps each branch's roster (its 应到) from what its group shows: who speaks, joins, leaves.

Runs before every other handler and never stops them.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.context import BotContext
from bot.services import roster


async def on_group_message(update: Update, context: BotContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    seen: set[tuple[int, int]] = context.bot_data.setdefault("roster_seen", set())
    joined = [u for u in message.new_chat_members or () if not u.is_bot]
    sender = message.from_user
    if sender is not None and not sender.is_bot and (chat.id, sender.id) not in seen:
        joined.append(sender)
    gone = message.left_chat_member
    if not joined and gone is None:
        return
    with context.services.db.session() as session:
        for user in joined:
            roster.join(session, chat.id, user.id, message.date)
        if gone is not None and not gone.is_bot:
            roster.leave(session, chat.id, gone.id, message.date)
    seen.update((chat.id, user.id) for user in joined)
    if gone is not None:
        seen.discard((chat.id, gone.id))


HANDLERS = {-20: [MessageHandler(filters.ChatType.GROUPS, on_group_message)]}
