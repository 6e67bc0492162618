"""Updates run concurrently across users and in arrival order for one user, through the running
Application's update queue (as polling and the webhook feed it)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import pytest
from attendance_bot import attendance_bot
from attendance_world import BRANCH, SECRETARY, START
from sqlmodel import select
from telegram import Update

from bot.app import build_application, size_concurrency
from bot.config import Settings
from bot.http import AiohttpRequest
from bot.ordering import FEWEST, PerUserOrder, running_for, sender_of
from storage.models import Attendance

BEFORE = START - timedelta(minutes=10)


def slow_calls(bot: Any, seconds: float, endpoint: str, chat_id: int | None = None,
               until: asyncio.Event | None = None) -> None:
    """Telegram taking `seconds` to answer `endpoint` (for `chat_id` only, if given); with
    `until`, as long as that event takes to be set (`seconds` then only a net)."""
    answer = bot.api.do_request

    async def do_request(url: str, method: str, request_data: Any = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        params = request_data.json_parameters if request_data else {}
        if url.endswith(f"/{endpoint}") and chat_id in (None, int(params.get("chat_id", 0))):
            if until is None:
                await asyncio.sleep(seconds)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), seconds)
        return await answer(url, method, request_data, *args, **kwargs)

    bot.api.do_request = do_request


def on_call(bot: Any, endpoint: str) -> asyncio.Event:
    """An event set when the bot first calls `endpoint`."""
    called = asyncio.Event()
    answer = bot.api.do_request

    async def do_request(url: str, method: str, request_data: Any = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if url.endswith(f"/{endpoint}"):
            called.set()
        return await answer(url, method, request_data, *args, **kwargs)

    bot.api.do_request = do_request
    return called


def at_once(settings: Settings, updates: int) -> Settings:
    """The same settings with DANGJIAN_CONCURRENT_UPDATES set."""
    return settings.model_copy(update={"concurrent_updates": updates})


async def run_queued(bot: Any, payloads: list[dict[str, Any]]) -> None:
    """Hand the payloads to the running Application at once and wait until all are handled."""
    await bot.app.start()
    try:
        for payload in payloads:
            await bot.app.update_queue.put(Update.de_json(payload, bot.app.bot))
        await bot.app.update_queue.join()
    finally:
        await bot.app.stop()


async def test_a_leave_reason_right_after_its_tap_waits_for_the_tap(settings: Settings) -> None:
    """The tap's private prompt takes a while to send; the reason, already queued behind it,
    must not be handled before the tap has recorded that a reason is expected."""
    async with attendance_bot(settings, BEFORE) as bot:
        calls = await bot.say("/remind 15:00 主题党日 主持人：王书记", SECRETARY, BRANCH)
        [post] = [c for c in calls if c.method == "sendMessage"]
        slow_calls(bot, 0.3, "sendMessage", chat_id=2)
        await run_queued(bot, [
            bot.updates.callback(dict(post.buttons)["请假"], user_id=2, message=post.result),
            bot.updates.message("家里有事", user_id=2, date=int(BEFORE.timestamp())),
        ])
        with bot.services.db.session() as session:
            rows = [(r.user_id, r.status, r.reason) for r in session.exec(select(Attendance))]
    assert rows == [(2, "leave", "家里有事")]


@pytest.mark.parametrize(("running", "answered_first"), [
    (None, "签到成功！"),  # the default: user 3 is answered while user 2's prompt is on its way
    (1, "请在与我的私聊中回复请假原因。"),  # DANGJIAN_CONCURRENT_UPDATES=1: one after another
])
async def test_one_users_slow_reply_does_not_hold_up_another_user(
    settings: Settings, running: int | None, answered_first: str
) -> None:
    if running is not None:
        settings = at_once(settings, running)
    async with attendance_bot(settings, BEFORE) as bot:
        calls = await bot.say("/remind 15:00 主题党日", SECRETARY, BRANCH)
        [post] = [c for c in calls if c.method == "sendMessage"]
        # user 2's prompt is held until user 3 has been answered: at once when they run side by
        # side; one after another, the net's 2 s pass first
        answered_3 = on_call(bot, "answerCallbackQuery")
        slow_calls(bot, 2.0, "sendMessage", chat_id=2, until=answered_3)
        mark = len(bot.api.calls)
        await run_queued(bot, [
            bot.updates.callback(dict(post.buttons)["请假"], user_id=2, message=post.result),
            bot.updates.callback(dict(post.buttons)["签到"], user_id=3, message=post.result),
        ])
        answered = [str(c.params.get("text")) for c in bot.api.calls[mark:]
                    if c.method == "answerCallbackQuery"]
    assert answered[0] == answered_first and len(answered) == 2


async def test_the_processor_keeps_each_senders_order_and_runs_senders_side_by_side() -> None:
    order = PerUserOrder(max_running=2)  # a1 and b1 run; a2 and a3 wait without a slot
    events: list[str] = []

    async def work(name: str, seconds: float) -> None:
        events.append(f"start {name}")
        await asyncio.sleep(seconds)
        events.append(f"end {name}")

    def update(user_id: int) -> Update:
        return Update.de_json({"update_id": user_id, "message": {
            "message_id": 1, "date": 0, "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "党员"}, "text": "x"}}, None)

    await asyncio.gather(
        order.process_update(update(1), work("a1", 0.2)),
        order.process_update(update(1), work("a2", 0.0)),
        order.process_update(update(1), work("a3", 0.0)),
        order.process_update(update(2), work("b1", 0.05)),
        order.process_update(object(), work("none", 0.0)),
    )
    assert events.index("end a1") < events.index("start a2") < events.index("start a3")
    assert events.index("end b1") < events.index("end a1")
    assert events.index("start none") < events.index("end a1")  # in b1's slot after it
    assert order._last == {}  # nothing kept once all are done
    assert sender_of(update(5)) == ("user", 5) and sender_of(object()) != sender_of(object())


def test_updates_at_once_grow_with_the_round_trip_up_to_the_connections() -> None:
    assert running_for(0.0, most=100) == FEWEST
    assert running_for(0.05, most=100) == FEWEST + 50  # 500 updates/s, each waiting 2 x 50 ms
    assert running_for(0.05, most=100) < running_for(0.1, most=100)
    assert running_for(2.0, most=100) == 100


async def test_the_bot_sizes_its_concurrency_from_the_measured_round_trip(
    settings: Settings,
) -> None:
    async with attendance_bot(settings, BEFORE) as bot:
        slow_calls(bot, 0.1, "getMe")
        await size_concurrency(bot.app)
        processor = bot.app.update_processor
        assert isinstance(processor, PerUserOrder)
        # at least the 0.1 s round trip (more on a busy machine: no upper bound asserted)
        assert processor.max_running >= running_for(0.1, most=100)


async def test_a_configured_concurrency_is_kept_without_measuring(settings: Settings) -> None:
    settings = at_once(settings, 3)
    async with attendance_bot(settings, BEFORE) as bot:
        mark = len(bot.api.calls)
        await size_concurrency(bot.app)
        processor = bot.app.update_processor
        assert isinstance(processor, PerUserOrder) and processor.max_running == 3
        assert not [c for c in bot.api.calls[mark:] if c.method == "getMe"]


async def test_more_updates_pinned_than_connections_get_a_connection_each(
    settings: Settings,
) -> None:
    async with attendance_bot(at_once(settings, 300), BEFORE) as bot:
        request = build_application(bot.services).bot.request
        assert isinstance(request, AiohttpRequest) and request.connections == 300


async def test_resizing_while_updates_run_is_refused() -> None:
    order = PerUserOrder(max_running=2)
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(0.05)

    running = asyncio.create_task(order.process_update(object(), work()))
    await started.wait()
    with pytest.raises(RuntimeError):
        order.resize(5)
    await running
    order.resize(5)
    assert order.max_running == 5
