"""/me (one's own record) and /stats (figures, a chart; non-responders only in private)."""

from __future__ import annotations

import asyncio

from sqlmodel import Session

from bot.core import Command, Flow, Tap
from bot.services import members, stats
from bot.services.people import Actor
from handlers.common import escape
from handlers.posts import local_zone

ME_PATTERN = r"^me:(-?\d+)$"


async def me(flow: Flow) -> None:
    """/me: my attendance and study this year. A secretary may name a member (姓名, @用户名, id,
    or a reply); another member's record is then sent to the secretary privately. A name
    several members share is answered with a button for each."""
    actor = await flow.actor()
    args = list(flow.args)

    def target(session: Session) -> int | None:
        if args:
            return members.find_member(session, " ".join(args),
                                       members.branches_of_actor(session, actor))
        return replied

    replied = await flow.replied_user()
    try:
        person = await flow.services.db.run(target)
    except members.AmbiguousMember as shared:
        buttons = [[(label[:40], f"me:{number}")]
                   for number, label in sorted(shared.candidates.items(), key=lambda c: c[1])]
        await flow.reply(escape(f"有 {len(buttons)} 位“{' '.join(args)}”，请选择要查看的成员："),
                         buttons)
        return
    await _send_record(flow, actor, actor.user_id if person is None else person)


async def on_me_choice(flow: Flow) -> None:
    """[成员] under an ambiguous /me: that member's record."""
    actor = await flow.actor()
    await _send_record(flow, actor, flow.button_id())


async def _send_record(flow: Flow, actor: Actor, user_id: int) -> None:
    services = flow.services
    text = await services.db.run(lambda session: stats.my_record(
        session, actor, user_id, now=services.clock(), tz=local_zone(services)))
    await flow.answer()  # a tap refused above got an alert; this one is answered here
    if user_id == actor.user_id or not actor.in_group:
        await flow.reply(escape(text))
        return
    await flow.privately(escape(text))
    await flow.reply("该成员的记录已私信发送给您。")


async def stats_command(flow: Flow) -> None:
    """/stats [本月|本季度|本年]: figures and a chart here, the non-responder list privately."""
    actor = await flow.actor()
    services = flow.services
    tz = local_zone(services)

    def figures(session: Session) -> tuple[stats.Report, str]:
        result = stats.stats(session, actor, list(flow.args), now=services.clock(),
                             tz=tz)
        return result, stats.render_missing(session, result, tz)

    result, missing = await services.db.run(figures)
    await flow.reply(escape(stats.render_report(result, tz)))
    image = await asyncio.to_thread(stats.chart, result, tz)
    if image is not None:
        await flow.send_image(flow.chat_id, image, filename="stats.png", here=True,
                              caption=f"{result.branch} {result.period.name}统计图")
    await flow.privately(escape(missing))
    if actor.in_group:
        await flow.reply("未响应名单已私信发送给您。")


ROUTES = {0: [Command("me", me), Command("stats", stats_command), Tap(ME_PATTERN, on_me_choice)]}
