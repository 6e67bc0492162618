"""/me (one's own record) and /stats (figures, a chart; non-responders only in private)."""

from __future__ import annotations

import asyncio

from sqlmodel import Session
from telegram import Update
from telegram.ext import CommandHandler

from bot.context import BotContext
from bot.services import members, stats
from handlers.common import actor_of, escape, reply
from handlers.posts import local_zone, privately
from handlers.roles import replied_user


async def me(update: Update, context: BotContext) -> None:
    """/me: my attendance and study this year. A secretary may add @成员 (or reply to one);
    another member's record is then sent to the secretary privately."""
    actor = await actor_of(update, context)
    services = context.services
    args = list(context.args or [])

    def record(session: Session) -> tuple[int, str]:
        if args:
            target = members.find_member(session, " ".join(args),
                                         members.branches_of_actor(session, actor))
        else:
            target = replied_user(update)
        user_id = actor.user_id if target is None else target
        return user_id, stats.my_record(session, actor, user_id, now=services.clock(),
                                        tz=local_zone(services))

    user_id, text = await services.db.run(record)
    if user_id == actor.user_id or not actor.in_group:
        await reply(update, escape(text))
        return
    await privately(context.bot.send_message(actor.user_id, text))
    await reply(update, "该成员的记录已私信发送给您。")


async def stats_command(update: Update, context: BotContext) -> None:
    """/stats [本月|本季度|本年]: figures and a chart here, the non-responder list privately."""
    actor = await actor_of(update, context)
    services = context.services
    tz = local_zone(services)

    def figures(session: Session) -> tuple[stats.Report, str]:
        result = stats.stats(session, actor, list(context.args or []), now=services.clock(),
                             tz=tz)
        return result, stats.render_missing(session, result, tz)

    result, missing = await services.db.run(figures)
    await reply(update, escape(stats.render_report(result, tz)))
    image = await asyncio.to_thread(stats.chart, result, tz)
    if image is not None:
        await update.effective_message.reply_photo(  # type: ignore[union-attr]
            image, caption=f"{result.branch} {result.period.name}统计图", filename="stats.png"
        )
    await privately(context.bot.send_message(actor.user_id, missing))
    if actor.in_group:
        await reply(update, "未响应名单已私信发送给您。")


HANDLERS = [CommandHandler("me", me), CommandHandler("stats", stats_command)]
