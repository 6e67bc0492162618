"""Builds the python-telegram-bot Application from settings and services."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import BaseRequest

from bot.channels.telegram import TelegramChannel, to_event
from bot.context import BotContext
from bot.core import Core
from bot.http import AiohttpRequest, RetryPolicy
from bot.ordering import FEWEST, PerUserOrder, round_trip_to, running_for
from bot.ratelimit import BotApiLimiter
from bot.services import Services
from bot.telemetry import InstrumentedApplication
from handlers import (
    attendance,
    duties,
    fallback,
    knowledge,
    ledger,
    meetings,
    members,
    organization,
    qa,
    reminders,
    roles,
    roster,
    slash,
    start,
    stats,
    study,
)
from handlers.posts import live_counts

BOT_COMMANDS = [
    BotCommand("start", "开始使用"),
    BotCommand("help", "使用帮助"),
    BotCommand("ask", "查询党建工作要点"),
    BotCommand("checkin", "活动签到"),
    BotCommand("leave", "活动请假"),
    BotCommand("study", "学习登记"),
    BotCommand("me", "我的记录"),
    BotCommand("duties", "近期工作安排"),
    BotCommand("iam", "绑定名册中的本人姓名"),
    BotCommand("roster", "支部名册"),
    BotCommand("remind", "发布活动通知（书记）"),
    BotCommand("schedule", "定时提醒（书记）"),
    BotCommand("reminders", "提醒列表（书记）"),
    BotCommand("cancel", "取消提醒（书记）"),
    BotCommand("task", "发布学习任务（书记）"),
    BotCommand("stats", "统计图表（书记）"),
    BotCommand("export", "导出台账（书记）"),
    BotCommand("proxy", "补签/代签（书记）"),
    BotCommand("activities", "活动列表（书记）"),
    BotCommand("minutes", "会议议题、决议、纪要（书记）"),
    BotCommand("grant", "授予书记权限（书记）"),
    BotCommand("done", "标记职责完成（书记）"),
    BotCommand("duty", "调整本支部工作职责（书记）"),
    BotCommand("docs", "知识库文件列表"),
    BotCommand("bind", "登记本群为党支部（组织管理员）"),
    BotCommand("unbind", "注销党支部（组织管理员）"),
    BotCommand("branches", "已登记的党支部（组织管理员）"),
]

log = logging.getLogger(__name__)

BOT_API_CONNECTIONS = 100
"""Keep-alive connections to the Bot API: room for every update in flight and the reminders."""
STOP_EDITS_SECONDS = 5.0
"""On stop, how long the posts' pending count edits may still take: a group's edits can wait a
minute behind its 20/min limit, longer than a stop is given."""

FEATURES = [organization, slash, start, qa, members, knowledge, roster, attendance, meetings,
            study, stats, ledger, roles, duties, reminders, fallback]
"""In the order their routes are tried within a group; the fallback takes only leftovers."""


def build_application(
    services: Services,
    *,
    core: Core | None = None,
    request: BaseRequest | None = None,
    with_updater: bool = True,
    rate_limited: bool = True,
) -> InstrumentedApplication:
    """The Application that hands every update to the core (a new one, or the one the other
    platforms share); `request` replaces HTTP (offline, tests)."""
    settings = services.settings
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .application_class(InstrumentedApplication)
        .token(token or "0:offline")
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_api_file_url)
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(PerUserOrder(settings.concurrent_updates or FEWEST))
        .post_init(on_startup)
        .post_stop(on_stop)
        .post_shutdown(on_shutdown)
    )
    if rate_limited:
        builder = builder.rate_limiter(BotApiLimiter())
    connections = max(BOT_API_CONNECTIONS, settings.concurrent_updates or 0)  # one per update
    policy = RetryPolicy()
    builder = builder.request(request or AiohttpRequest(connections, policy))
    builder = builder.get_updates_request(request or AiohttpRequest(1, policy))
    if not with_updater:
        builder = builder.updater(None)
    application = builder.build()
    assert isinstance(application, InstrumentedApplication)
    uncertain = application.metrics.uncertain_sends
    policy.on_uncertain = lambda method: uncertain.labels(method).inc()
    application.bot_data["services"] = services
    core = core or Core(services, FEATURES)
    core.on_failure = application.note_failure
    core.add_channel(TelegramChannel(application.bot))
    application.bot_data["core"] = core
    application.add_handler(TypeHandler(Update, on_update))
    application.add_error_handler(on_error)
    return application


def core_of(application: Application) -> Core:
    return application.bot_data["core"]


async def on_update(update: Update, context: BotContext) -> None:
    """Every update, as a neutral event, through the conversation core."""
    core = core_of(context.application)
    event = to_event(update, context.bot)
    if event is not None:
        await core.handle(core.channels["telegram"], event)


async def on_error(update: object, context: BotContext) -> None:
    """What escaped the core (its own failures are handled there): logged, never silent."""
    log.error("update failed outside the flows: %r", context.error, exc_info=context.error)


async def on_startup(application: Application) -> None:
    """Register the Chinese command menu and size the concurrency (PTB calls this before
    updates flow)."""
    await application.bot.set_my_commands(BOT_COMMANDS)
    await size_concurrency(application)
    await application.bot_data["services"].scheduler.start(core_of(application))


async def size_concurrency(application: Application) -> None:
    """Run as many updates at once as the measured round trip to Telegram calls for, unless
    DANGJIAN_CONCURRENT_UPDATES says how many."""
    processor = application.update_processor
    assert isinstance(processor, PerUserOrder)
    if application.bot_data["services"].settings.concurrent_updates is None:
        round_trip = await round_trip_to(application.bot)
        processor.resize(running_for(round_trip, most=BOT_API_CONNECTIONS))
        log.info("Bot API round trip %.0f ms: up to %d updates at once",
                 round_trip * 1000, processor.max_running)


async def on_stop(application: Application) -> None:
    await finish(core_of(application))


async def finish(core: Core) -> None:
    """Stop the reminder scheduler and let the posts' count edits finish while the platforms
    can still be written to (Telegram's on stop, the others' when the process ends)."""
    await core.services.scheduler.stop()
    try:
        async with asyncio.timeout(STOP_EDITS_SECONDS):
            await live_counts(core).drain()
    except TimeoutError:
        log.warning("stopping without the live count edits still held back by group limits")


async def on_shutdown(application: Application) -> None:
    """Release what the services hold."""
    await application.bot_data["services"].db.close()
