"""/schedule 时间规则 内容, /reminders, /cancel 编号, and noticing the bot being added or removed."""

from __future__ import annotations

from telegram import ChatMemberUpdated, Update
from telegram.constants import ChatMemberStatus
from telegram.ext import ChatMemberHandler, CommandHandler

from bot.context import BotContext
from bot.services.display import shorten
from bot.services.localtime import fmt_when
from bot.services.reminders import KIND_LABELS, SCHEDULE_USAGE, rest_day_note
from handlers.common import actor_of, escape, reply, secretary_chats

WHAT_HAPPENS = {
    "meeting": "届时在群内发布活动通知，附【签到】【请假】按钮。",
    "study": "届时在群内发布学习任务，附【已学习】按钮。",
    "notice": "届时在群内发送提醒。",
}
PRESENT = {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER,
           ChatMemberStatus.RESTRICTED}


async def schedule(update: Update, context: BotContext) -> None:
    """Handle /schedule 时间规则 内容 (secretaries)."""
    actor = await actor_of(update, context)
    text = " ".join(context.args or [])
    if not text:
        await reply(update, escape(SCHEDULE_USAGE))
        return
    services = context.services
    reminder, first = await services.db.run(lambda session: services.reminders.schedule(
        session, actor, text, now=services.clock(),
        message_id=update.effective_message.message_id if update.effective_message else None))
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
    await reply(update, escape("\n".join(line for line in lines if line)))


async def reminders(update: Update, context: BotContext) -> None:
    """Handle /reminders (secretaries): active reminders with their next fire time; in a
    private chat, those of every branch the secretary runs, each named."""
    actor = await actor_of(update, context)
    services = context.services
    branches = () if actor.in_group else await secretary_chats(context, actor)
    views = await services.db.run(lambda session: services.reminders.listing(
        session, actor, now=services.clock(), branches=branches))
    if not views:
        where = "本群" if actor.in_group else "您负责的支部"
        await reply(update, escape(f"{where}暂无定时提醒。" + SCHEDULE_USAGE))
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
    await reply(update, escape("\n".join(lines)))


async def cancel(update: Update, context: BotContext) -> None:
    """Handle /cancel 编号 [支部名称] (secretaries; in private, for the branches they run)."""
    actor = await actor_of(update, context)
    services = context.services
    branches = () if actor.in_group else await secretary_chats(context, actor)
    reminder, branch = await services.db.run(lambda session: services.reminders.cancel(
        session, actor, " ".join(context.args or []), now=services.clock(), branches=branches))
    await services.scheduler.refresh(reminder.id or 0)
    where = "" if actor.in_group else f"「{branch}」的"
    await reply(update, escape(f"已取消{where}提醒 #{reminder.number}：{reminder.rule}｜"
                               f"{shorten(reminder.text, 60)}"))


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    """The bot was added to, or removed from, a group: reminders go there again, or stop."""
    change: ChatMemberUpdated = update.my_chat_member  # type: ignore[assignment]
    chat = change.chat
    await context.services.db.run(lambda session: context.services.reminders.set_reachable(
        session, chat.id, change.new_chat_member.status in PRESENT, chat.title or "", chat.type))


HANDLERS = [
    CommandHandler("schedule", schedule),
    CommandHandler("reminders", reminders),
    CommandHandler("cancel", cancel),
    ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
]
