"""Telegram's flood limits where Telegram applies them: on what posts or edits messages.

PTB's AIORateLimiter puts every request naming a group chat in that group's 20-per-minute
bucket, reads such as getChatMember included, so sixty members tapping 签到 in one group would
queue behind each other for minutes. Here only what posts or edits messages is limited.
Retries are not the limiter's business: every request, limited or not, is retried (or not)
under the one policy in bot/http.py, so AIORateLimiter's own retry of a 429 is switched off.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import AIORateLimiter

FLOOD_LIMITED = frozenset({
    "sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "sendAnimation", "sendVideo",
    "sendAudio", "sendVoice", "sendSticker", "sendPoll", "sendLocation", "copyMessage",
    "forwardMessage", "editMessageText", "editMessageCaption", "editMessageReplyMarkup",
    "editMessageMedia", "pinChatMessage",
})

OVERALL_SPACING = 1 / 28
"""Seconds between two messages: AIORateLimiter's default bucket of 30 lets 50 messages out in
the first 0.7 s of a burst; spacing them keeps every one-second window within Telegram's 30,
with room for two to arrive early when a busy event loop delays the sends before them."""


class BotApiLimiter(AIORateLimiter):
    """AIORateLimiter (under 30 messages/s overall, 20/min per group) for message posts and
    edits only; no retries of its own."""

    def __init__(self) -> None:
        super().__init__(overall_max_rate=1, overall_time_period=OVERALL_SPACING, max_retries=0)

    async def process_request(self, callback: Any, args: Any, kwargs: dict[str, Any],
                              endpoint: str, data: dict[str, Any],
                              rate_limit_args: int | None) -> Any:
        if endpoint not in FLOOD_LIMITED:  # no chat_id: AIORateLimiter applies no bucket
            data = {key: value for key, value in data.items() if key != "chat_id"}
        return await super().process_request(callback, args, kwargs, endpoint, data,
                                              rate_limit_args)
