"""/duties (what is due soon, with the plan's own words), /done 编号, /duty 编号 调整."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.context import BotContext
from bot.services.duties import DONE_USAGE, DUTY_USAGE, LOOKAHEAD_DAYS, describe, render
from handlers.common import MAX_MESSAGE, actor_of, escape, reply

ALL_WORDS = ("全部", "所有", "all")


async def duties(update: Update, context: BotContext) -> None:
    """Handle /duties [全部]: this branch's duties due within a month (or all), each quoted."""
    actor = await actor_of(update, context)
    services = context.services
    today = services.duties.today(services.clock())
    show_all = any(word in " ".join(context.args or []) for word in ALL_WORDS)
    listing = services.duties.branch if show_all else services.duties.upcoming
    items = await services.db.run(lambda session: listing(session, actor.chat_id, today))
    if not actor.in_group:
        items = [i for i in items if show_all or i.overdue_since is None]
    if not items:
        await reply(update, escape(
            f"近{LOOKAHEAD_DAYS}天内没有到期的工作职责。发送 /duties 全部 查看完整的工作日历。"))
        return
    title = "全部工作职责" if show_all else f"近{LOOKAHEAD_DAYS}天内到期的工作职责"
    where = "本支部" if actor.in_group else "工作要点中"
    footer = ("书记完成后发送 /done 编号 登记；不适用的可发送 /duty 编号 停用，或调整频次。"
              if actor.in_group else "在支部群中发送 /duties 查看本支部的完成情况。")
    blocks = [escape(render(item)) for item in items]
    for chunk in _chunks(f"📋 {where}{title}（{today.month}月{today.day}日起）", blocks,
                         escape(footer)):
        await reply(update, chunk)


async def done(update: Update, context: BotContext) -> None:
    """Handle /done 编号 [备注] (secretaries): one completion for the current period."""
    actor = await actor_of(update, context)
    args = context.args or []
    if not args:
        await reply(update, escape(DONE_USAGE))
        return
    services = context.services
    item, added = await services.db.run(lambda session: services.duties.mark_done(
        session, actor, args[0], now=services.clock(), note=" ".join(args[1:]),
        message_id=update.effective_message.message_id if update.effective_message else None,
    ))
    prefix = "✅ 已登记完成" if added else "这条消息已经登记过了"
    state = "本期已完成" if item.complete else "本期尚未完成"
    await reply(update, escape(f"{prefix}：{describe(item)}\n{state}。"))


async def duty(update: Update, context: BotContext) -> None:
    """Handle /duty 编号 停用|启用|每季度2次|恢复 (secretaries): this branch's own calendar."""
    actor = await actor_of(update, context)
    args = context.args or []
    if len(args) < 2:
        await reply(update, escape(DUTY_USAGE))
        return
    services = context.services
    item = await services.db.run(lambda session: services.duties.configure(
        session, actor, args[0], " ".join(args[1:]), now=services.clock()))
    await reply(update, escape("已更新本支部的工作职责：\n" + render(item, with_quote=False)))


def _chunks(header: str, blocks: list[str], footer: str) -> list[str]:
    """Messages under Telegram's length limit, blocks kept whole."""
    messages, current = [], header
    for block in [*blocks, footer]:
        if len(current) + len(block) + 2 > MAX_MESSAGE - 100:
            messages.append(current)
            current = block
        else:
            current += "\n\n" + block
    messages.append(current)
    return messages


HANDLERS = [
    CommandHandler("duties", duties),
    CommandHandler("done", done),
    CommandHandler("duty", duty),
]
