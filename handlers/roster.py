"""Keeps each branch's roster (its 应到), with members' names, from what its group shows: who
speaks, taps a button, joins or leaves. Runs before every other handler and never stops them; each member is written
once per process, so the check-in path itself does not pay for it."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.context import BotContext
from bot.services import roster
from bot.services.people import name_member

log = logging.getLogger(__name__)


async def on_group_update(update: Update, context: BotContext) -> None:
    chat, message = update.effective_chat, update.effective_message
    if chat is None or chat.type not in ("group", "supergroup"):
        return
    seen: set[tuple[int, int]] = context.bot_data.setdefault("roster_seen", set())
    joined = [u for u in (message.new_chat_members if message else ()) or () if not u.is_bot]
    sender = update.effective_user
    if sender is not None and not sender.is_bot and (chat.id, sender.id) not in seen:
        joined.append(sender)
    gone = update.message.left_chat_member if update.message else None
    if not joined and gone is None:
        return
    at = update.message.date if update.message else context.services.clock()

    def record(session: Session) -> None:
        for user in joined:  # named too, so the 台账 and lists never show a bare id
            name_member(session, user.id, user.full_name or "", user.username)
            roster.join(session, chat.id, user.id, at)
        if gone is not None and not gone.is_bot:
            roster.leave(session, chat.id, gone.id, at)

    try:
        await context.services.db.run(record)
    except OperationalError:  # bookkeeping: the handler that answers reports the outage
        log.warning("roster of chat %s not updated while the database is down", chat.id)
        return
    seen.update((chat.id, user.id) for user in joined)
    if gone is not None:
        seen.discard((chat.id, gone.id))


HANDLERS = {-20: [MessageHandler(filters.ChatType.GROUPS, on_group_update),
                  CallbackQueryHandler(on_group_update)]}
