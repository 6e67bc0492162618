"""Last resort for what no feature handles: nothing a user does to the bot goes unanswered.

Registered after every feature, so these only see updates all features passed over.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from handlers.common import escape, reply

UNKNOWN_COMMAND = "没有这个命令。发送 /help 查看可用命令。"
UNSUPPORTED_MESSAGE = "我只能理解文字消息和文件（txt、md、docx、pdf）。请直接输入问题，或发送 /help 查看用法。"
STALE_BUTTON = "该按钮已失效，请重新发起操作。"
SIMILAR = 0.75
"""How alike a typed command must be to one of ours to be suggested (difflib's ratio):
/chekin and /checkin are 0.92, /stat and /stats 0.89, /start2 and /start 0.91."""


def nearest_command(typed: str, known: Iterable[str]) -> str | None:
    """The command `typed` most likely misspells (`chekin` -> `checkin`), if one is close."""
    match = difflib.get_close_matches(typed.lower(), sorted(known), n=1, cutoff=SIMILAR)
    return match[0] if match else None


def _commands(context: BotContext) -> set[str]:
    """Every command the bot handles, as registered."""
    return {command for handlers in context.application.handlers.values()
            for handler in handlers if isinstance(handler, CommandHandler)
            for command in handler.commands}


async def on_unknown_command(update: Update, context: BotContext) -> None:
    """A command we do not have: in private, addressed to us by name in a group, or in a group
    so close to one of ours that it is surely meant for us; with the nearest one when any."""
    message = update.effective_message
    command = next(iter((message.text or "").split()), "") if message else ""
    name, _, bot = command[1:].partition("@")
    in_private = update.effective_chat is not None and update.effective_chat.type == "private"
    addressed = bool(bot) and bot.lower() == (context.bot.username or "").lower()
    nearest = nearest_command(name, _commands(context))
    if nearest is not None:
        await reply(update, f"没有 /{escape(name)} 这个命令。您是想用 /{nearest} 吗？"
                            "发送 /help 查看可用命令。")
    elif in_private or addressed:
        await reply(update, UNKNOWN_COMMAND)


async def on_other_private_message(update: Update, _context: BotContext) -> None:
    """Stickers, photos, voice and the like in a private chat."""
    await reply(update, UNSUPPORTED_MESSAGE)


async def on_stale_button(update: Update, _context: BotContext) -> None:
    """A button no feature recognises (an old message, or forged data): stop the spinner."""
    if update.callback_query is not None:
        await update.callback_query.answer(STALE_BUTTON, show_alert=True)


HANDLERS = [
    MessageHandler(filters.COMMAND & filters.UpdateType.MESSAGE, on_unknown_command),
    MessageHandler(filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
                   & ~filters.StatusUpdate.ALL, on_other_private_message),
    CallbackQueryHandler(on_stale_button),
]
