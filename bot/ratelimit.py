"""How the bot talks to the Bot API under load and faults: Telegram's flood limits where Telegram
applies them, and retries where a retry cannot send anything twice.

PTB's AIORateLimiter puts every request naming a group chat in that group's 20-per-minute
bucket, reads such as getChatMember included, so sixty members tapping 签到 in one group would
queue behind each other for minutes. Here only what posts or edits messages is limited. It also
retries only Telegram's 429; this adds retries for 5xx answers and connection failures, and for
timeouts when repeating cannot duplicate a message (reads, edits, settings, or a request that
never left the machine).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import AIORateLimiter

from bot.http import NeverSent

log = logging.getLogger(__name__)

FLOOD_LIMITED = frozenset({
    "sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "sendAnimation", "sendVideo",
    "sendAudio", "sendVoice", "sendSticker", "sendPoll", "sendLocation", "copyMessage",
    "forwardMessage", "editMessageText", "editMessageCaption", "editMessageReplyMarkup",
    "editMessageMedia", "pinChatMessage",
})
REPEATABLE_PREFIXES = ("get", "set", "delete", "edit")
"""Methods whose repetition after an unanswered call changes nothing twice."""
NETWORK_BACKOFF = (0.5, 1.0, 2.0)


OVERALL_SPACING = 1 / 28
"""Seconds between two messages: AIORateLimiter's default bucket of 30 lets 50 messages out in
the first 0.7 s of a burst; spacing them keeps every one-second window within Telegram's 30,
with room for two to arrive early when a busy event loop delays the sends before them."""


class BotApiLimiter(AIORateLimiter):
    """AIORateLimiter (under 30 messages/s overall, 20/min per group, 429 retried) for message
    posts and edits only, with retries of transient network failures."""

    def __init__(self, max_retries: int = 3) -> None:
        super().__init__(overall_max_rate=1, overall_time_period=OVERALL_SPACING,
                         max_retries=max_retries)

    async def process_request(self, callback: Any, args: Any, kwargs: dict[str, Any],
                              endpoint: str, data: dict[str, Any],
                              rate_limit_args: int | None) -> Any:
        if endpoint not in FLOOD_LIMITED:  # no chat_id: AIORateLimiter applies no bucket
            data = {key: value for key, value in data.items() if key != "chat_id"}
        for attempt, pause in enumerate(NETWORK_BACKOFF, 1):
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data,
                                                     rate_limit_args)
            except NetworkError as exc:
                if not retryable(endpoint, exc):
                    raise
                log.warning("%s failed (%s), retry %d in %.1f s", endpoint, exc, attempt, pause)
                await asyncio.sleep(pause)
        return await super().process_request(callback, args, kwargs, endpoint, data,
                                             rate_limit_args)


def retryable(endpoint: str, error: NetworkError) -> bool:
    """A 5xx or a failed connection: retry. A timeout: only if the request never left the
    machine or the method is safe to repeat. A 400: never."""
    if isinstance(error, BadRequest):
        return False
    if isinstance(error, TimedOut):
        return isinstance(error, NeverSent) or endpoint.startswith(REPEATABLE_PREFIXES)
    return True
