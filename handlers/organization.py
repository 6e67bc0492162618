"""The organization boundary in Telegram: the gate every update passes first, /bind, /unbind,
/branches, and registering a group when a global admin adds the bot to it."""

from __future__ import annotations

import time

from sqlmodel import Session
from telegram import ChatMemberUpdated, Update
from telegram.constants import ChatMemberStatus
from telegram.ext import ApplicationHandlerStop, ChatMemberHandler, CommandHandler, TypeHandler

from bot.context import BotContext
from bot.services import UserError, organization
from bot.services.localtime import fmt_when
from handlers.common import actor_of, escape, reply

SERVED_CACHE_SECONDS = 30.0
"""How long a 'may be served' answer is reused; /bind and /unbind clear it at once here, other
replicas see the change within this time."""
PRESENT = {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


def _addressed_command(update: Update, context: BotContext) -> bool:
    """A command for this bot: `/cmd` or `/cmd@ourname`, not `/cmd@otherbot`."""
    message = update.effective_message
    text = (message.text or message.caption or "") if message else ""
    if not text.startswith("/"):
        return False
    command = text.split(maxsplit=1)[0]
    target = command.partition("@")[2]
    return not target or target.lower() == (context.bot.username or "").lower()


async def gate(update: Update, context: BotContext) -> None:
    """Before any feature: an unregistered group gets one line for a command and nothing else
    happens; a private chat of someone unknown to every branch gets one line."""
    settings = context.services.settings
    chat, user = update.effective_chat, update.effective_user
    if settings.open_mode or update.my_chat_member is not None or chat is None or user is None:
        return
    in_group = chat.type in organization.GROUP_TYPES
    key = (chat.id, 0 if in_group else user.id)
    cache: dict[tuple[int, int], float] = context.bot_data.setdefault("served", {})
    if user.id in settings.admins or time.monotonic() - cache.get(key, -1e9) < SERVED_CACHE_SECONDS:
        return
    refusal = await context.services.db.run(lambda session: organization.may_serve(
        session, chat_id=chat.id, in_group=in_group, user_id=user.id, admins=settings.admins))
    if refusal is None:
        cache[key] = time.monotonic()
        return
    if update.callback_query is not None:
        await update.callback_query.answer(refusal, show_alert=True)
    elif update.effective_message is not None and (not in_group
                                                   or _addressed_command(update, context)):
        await reply(update, escape(refusal))
    raise ApplicationHandlerStop


def forget_served(context: BotContext) -> None:
    context.bot_data.pop("served", None)


async def bind(update: Update, context: BotContext) -> None:
    """/bind 支部名称 (global admins, in the group): register it as a branch."""
    actor = await actor_of(update, context)
    services = context.services
    result = await services.db.run(lambda session: organization.bind(
        session, actor, " ".join(context.args or []), services.clock(),
        open_mode=services.settings.open_mode))
    forget_served(context)
    text = (f"已将本群的支部名称由「{result.renamed_from}」改为「{result.name}」。"
            if result.renamed_from else f"✅ 本群已登记为党支部：{result.name}。")
    await reply(update, escape(text))


async def unbind(update: Update, context: BotContext) -> None:
    """/unbind (global admins): the group is no longer served as a branch."""
    actor = await actor_of(update, context)
    services = context.services
    name = await services.db.run(lambda session: organization.unbind(
        session, actor, " ".join(context.args or []), open_mode=services.settings.open_mode))
    forget_served(context)
    await reply(update, escape(f"已注销党支部「{name}」：该群不再使用本助手，已有记录保留。"))


async def branches(update: Update, context: BotContext) -> None:
    """/branches (global admins, in private): the registered branches."""
    actor = await actor_of(update, context)
    services = context.services
    if actor.in_group:
        raise UserError("请私聊我发送 /branches 查看已登记的党支部。")
    found = await services.db.run(lambda session: organization.branches(
        session, actor, open_mode=services.settings.open_mode))
    if not found:
        await reply(update, "还没有登记的党支部。在支部群内发送 /bind 支部名称 即可登记。")
        return
    lines = [f"已登记的党支部（{len(found)} 个）："]
    for branch in found:
        title = f"（群：{branch.title}）" if branch.title and branch.title != branch.name else ""
        lines.append(f"• {branch.name}{title}｜群id {branch.chat_id}｜成员 {branch.members} 人"
                     f"｜{fmt_when(branch.registered_at, services.reminders.tz)} 由"
                     f" {branch.registered_by or '管理员'} 登记")
    await reply(update, escape("\n".join(lines)))


async def on_bot_added(update: Update, context: BotContext) -> None:
    """The bot joined a group: registered as a branch when a global admin added it (named after
    the group), otherwise told once that it needs registering."""
    change: ChatMemberUpdated = update.my_chat_member  # type: ignore[assignment]
    services = context.services
    chat = change.chat
    joined = (change.new_chat_member.status in PRESENT
              and change.old_chat_member.status not in PRESENT)
    if services.settings.open_mode or not joined or chat.type not in organization.GROUP_TYPES:
        return
    by_admin = change.from_user.id in services.settings.admins

    def register(session: Session) -> str | None:
        if organization.is_registered(session, chat.id):
            return None
        if not by_admin:
            return organization.UNREGISTERED
        name = chat.title or str(chat.id)
        organization.register(session, chat.id, name, change.from_user.id, services.clock(),
                              title=chat.title or "", chat_type=chat.type)
        return f"✅ 本群已登记为党支部：{name}。如需更改名称，请发送 /bind 支部名称。"

    text = await services.db.run(register)
    forget_served(context)
    if text:
        await context.bot.send_message(chat.id, text)


HANDLERS = {
    -100: [TypeHandler(Update, gate)],  # before the roster (-20): nothing is recorded
    0: [CommandHandler("bind", bind), CommandHandler("unbind", unbind),
        CommandHandler("branches", branches)],
    1: [ChatMemberHandler(on_bot_added, ChatMemberHandler.MY_CHAT_MEMBER)],
}
