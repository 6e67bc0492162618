"""Commands typed the way Chinese keyboards type them: `／me` (a full-width slash), `/ me`,
`／ｃｈｅｃｋｉｎ`. Telegram marks none of these as a command, so each is rewritten to the
command it means and handled as that, before any other handler takes it for a question."""

from __future__ import annotations

import re
import unicodedata

from telegram import Update
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from bot.context import BotContext

LOOSE_COMMAND = re.compile(
    r"^\s*[/／]\s*([A-Za-zＡ-Ｚａ-ｚ][\w＿Ａ-Ｚａ-ｚ０-９]*(?:[@＠][A-Za-z0-9_]+)?)(.*)$",
    re.DOTALL | re.ASCII)


def as_command(text: str) -> str | None:
    """`/me …` for `／me …`, `/ me …` or `／ｍｅ …`; None for text that is no such command
    (a real `/me` is left to Telegram's own command entity)."""
    match = LOOSE_COMMAND.match(text)
    if match is None or text.startswith("/" + match.group(1)):
        return None
    word = unicodedata.normalize("NFKC", match.group(1))
    rest = match.group(2)
    return f"/{word}" + (rest if not rest or rest[0].isspace() else " " + rest)


async def on_loose_command(update: Update, context: BotContext) -> None:
    """Handle the message again as the command it means, and nothing else handles it."""
    message = update.effective_message
    command = as_command(message.text or "") if message else None
    if command is None:
        return
    data = update.to_dict()
    kind = next(key for key in ("message", "edited_message") if key in data)
    word = command.split(maxsplit=1)[0]
    data[kind]["text"] = command
    data[kind]["entities"] = [{"type": "bot_command", "offset": 0,
                               "length": len(word.encode("utf-16-le")) // 2}]
    await context.application.process_update(Update.de_json(data, context.bot))
    raise ApplicationHandlerStop


HANDLERS = {-10: [MessageHandler(filters.TEXT & ~filters.COMMAND & filters.Regex(LOOSE_COMMAND),
                                 on_loose_command)]}
