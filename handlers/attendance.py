"""Meetings: /remind, the [签到] [请假] buttons, /checkin, /leave and the leave reason, /proxy
(补签/代签) and /activities."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot.channels.base import Unreachable
from bot.core import Command, Flow, OnMessage, StopFlow, Tap, is_text
from bot.services import UserError, attendance, meetings
from bot.services.display import shorten
from bot.services.posts import Outcome
from bot.services.typed import number
from handlers.common import escape, mention
from handlers.posts import local_zone, publish_new, refresh, tell
from storage.models import Activity

log = logging.getLogger(__name__)

CHECKIN_PATTERN = r"^att:in:(\d+)$"
LEAVE_PATTERN = r"^att:leave:(\d+)$"
ACTIVITIES_USAGE = "用法：/activities 查看本支部活动；/activities 取消 活动号"


async def remind(flow: Flow) -> None:
    """/remind 时间 内容: a secretary posts an activity with [签到] [请假]; a meeting on a rest
    day gets a note on how to move it. `/remind 补录 …` enters a past meeting, posted nowhere."""
    services = flow.services
    if meetings.is_backfill(" ".join(flow.args)):
        actor = await flow.actor()
        message_id = await flow.message_number()
        activity = await services.db.run(lambda session: meetings.backfill(
            session, actor, " ".join(flow.args), now=services.clock(),
            tz=local_zone(services), source_message_id=message_id))
        await flow.reply(escape(meetings.backfill_reply(activity, local_zone(services))))
        return
    activity = await publish_new(flow, Activity, attendance.remind)
    if note := attendance.rest_day_note(activity, services.clock(), local_zone(services)):
        await flow.reply(escape(note))


async def on_checkin(flow: Flow) -> None:
    """[签到]: a tap carries no timestamp of its own, so the time it arrives is the check-in time."""
    activity_id = flow.button_id()
    actor = await flow.actor()
    services = flow.services
    now = services.clock()
    outcome = await services.db.autocommit_async(lambda session: attendance.check_in(
        session, actor, activity_id, at=now, now=now, tz=local_zone(services)))
    await tell(flow, Activity, outcome)


async def on_leave(flow: Flow) -> None:
    """[请假]: ask for the reason privately, or in the group as a reply when DMs are closed."""
    activity_id = flow.button_id()
    actor = await flow.actor()
    services = flow.services
    now = services.clock()
    activity, waiting = await services.db.run(lambda session: attendance.prepare_leave(
        session, actor, activity_id, at=now, now=now))
    if waiting:
        await flow.answer("请回复提示消息说明请假原因。")
        return
    ask = f"您正在为“{shorten(activity.title, 40)}”请假，请直接回复请假原因（发送“取消”放弃）。"
    try:
        await flow.send(actor.user_id, escape(ask))
        chat_id, prompt_id, answer = actor.user_id, None, "请在与我的私聊中回复请假原因。"
    except Unreachable:
        prompt = await flow.send(actor.chat_id, mention(flow.event.sender.id, actor.name) + " "
                                 + escape(ask.replace("直接回复", "回复本消息说明")))
        chat_id, answer = actor.chat_id, "请回复群里的提示消息说明请假原因。"
        prompt_id = await flow.core.message_number(actor.chat_id, prompt.message_id)
    await services.db.run(lambda session: attendance.expect_leave_reason(
        session, actor.user_id, chat_id, activity_id, prompt_id, now))
    await flow.answer(answer)


async def on_leave_reason(flow: Flow) -> None:
    """The reason after a [请假] tap: the next private message, or the reply to the group prompt.

    Runs before the question handlers and stops them only when it consumed the message.
    """
    replied = flow.event.reply_to
    if flow.in_group and (replied is None or not replied.by_bot):
        return
    actor = await flow.actor()
    services = flow.services
    replied_to = (None if replied is None
                  else await flow.core.message_number(flow.chat_id, replied.message_id))
    try:
        outcome = await services.db.run(lambda session: attendance.take_leave_reason(
            session, actor, flow.text, replied_to,
            at=flow.event.at, now=services.clock(), tz=local_zone(services),
        ))
    except OperationalError:  # database down: let the message be answered as a question
        log.warning("leave reasons unavailable while the database is down")
        return
    if outcome is None:
        return
    await tell(flow, Activity, outcome)
    raise StopFlow


async def checkin(flow: Flow) -> None:
    """/checkin [活动号或名称], judged by the message's own time (a backlog is not made late)."""
    actor = await flow.actor()
    services = flow.services
    at = flow.event.at

    def check_in(session: Session) -> Outcome:
        activity_id = attendance.resolve_activity(session, actor, " ".join(flow.args),
                                                  at=at)
        return attendance.check_in(session, actor, activity_id, at=at, now=services.clock(),
                                   tz=local_zone(services))

    outcome = await services.db.autocommit_async(check_in)
    await tell(flow, Activity, outcome)


async def leave(flow: Flow) -> None:
    """/leave [活动号] 原因."""
    actor = await flow.actor()
    services = flow.services
    outcome = await services.db.run(lambda session: attendance.leave(
        session, actor, " ".join(flow.args),
        at=flow.event.at, now=services.clock(),
        tz=local_zone(services),
    ))
    await tell(flow, Activity, outcome)


async def proxy(flow: Flow) -> None:
    """/proxy 活动号 @成员 [签到|请假|缺席] 原因: 补签/代签 by a secretary, audited."""
    actor = await flow.actor()
    replied = await flow.replied_user()
    services = flow.services
    outcome = await services.db.run(lambda session: attendance.proxy_command(
        session, actor, list(flow.args), replied, now=services.clock()))
    await tell(flow, Activity, outcome)


async def activities(flow: Flow) -> None:
    """/activities: the branch's latest activities; /activities 取消 活动号 cancels one."""
    actor = await flow.actor()
    services = flow.services
    args = list(flow.args)
    if not args:
        text = await services.db.run(lambda session: attendance.recent_activities(
            session, actor, local_zone(services), now=services.clock()))
        await flow.reply(escape(text))
        return
    activity_id = number(args[1]) if len(args) == 2 and args[0] == "取消" else None
    if activity_id is None:
        raise UserError(ACTIVITIES_USAGE)
    activity = await services.db.run(lambda session: attendance.cancel_activity(
        session, actor, activity_id, now=services.clock()))  # type: ignore[arg-type]
    await flow.reply(escape(f"已取消活动 #{activity.id}：{activity.title}"))
    refresh(flow, Activity, activity.id)  # type: ignore[arg-type]


ROUTES = {
    -10: [OnMessage(is_text, on_leave_reason)],
    0: [
        Command("remind", remind),
        Command("checkin", checkin),
        Command("leave", leave),
        Command("proxy", proxy),
        Command("activities", activities),
        Tap(CHECKIN_PATTERN, on_checkin),
        Tap(LEAVE_PATTERN, on_leave),
    ],
}
