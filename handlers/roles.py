"""/grant: a secretary makes another member a secretary of this branch."""

from __future__ import annotations

from sqlmodel import Session

from bot.core import Command, Flow
from bot.services import UserError, members, roster
from bot.services.people import grant_secretary, require_secretary
from handlers.common import escape

GRANT_USAGE = "用法：/grant 成员（姓名、@用户名或用户id；或回复该成员的消息发送 /grant）"


async def grant(flow: Flow) -> None:
    """/grant @成员: secretary role in this group's branch, recorded in the audit log."""
    actor = await flow.actor()
    if not actor.in_group:
        raise UserError("请在支部群中授权。" + GRANT_USAGE)
    args = list(flow.args)
    replied = await flow.replied_user()

    def grant_role(session: Session) -> tuple[bool, str]:
        require_secretary(session, actor, actor.chat_id)
        if args:
            user_id = members.find_member(session, args[0], [actor.chat_id])
            if user_id < 0:
                raise UserError(f"{args[0]} 尚未绑定聊天账号，无法授权；请其先发送 /iam 本人姓名。")
        elif (user_id := replied) is None:  # type: ignore[assignment]
            raise UserError(GRANT_USAGE)
        granted = grant_secretary(session, actor, user_id, actor.chat_id)
        return granted, roster.names(session, [user_id])[user_id]

    granted, name = await flow.services.db.run(grant_role)
    text = f"已授予 {name} 本支部书记权限。" if granted else f"{name} 已是本支部的授权书记。"
    await flow.reply(escape(text))


ROUTES = {0: [Command("grant", grant)]}
