"""/schedule 时间规则 内容, /reminders, /cancel 编号, and noticing the bot being added or removed."""

from __future__ import annotations

from bot.channels.base import Event
from bot.core import Command, Flow, OnEvent
from bot.services.display import shorten
from bot.services.localtime import fmt_when
from bot.services.reminders import KIND_LABELS, SCHEDULE_USAGE, rest_day_note
from handlers.common import escape, secretary_chats

WHAT_HAPPENS = {
    "meeting": "届时在群内发布活动通知，附【签到】【请假】按钮。",
    "study": "届时在群内发布学习任务，附【已学习】按钮。",
    "notice": "届时在群内发送提醒。",
}


async def schedule(flow: Flow) -> None:
    """Handle /schedule 时间规则 内容 (secretaries)."""
    actor = await flow.actor()
    text = " ".join(flow.args)
    if not text:
        await flow.reply(escape(SCHEDULE_USAGE))
        return
    services = flow.services
    source = await flow.message_number()
    reminder, first = await services.db.run(lambda session: services.reminders.schedule(
        session, actor, text, now=services.clock(), message_id=source))
    await services.scheduler.refresh(reminder.id or 0)
    tz = services.reminders.tz
    target = "（发往全部支部）" if reminder.scope == "branches" else ""
    lines = [
        f"✅ 已设置{KIND_LABELS[reminder.kind]}提醒 #{reminder.number}{target}：{reminder.rule}",
        f"内容：{reminder.text}",
        f"下次提醒：{fmt_when(first, tz)}" if first else "",
        WHAT_HAPPENS.get(reminder.kind, ""),
        f"取消请发送 /cancel {reminder.number}",
        rest_day_note(text, first, reminder.number or 0, tz),
    ]
    await flow.reply(escape("\n".join(line for line in lines if line)))


async def reminders(flow: Flow) -> None:
    """Handle /reminders (secretaries): active reminders with their next fire time; in a
    private chat, those of every branch the secretary runs, each named."""
    actor = await flow.actor()
    services = flow.services
    branches = () if actor.in_group else await secretary_chats(flow, actor)
    views = await services.db.run(lambda session: services.reminders.listing(
        session, actor, now=services.clock(), branches=branches))
    if not views:
        where = "本群" if actor.in_group else "您负责的支部"
        await flow.reply(escape(f"{where}暂无定时提醒。" + SCHEDULE_USAGE))
        return
    tz = services.reminders.tz
    lines = ["⏰ 定时提醒（时间为北京时间）："]
    for view in views:
        scope = "｜全部支部" if view.scope == "branches" else (view.branch and f"｜{view.branch}")
        upcoming = fmt_when(view.next_fire, tz) if view.next_fire else "无（已结束）"
        lines.append(f"#{view.number}［{KIND_LABELS[view.kind]}{scope}］{view.rule}｜"
                     f"{shorten(view.text, 60)}"
                     f"\n    下次：{upcoming}")
    lines.append("取消请发送 /cancel 编号")
    await flow.reply(escape("\n".join(lines)))


async def cancel(flow: Flow) -> None:
    """Handle /cancel 编号 [支部名称] (secretaries; in private, for the branches they run)."""
    actor = await flow.actor()
    services = flow.services
    branches = () if actor.in_group else await secretary_chats(flow, actor)
    reminder, branch = await services.db.run(lambda session: services.reminders.cancel(
        session, actor, " ".join(flow.args), now=services.clock(), branches=branches))
    await services.scheduler.refresh(reminder.id or 0)
    where = "" if actor.in_group else f"「{branch}」的"
    await flow.reply(escape(f"已取消{where}提醒 #{reminder.number}：{reminder.rule}｜"
                               f"{shorten(reminder.text, 60)}"))


async def on_my_chat_member(flow: Flow) -> None:
    """The bot was added to, or removed from, a group: reminders go there again, or stop."""
    event = flow.event
    chat_id = flow.chat_id
    await flow.services.db.run(lambda session: flow.services.reminders.set_reachable(
        session, chat_id, bool(event.bot_present), event.chat.title,
        "supergroup" if event.chat.kind == "group" else "private"))


def _bot_membership(event: Event) -> bool:
    return event.kind == "membership"


ROUTES = {0: [
    Command("schedule", schedule),
    Command("reminders", reminders),
    Command("cancel", cancel),
    OnEvent(_bot_membership, on_my_chat_member),
]}
