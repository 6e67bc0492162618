"""/me (one's own record) and /stats (figures, a chart; non-responders only in private)."""

from __future__ import annotations

import asyncio

from sqlmodel import Session
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.context import BotContext
from bot.services import members, stats
from bot.services.people import Actor
from handlers.common import actor_of, escape, reply
from handlers.posts import button_id, local_zone, privately
from handlers.roles import replied_user

ME_PATTERN = r"^me:(-?\d+)$"


async def me(update: Update, context: BotContext) -> None:
    """/me: my attendance and study this year. A secretary may name a member (姓名, @用户名, id,
    or a reply); another member's record is then sent to the secretary privately. A name
    several members share is answered with a button for each."""
    actor = await actor_of(update, context)
    args = list(context.args or [])

    def target(session: Session) -> int | None:
        if args:
            return members.find_member(session, " ".join(args),
                                       members.branches_of_actor(session, actor))
        return replied_user(update)

    try:
        person = await context.services.db.run(target)
    except members.AmbiguousMember as shared:
        buttons = [[InlineKeyboardButton(label[:40], callback_data=f"me:{number}")]
                   for number, label in sorted(shared.candidates.items(), key=lambda c: c[1])]
        await reply(update, escape(f"有 {len(buttons)} 位“{' '.join(args)}”，请选择要查看的成员："),
                    reply_markup=InlineKeyboardMarkup(buttons))
        return
    await _send_record(update, context, actor, actor.user_id if person is None else person)


async def on_me_choice(update: Update, context: BotContext) -> None:
    """[成员] under an ambiguous /me: that member's record."""
    actor = await actor_of(update, context)
    await _send_record(update, context, actor, button_id(update, ME_PATTERN))


async def _send_record(update: Update, context: BotContext, actor: Actor, user_id: int) -> None:
    services = context.services
    text = await services.db.run(lambda session: stats.my_record(
        session, actor, user_id, now=services.clock(), tz=local_zone(services)))
    if update.callback_query is not None:  # refused above with an alert, else answered here
        await update.callback_query.answer()
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


HANDLERS = [CommandHandler("me", me), CommandHandler("stats", stats_command),
            CallbackQueryHandler(on_me_choice, pattern=ME_PATTERN)]
