"""Meetings: /remind, the [签到] [请假] buttons, /checkin, /leave and the leave reason, /proxy
(补签/代签) and /activities."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.context import BotContext
from bot.services import UserError, attendance, meetings
from bot.services.display import shorten
from bot.services.posts import Outcome
from bot.services.typed import number
from handlers.common import actor_of, escape, reply
from handlers.posts import button_id, local_zone, publish_new, refresh, tell
from handlers.roles import replied_user
from storage.models import Activity

log = logging.getLogger(__name__)

CHECKIN_PATTERN = r"^att:in:(\d+)$"
LEAVE_PATTERN = r"^att:leave:(\d+)$"
ACTIVITIES_USAGE = "用法：/activities 查看本支部活动；/activities 取消 活动号"


async def remind(update: Update, context: BotContext) -> None:
    """/remind 时间 内容: a secretary posts an activity with [签到] [请假]; a meeting on a rest
    day gets a note on how to move it. `/remind 补录 …` enters a past meeting, posted nowhere."""
    services = context.services
    if meetings.is_backfill(" ".join(context.args or [])):
        actor = await actor_of(update, context)
        message_id = update.effective_message.message_id  # type: ignore[union-attr]
        activity = await services.db.run(lambda session: meetings.backfill(
            session, actor, " ".join(context.args or []), now=services.clock(),
            tz=local_zone(services), source_message_id=message_id))
        await reply(update, escape(meetings.backfill_reply(activity, local_zone(services))))
        return
    activity = await publish_new(update, context, Activity, attendance.remind)
    if note := attendance.rest_day_note(activity, services.clock(), local_zone(services)):
        await reply(update, escape(note))


async def on_checkin(update: Update, context: BotContext) -> None:
    """[签到]: a tap carries no timestamp of its own, so the time it arrives is the check-in time."""
    activity_id = button_id(update, CHECKIN_PATTERN)
    actor = await actor_of(update, context)
    services = context.services
    now = services.clock()
    outcome = await services.db.autocommit_async(lambda session: attendance.check_in(
        session, actor, activity_id, at=now, now=now, tz=local_zone(services)))
    await tell(update, context.application, Activity, outcome)


async def on_leave(update: Update, context: BotContext) -> None:
    """[请假]: ask for the reason privately, or in the group as a reply when DMs are closed."""
    query = update.callback_query
    assert query is not None
    activity_id = button_id(update, LEAVE_PATTERN)
    actor = await actor_of(update, context)
    services = context.services
    now = services.clock()
    activity, waiting = await services.db.run(lambda session: attendance.prepare_leave(
        session, actor, activity_id, at=now, now=now))
    if waiting:
        await query.answer("请回复提示消息说明请假原因。")
        return
    ask = f"您正在为“{shorten(activity.title, 40)}”请假，请直接回复请假原因（发送“取消”放弃）。"
    try:
        await context.bot.send_message(actor.user_id, ask)
        chat_id, prompt_id, answer = actor.user_id, None, "请在与我的私聊中回复请假原因。"
    except (Forbidden, BadRequest):
        mention = f'<a href="tg://user?id={actor.user_id}">{escape(actor.name)}</a>'
        prompt = await context.bot.send_message(
            actor.chat_id, f"{mention} {escape(ask.replace('直接回复', '回复本消息说明'))}",
            parse_mode=ParseMode.HTML,
        )
        chat_id, prompt_id, answer = actor.chat_id, prompt.message_id, "请回复群里的提示消息说明请假原因。"
    await services.db.run(lambda session: attendance.expect_leave_reason(
        session, actor.user_id, chat_id, activity_id, prompt_id, now))
    await query.answer(answer)


async def on_leave_reason(update: Update, context: BotContext) -> None:
    """The reason after a [请假] tap: the next private message, or the reply to the group prompt.

    Runs before the question handlers and stops them only when it consumed the message.
    """
    message = update.effective_message
    if message is None or update.effective_chat is None:
        return
    if update.effective_chat.type != "private":
        to = message.reply_to_message
        if to is None or to.from_user is None or to.from_user.id != context.bot.id:
            return
    actor = await actor_of(update, context)
    services = context.services
    try:
        outcome = await services.db.run(lambda session: attendance.take_leave_reason(
            session, actor, message.text or "",
            message.reply_to_message.message_id if message.reply_to_message else None,
            at=message.date, now=services.clock(), tz=local_zone(services),
        ))
    except OperationalError:  # database down: let the message be answered as a question
        log.warning("leave reasons unavailable while the database is down")
        return
    if outcome is None:
        return
    await tell(update, context.application, Activity, outcome)
    raise ApplicationHandlerStop


async def checkin(update: Update, context: BotContext) -> None:
    """/checkin [活动号或名称], judged by the message's own time (a backlog is not made late)."""
    actor = await actor_of(update, context)
    services = context.services
    at = update.effective_message.date  # type: ignore[union-attr]

    def check_in(session: Session) -> Outcome:
        activity_id = attendance.resolve_activity(session, actor, " ".join(context.args or []),
                                                  at=at)
        return attendance.check_in(session, actor, activity_id, at=at, now=services.clock(),
                                   tz=local_zone(services))

    outcome = await services.db.autocommit_async(check_in)
    await tell(update, context.application, Activity, outcome)


async def leave(update: Update, context: BotContext) -> None:
    """/leave [活动号] 原因."""
    actor = await actor_of(update, context)
    services = context.services
    outcome = await services.db.run(lambda session: attendance.leave(
        session, actor, " ".join(context.args or []),
        at=update.effective_message.date, now=services.clock(),  # type: ignore[union-attr]
        tz=local_zone(services),
    ))
    await tell(update, context.application, Activity, outcome)


async def proxy(update: Update, context: BotContext) -> None:
    """/proxy 活动号 @成员 [签到|请假|缺席] 原因: 补签/代签 by a secretary, audited."""
    actor = await actor_of(update, context)
    services = context.services
    outcome = await services.db.run(lambda session: attendance.proxy_command(
        session, actor, list(context.args or []), replied_user(update), now=services.clock()))
    await tell(update, context.application, Activity, outcome)


async def activities(update: Update, context: BotContext) -> None:
    """/activities: the branch's latest activities; /activities 取消 活动号 cancels one."""
    actor = await actor_of(update, context)
    services = context.services
    args = list(context.args or [])
    if not args:
        text = await services.db.run(lambda session: attendance.recent_activities(
            session, actor, local_zone(services), now=services.clock()))
        await reply(update, escape(text))
        return
    activity_id = number(args[1]) if len(args) == 2 and args[0] == "取消" else None
    if activity_id is None:
        raise UserError(ACTIVITIES_USAGE)
    activity = await services.db.run(lambda session: attendance.cancel_activity(
        session, actor, activity_id, now=services.clock()))  # type: ignore[arg-type]
    await reply(update, escape(f"已取消活动 #{activity.id}：{activity.title}"))
    refresh(context.application, Activity, activity.id)  # type: ignore[arg-type]


HANDLERS = {
    -10: [MessageHandler(filters.TEXT & ~filters.COMMAND, on_leave_reason)],
    0: [
        CommandHandler("remind", remind),
        CommandHandler("checkin", checkin),
        CommandHandler("leave", leave),
        CommandHandler("proxy", proxy),
        CommandHandler("activities", activities),
        CallbackQueryHandler(on_checkin, pattern=CHECKIN_PATTERN),
        CallbackQueryHandler(on_leave, pattern=LEAVE_PATTERN),
    ],
}
