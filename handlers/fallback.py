"""Last resort for what no feature handles: nothing a user does to the bot goes unanswered.

Registered after every feature, so these only see updates all features passed over.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.context import BotContext
from handlers.common import reply

UNKNOWN_COMMAND = "没有这个命令。发送 /help 查看可用命令。"
UNSUPPORTED_MESSAGE = "我只能理解文字消息和文件（txt、md、docx、pdf）。请直接输入问题，或发送 /help 查看用法。"
STALE_BUTTON = "该按钮已失效，请重新发起操作。"


async def on_unknown_command(update: Update, context: BotContext) -> None:
    """A command we do not have: in private, or addressed to us by name in a group."""
    message = update.effective_message
    command = next(iter((message.text or "").split()), "") if message else ""
    in_private = update.effective_chat is not None and update.effective_chat.type == "private"
    addressed = "@" in command and command.split("@", 1)[1].lower() == (
        context.bot.username or ""
    ).lower()
    if in_private or addressed:
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
