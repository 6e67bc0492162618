"""The one retry policy and the flood limiter over real HTTP against the fake Bot API, one test
per class of failure: what is repeated, what never is, and what is not throttled; and a
reminder delivery left uncertain: recorded, reported to the secretary, never repeated.

Pauses go through a recording `sleep` that returns at once, so no test waits for a backoff."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from fake_bot_api import FakeBotApi
from sqlmodel import select
from telegram.error import BadRequest
from telegram.ext import ExtBot

from bot.channels.telegram import TelegramChannel
from bot.core import Core
from bot.http import (
    PAUSES,
    RETRIES,
    AiohttpRequest,
    NotSent,
    RetryPolicy,
    SendUncertain,
    ServerError,
)
from bot.ratelimit import BotApiLimiter
from bot.scheduler import CoreSender
from bot.services.duties import DutyService
from bot.services.people import Actor, remember
from bot.services.reminders import ReminderService
from storage.db import Database
from storage.models import Delivery

GROUP = -100555
ADMIN = 900  # a global admin who talks to the bot privately
TZ = ZoneInfo("Asia/Shanghai")


class Pauses:
    """The policy's pauses, recorded instead of waited; `then()` runs at each one."""

    def __init__(self) -> None:
        self.taken: list[float] = []
        self.then: Callable[[], object] = lambda: None
        self.uncertain: Counter[str] = Counter()

    async def sleep(self, seconds: float) -> None:
        self.taken.append(seconds)
        self.then()

    def note_uncertain(self, method: str) -> None:
        self.uncertain[method] += 1


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
async def bot(api: FakeBotApi, pauses: Pauses) -> AsyncIterator[ExtBot]:
    """The bot's own HTTP client and limiter, not connected yet (no getMe)."""
    policy = RetryPolicy(sleep=pauses.sleep, on_uncertain=pauses.note_uncertain)
    request = AiohttpRequest(8, policy)
    await request.initialize()
    yield ExtBot(api.token, base_url=api.base_url, rate_limiter=BotApiLimiter(), request=request,
                 get_updates_request=request)
    await request.shutdown()


def rejected(api: FakeBotApi, method: str) -> int:
    return len([c for c in api.rejected if c.method == method])


async def test_refused_connection_is_retried_and_sent_once(api: FakeBotApi, bot: ExtBot,
                                                          pauses: Pauses) -> None:
    """Nobody listens: the message never left, so it is sent again (and then once)."""
    api.refuse_connections()
    pauses.then = api.accept_connections
    await bot.send_message(GROUP, "通知")
    assert pauses.taken == [PAUSES[0]]
    assert len(api.calls_of("sendMessage")) == 1


async def test_a_send_that_never_connects_gives_up_after_the_retries(
        api: FakeBotApi, bot: ExtBot, pauses: Pauses) -> None:
    """Refused every time: RETRIES repeats, then the caller learns it was certainly not sent."""
    api.refuse_connections()
    with pytest.raises(NotSent):
        await bot.send_message(GROUP, "通知")
    assert pauses.taken == list(PAUSES[:RETRIES])
    api.accept_connections()
    assert not api.calls_of("sendMessage") and not pauses.uncertain


async def test_bad_gateway_on_a_send_is_not_repeated_and_reported(
        api: FakeBotApi, bot: ExtBot, pauses: Pauses) -> None:
    """A 502 may come after Telegram acted: the send is reported uncertain, not repeated."""
    api.fail("sendMessage", status=502, count=5)
    with pytest.raises(SendUncertain) as raised:
        await bot.send_message(GROUP, "通知")
    assert isinstance(raised.value.__cause__, ServerError)
    assert rejected(api, "sendMessage") == 1 and pauses.taken == []
    assert pauses.uncertain == {"sendMessage": 1}


async def test_dropped_connection_on_a_send_is_not_repeated(api: FakeBotApi, bot: ExtBot,
                                                            pauses: Pauses) -> None:
    """Telegram got the request and the connection broke before its answer ("Server
    disconnected"): the member has the message; it is not sent a second time."""
    api.drop("sendMessage")
    with pytest.raises(SendUncertain) as raised:
        await bot.send_message(GROUP, "通知")
    assert isinstance(raised.value.__cause__.__cause__, aiohttp.ServerDisconnectedError)
    assert len(api.calls_of("sendMessage")) == 1 and pauses.taken == []
    assert pauses.uncertain == {"sendMessage": 1}


async def test_timed_out_send_is_not_repeated(api: FakeBotApi, bot: ExtBot,
                                              pauses: Pauses) -> None:
    """A send whose answer never came may have arrived: it is not sent again."""
    api.slow("sendDocument", delay=30)
    with pytest.raises(SendUncertain):
        await bot.send_document(GROUP, b"ledger", filename="台账.xlsx", read_timeout=0.3)
    assert len(api.calls_of("sendDocument")) == 1 and pauses.taken == []


async def test_flood_control_is_waited_out_and_the_send_goes_once(
        api: FakeBotApi, bot: ExtBot, pauses: Pauses) -> None:
    """A 429 means Telegram did not deliver: wait as long as it says, then send (once)."""
    api.fail("sendMessage", status=429, retry_after=7)
    await bot.send_message(GROUP, "通知")
    assert pauses.taken == [7.0]
    assert rejected(api, "sendMessage") == 1 and len(api.calls_of("sendMessage")) == 1


@pytest.mark.parametrize("fault", ["502", "drop", "timeout"])
async def test_reads_and_edits_are_repeated_on_transient_failures(
        api: FakeBotApi, bot: ExtBot, pauses: Pauses, fault: str) -> None:
    """getChatMember and an edit change nothing twice: repeated after a 5xx, a dropped
    connection or a timeout, until they succeed."""
    message = await bot.send_message(GROUP, "已签到 0")
    calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("getChatMember", lambda: bot.get_chat_member(GROUP, 7, read_timeout=0.3)),
        ("editMessageText", lambda: bot.edit_message_text(
            "已签到 1", chat_id=GROUP, message_id=message.message_id, read_timeout=0.3)),
    ]
    for method, call in calls:
        if fault == "502":
            api.fail(method, status=502, count=2)
        elif fault == "drop":
            api.drop(method, count=2)
        else:
            api.slow(method, delay=30, count=2)
        pauses.taken.clear()
        await call()
        assert pauses.taken == list(PAUSES[:2]), method
    assert not pauses.uncertain


async def test_a_read_that_keeps_failing_gives_up(api: FakeBotApi, bot: ExtBot,
                                                  pauses: Pauses) -> None:
    """RETRIES repeats, not more: the caller is told."""
    api.fail("getChatMember", status=502, count=10)
    with pytest.raises(ServerError):
        await bot.get_chat_member(GROUP, 7)
    assert rejected(api, "getChatMember") == RETRIES + 1


async def test_a_refusal_is_never_repeated(api: FakeBotApi, bot: ExtBot,
                                           pauses: Pauses) -> None:
    """A 400 says what is wrong with the request itself: repeating cannot help."""
    api.fail("getChatMember", status=400, count=5)
    with pytest.raises(BadRequest):
        await bot.get_chat_member(GROUP, 7)
    assert rejected(api, "getChatMember") == 1 and pauses.taken == []


async def test_the_long_poll_waits_out_an_outage_of_any_length(
        api: FakeBotApi, bot: ExtBot, pauses: Pauses) -> None:
    """getUpdates keeps trying past the others' RETRIES, on the longest pause, until it gets
    through."""
    api.fail("getUpdates", status=502, count=len(PAUSES) + 2)
    api.send("/start", user_id=5)
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates] == ["/start"]
    assert pauses.taken == [*PAUSES, PAUSES[-1], PAUSES[-1]]


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


@pytest.mark.parametrize("fault", ["502", "drop"])
async def test_an_uncertain_reminder_delivery_is_reported_and_never_repeated(
        api: FakeBotApi, bot: ExtBot, pauses: Pauses, tmp_path: Path, fault: str) -> None:
    """The group's reminder meets a 502 (not acted on) or a dropped connection (acted on):
    either way the bot cannot know, so the delivery row says uncertain, the admin who set it
    is told privately, and a second run of the same fire sends nothing."""
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    now = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    reminders = ReminderService(db, TZ, DutyService(list, TZ), lambda: now)
    admin = Actor(user_id=ADMIN, name="管理员", chat_id=GROUP, chat_type="supergroup",
                  chat_title="第一支部", is_global_admin=True)
    with db.session() as session:
        remember(session, Actor(user_id=ADMIN, name="管理员", chat_id=ADMIN))
        remember(session, admin)
        reminder, first = reminders.schedule(session, admin, "每天 08:00 早读", now=now)
    assert first is not None
    now = first
    if fault == "502":
        api.fail("sendMessage", status=502)
    else:
        api.drop("sendMessage")
    core = Core(SimpleNamespace(db=db), [])  # type: ignore[arg-type]
    core.add_channel(TelegramChannel(bot))
    sender = CoreSender(core)
    for _ in range(2):
        await reminders.fire(reminder.id or 0, first, sender, worker="w")
    attempts = api.calls_of("sendMessage", GROUP) + [
        c for c in api.rejected if c.method == "sendMessage" and c.chat_id == GROUP]
    assert len(attempts) == 1
    with db.session() as session:
        assert [d.status for d in session.exec(select(Delivery))] == ["uncertain"]
    (report,) = api.calls_of("sendMessage", ADMIN)
    assert "可能未送达" in report.text
    assert pauses.uncertain == {"sendMessage": 1} and pauses.taken == []
    await db.close()
