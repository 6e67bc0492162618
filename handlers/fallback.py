"""Last resort for what no feature handles: nothing a user does to the bot goes unanswered.

Registered after every feature, so these only see updates all features passed over.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from bot.channels.base import Event
from bot.core import Flow, OnMessage, Tap, escape

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


async def on_unknown_command(flow: Flow) -> None:
    """A command we do not have: in private, addressed to us by name in a group, or in a group
    so close to one of ours that it is surely meant for us; with the nearest one when any."""
    command = next(iter(flow.text.split()), "")
    name, _, bot = command[1:].partition("@")
    addressed = bool(bot) and bot.lower() == flow.bot_username.lower()
    nearest = nearest_command(name, flow.core.commands)
    if nearest is not None:
        await flow.reply(f"没有 /{escape(name)} 这个命令。您是想用 /{nearest} 吗？"
                         "发送 /help 查看可用命令。")
    elif not flow.in_group or addressed:
        await flow.reply(UNKNOWN_COMMAND)


async def on_other_private_message(flow: Flow) -> None:
    """Stickers, photos, voice and the like in a private chat."""
    await flow.reply(UNSUPPORTED_MESSAGE)


async def on_stale_button(flow: Flow) -> None:
    """A button no feature recognises (an old message, or forged data): stop the spinner."""
    await flow.answer(STALE_BUTTON, alert=True)


def _command(event: Event) -> bool:
    return event.is_command and event.attachment is None


def _private_content(event: Event) -> bool:
    return event.chat.kind == "private" and not event.joined and event.left is None


ROUTES = {0: [  # registered after every feature: only leftovers
    OnMessage(_command, on_unknown_command),
    OnMessage(_private_content, on_other_private_message),
    Tap(None, on_stale_button),
]}
