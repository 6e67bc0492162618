"""The organization boundary: the gate every event passes first, /bind, /unbind,
/branches, and registering a group when a global admin adds the bot to it."""

from __future__ import annotations

import time

from sqlmodel import Session

from bot.channels.base import Event
from bot.core import Command, Flow, OnEvent, StopFlow
from bot.services import UserError, organization
from bot.services.localtime import fmt_when
from handlers.common import escape

SERVED_CACHE_SECONDS = 30.0
"""How long a 'may be served' answer is reused; /bind and /unbind clear it at once here, other
replicas see the change within this time."""

async def gate(flow: Flow) -> None:
    """Before any feature: an unregistered group gets one line for a command and nothing else
    happens; a private chat of someone unknown to every branch gets one line."""
    settings = flow.services.settings
    event = flow.event
    if settings.open_mode or event.kind == "membership":
        return
    key = (flow.chat_id, 0 if flow.in_group else flow.user_id)
    cache: dict[tuple[int, int], float] = flow.core.state.setdefault("served", {})
    if flow.is_global_admin or time.monotonic() - cache.get(key, -1e9) < SERVED_CACHE_SECONDS:
        return
    refusal = await flow.services.db.run(lambda session: organization.may_serve(
        session, chat_id=flow.chat_id, in_group=flow.in_group, user_id=flow.user_id,
        admins=settings.admins))
    if refusal is None:
        cache[key] = time.monotonic()
        return
    if flow.is_tap:
        await flow.answer(refusal, alert=True)
    elif not flow.in_group or _addressed_command(flow):
        await flow.reply(escape(refusal))
    raise StopFlow


def _addressed_command(flow: Flow) -> bool:
    """A command for this bot: `/cmd` or `/cmd@ourname`, not `/cmd@otherbot` (a file's
    caption counts)."""
    text = flow.text
    if not text.startswith("/"):
        return False
    target = text.split(maxsplit=1)[0].partition("@")[2]
    return not target or target.lower() == flow.bot_username.lower()


def forget_served(flow: Flow) -> None:
    flow.core.state.pop("served", None)


async def bind(flow: Flow) -> None:
    """/bind 支部名称 (global admins, in the group): register it as a branch."""
    actor = await flow.actor()
    services = flow.services
    result = await services.db.run(lambda session: organization.bind(
        session, actor, " ".join(flow.args), services.clock(),
        open_mode=services.settings.open_mode))
    forget_served(flow)
    text = (f"已将本群的支部名称由「{result.renamed_from}」改为「{result.name}」。"
            if result.renamed_from else f"✅ 本群已登记为党支部：{result.name}。")
    await flow.reply(escape(text))


async def unbind(flow: Flow) -> None:
    """/unbind (global admins): the group is no longer served as a branch."""
    actor = await flow.actor()
    services = flow.services
    name = await services.db.run(lambda session: organization.unbind(
        session, actor, " ".join(flow.args), open_mode=services.settings.open_mode))
    forget_served(flow)
    await flow.reply(escape(f"已注销党支部「{name}」：该群不再使用本助手，已有记录保留。"))


async def branches(flow: Flow) -> None:
    """/branches (global admins, in private): the registered branches."""
    actor = await flow.actor()
    services = flow.services
    if actor.in_group:
        raise UserError("请私聊我发送 /branches 查看已登记的党支部。")
    found = await services.db.run(lambda session: organization.branches(
        session, actor, open_mode=services.settings.open_mode))
    if not found:
        await flow.reply("还没有登记的党支部。在支部群内发送 /bind 支部名称 即可登记。")
        return
    lines = [f"已登记的党支部（{len(found)} 个）："]
    for branch in found:
        title = f"（群：{branch.title}）" if branch.title and branch.title != branch.name else ""
        lines.append(f"• {branch.name}{title}｜群id {branch.chat_id}｜成员 {branch.members} 人"
                     f"｜{fmt_when(branch.registered_at, services.reminders.tz)} 由"
                     f" {branch.registered_by or '管理员'} 登记")
    await flow.reply(escape("\n".join(lines)))


async def on_bot_added(flow: Flow) -> None:
    """The bot joined a group: registered as a branch when a global admin added it (named after
    the group), otherwise told once that it needs registering."""
    services = flow.services
    event = flow.event
    if services.settings.open_mode or not event.bot_joined or not flow.in_group:
        return
    chat_id, by, by_admin = flow.chat_id, flow.user_id, flow.is_global_admin
    title = event.chat.title

    def register(session: Session) -> str | None:
        if organization.is_registered(session, chat_id):
            return None
        if not by_admin:
            return organization.UNREGISTERED
        name = title or str(chat_id)
        organization.register(session, chat_id, name, by, services.clock(), title=title,
                              chat_type="supergroup")
        return f"✅ 本群已登记为党支部：{name}。如需更改名称，请发送 /bind 支部名称。"

    text = await services.db.run(register)
    forget_served(flow)
    if text:
        await flow.send(chat_id, escape(text))


def _bot_membership(event: Event) -> bool:
    return event.kind == "membership"


def _anything(_event: Event) -> bool:
    return True


ROUTES = {
    -100: [OnEvent(_anything, gate)],  # before the roster (-20): nothing is recorded
    0: [Command("bind", bind), Command("unbind", unbind), Command("branches", branches)],
    1: [OnEvent(_bot_membership, on_bot_added)],
}
