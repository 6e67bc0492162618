"""The Bot API limiter over real HTTP: what is retried, what never is, what is not throttled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from fake_bot_api import FakeBotApi
from telegram.error import NetworkError, TimedOut
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.ratelimit import BotApiLimiter

GROUP = -100555


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[ExtBot]:
    bot = ExtBot(api.token, base_url=api.base_url, rate_limiter=BotApiLimiter(),
                 request=HTTPXRequest(read_timeout=1.0))
    async with bot:
        yield bot


async def test_bad_gateway_is_retried_and_sent_once(api: FakeBotApi, bot: ExtBot) -> None:
    """Two 502s, then the message goes through: one message, after two refused attempts."""
    api.fail("sendMessage", status=502, count=2)
    await bot.send_message(GROUP, "通知")
    assert len(api.calls_of("sendMessage")) == 1
    assert len(api.rejected) == 2


async def test_persistent_bad_gateway_gives_up(api: FakeBotApi, bot: ExtBot) -> None:
    """A Bot API that keeps failing is not retried forever."""
    api.fail("sendMessage", status=502, count=10)
    with pytest.raises(NetworkError):
        await bot.send_message(GROUP, "通知")
    assert len(api.rejected) == 4 and not api.calls_of("sendMessage")


async def test_timed_out_send_is_not_repeated(api: FakeBotApi, bot: ExtBot) -> None:
    """A send whose answer never came may have arrived: it is not sent again."""
    api.slow("sendMessage", delay=1.5)
    with pytest.raises(TimedOut):
        await bot.send_message(GROUP, "通知")
    assert len(api.calls_of("sendMessage")) == 1


async def test_timed_out_edit_is_repeated(api: FakeBotApi, bot: ExtBot) -> None:
    """An edit repeated changes nothing twice, so a timeout is retried."""
    message = await bot.send_message(GROUP, "已签到 0")
    api.slow("editMessageText", delay=1.5)
    await bot.edit_message_text("已签到 1", chat_id=GROUP, message_id=message.message_id)
    assert len(api.calls_of("editMessageText")) == 2


async def test_reads_are_not_held_to_the_group_message_limit(api: FakeBotApi,
                                                             bot: ExtBot) -> None:
    """Sixty members' admin checks in one group do not queue behind its 20 messages a minute."""
    started = time.monotonic()
    for user in range(60):
        await bot.get_chat_member(GROUP, user)
    assert time.monotonic() - started < 5


async def test_burst_stays_within_the_overall_limit(api: FakeBotApi, bot: ExtBot) -> None:
    """45 messages at once to different chats: no second ever carries more than 30."""
    await asyncio.gather(*(bot.send_message(5000 + i, "通知") for i in range(45)))
    assert len(api.calls_of("sendMessage")) == 45
    assert api.violations == []
