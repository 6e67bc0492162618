"""Commands typed the way Chinese keyboards type them: `／me` (a full-width slash), `/ me`,
`／ｃｈｅｃｋｉｎ`. No platform marks these as a command, so each is rewritten to the
command it means and handled as that, before any other handler takes it for a question."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from bot.channels.base import Event
from bot.core import Flow, OnMessage, StopFlow, is_text

LOOSE_COMMAND = re.compile(
    r"^\s*[/／]\s*([A-Za-zＡ-Ｚａ-ｚ][\w＿Ａ-Ｚａ-ｚ０-９]*(?:[@＠][A-Za-z0-9_]+)?)(.*)$",
    re.DOTALL | re.ASCII)


def as_command(text: str) -> str | None:
    """`/me …` for `／me …`, `/ me …` or `／ｍｅ …`; None for text that is no such command
    (a real `/me` is already a command)."""
    match = LOOSE_COMMAND.match(text)
    if match is None or text.startswith("/" + match.group(1)):
        return None
    word = unicodedata.normalize("NFKC", match.group(1))
    rest = match.group(2)
    return f"/{word}" + (rest if not rest or rest[0].isspace() else " " + rest)


async def on_loose_command(flow: Flow) -> None:
    """Handle the message again as the command it means, and nothing else handles it."""
    command = as_command(flow.text)
    if command is None:
        return
    await flow.core.handle(flow.channel, replace(flow.event, text=command, is_command=True))
    raise StopFlow


def _loose(event: Event) -> bool:
    return is_text(event) and LOOSE_COMMAND.match(event.text) is not None


ROUTES = {-10: [OnMessage(_loose, on_loose_command)]}
