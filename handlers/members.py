"""/roster (the branch's 名册; a secretary imports one by sending the file with caption /roster,
or by replying /roster 导入 to it) and /iam (a member says which name is theirs, by a button or
by name; a secretary links anyone)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from sqlmodel import Session

from bot.channels.base import Attachment, Event
from bot.core import Command, Flow, OnMessage, Tap
from bot.services import UserError, members
from bot.services.branches import label_of
from bot.services.people import Actor, is_secretary, require_secretary
from bot.services.roster_file import MAX_BYTES, read_roster
from handlers.common import as_secretary_of, escape, messages, secretary_chats

IAM_PATTERN = r"^iam:(\d+)$"
IMPORT_WORDS = ("导入", "上传", "更新")
MAX_BUTTONS = 60
ROSTER_USAGE = "用法：/roster 查看本支部名册。" + members.IMPORT_HINT


async def roster_command(flow: Flow) -> None:
    """/roster: the 名册 by 党小组 with who is linked; /roster 导入 as a reply to the file
    imports it."""
    actor = await flow.actor()
    args = list(flow.args)
    replied = flow.event.reply_to
    if args and args[0] in IMPORT_WORDS:
        if replied is None or replied.attachment is None or replied.attachment.kind != "file":
            raise UserError("请回复名册文件（.xlsx 或 .csv）发送 /roster 导入。" + members.IMPORT_HINT)
        await _import(flow, actor, replied.attachment, args[1:])
        return
    actor = await _branch(flow, actor, args, showing=True)
    chat_id = actor.chat_id
    services = flow.services

    def show(session: Session) -> str:
        secretary = is_secretary(session, actor, chat_id)
        entries = members.listing(session, chat_id)
        title = label_of(session, chat_id)
        if not entries:
            seen = members.seen_members(session, chat_id)
            return (f"{title} 尚未导入名册；群内已见到的成员 {len(seen)} 人：{'、'.join(seen) or '（无）'}"
                    f"\n应到人数暂按群内成员计算。{members.IMPORT_HINT if secretary else ''}")
        linked = members.accounts(session, [e.user_id for e in entries if e.user_id is not None])
        return members.render_roster(title, entries, linked, secretary=secretary)

    for part in messages((await services.db.run(show)).split("\n"), "\n"):  # a big 名册
        await flow.reply(escape(part))


async def on_roster_file(flow: Flow) -> None:
    """A 名册 file sent with caption /roster [支部名称]."""
    assert flow.event.attachment is not None  # the route's condition
    actor = await flow.actor()
    await _import(flow, actor, flow.event.attachment, flow.text.split()[1:])


async def _branch(flow: Flow, actor: Actor, args: list[str], *,
                  showing: bool = False) -> Actor:
    """Who acts for which branch in a /roster: this group; in private, the secretary's only
    branch, or the one whose name follows."""
    if actor.in_group:
        return actor
    chats = await secretary_chats(flow, actor)
    if not chats:
        raise UserError("请在支部群中发送 /roster。" if showing else
                        "抱歉，只有支部书记可以导入名册；请在本支部群中发送。")
    titles = await flow.services.db.run(
        lambda session: {chat_id: label_of(session, chat_id) for chat_id in chats})
    wanted = " ".join(a for a in args if a not in IMPORT_WORDS)
    chosen = [chat_id for chat_id, title in titles.items() if wanted and wanted in title]
    if len(chats) == 1 and not wanted:
        return as_secretary_of(actor, chats[0])
    if len(chosen) == 1:
        return as_secretary_of(actor, chosen[0])
    listed = "、".join(titles.values())
    raise UserError(f"您是多个支部的书记（{listed}），请写明支部，例如 /roster {next(iter(titles.values()))}"
                    "（导入时写在文件附言里），或在对应支部群中发送。")


async def _import(flow: Flow, actor: Actor, document: Attachment, args: list[str]) -> None:
    services = flow.services
    actor = await _branch(flow, actor, args)
    chat_id = actor.chat_id
    await services.db.run(lambda session: require_secretary(session, actor, chat_id))
    if (document.size or 0) > MAX_BYTES:
        raise UserError("名册文件过大，请控制在 2 MB 以内。")
    data = await flow.download(document, MAX_BYTES)
    parsed = await asyncio.to_thread(read_roster, document.name, data)
    now = services.clock()

    def store(session: Session) -> tuple[members.ImportResult, list[members.Listed]]:
        result = members.import_roster(session, actor, chat_id, parsed.rows, now=now,
                                       skipped=parsed.skipped)
        return result, members.unlinked(session, chat_id)

    result, waiting = await services.db.run(store)
    skipped = f"，另有 {result.skipped} 行没有姓名已跳过" if result.skipped else ""
    await flow.reply(escape(
        f"✅ 名册已导入：共 {result.total} 人（新增 {result.added}，更新 {result.updated}，"
        f"移除 {result.removed}{skipped}），已绑定账号 {result.linked} 人。"
        "\n此后应到人数按名册计算；发送 /roster 查看。"))
    if waiting and flow.in_group:
        await _iam_prompt(flow, waiting)


async def _iam_prompt(flow: Flow, waiting: list[members.Listed], text: str = "") -> None:
    """Buttons of names on the 名册 (those not yet linked, or the ones a name is shared by):
    each member taps their own. Names shared on the list show their 党小组."""
    shown = waiting[:MAX_BUTTONS]
    counted = Counter(e.name for e in shown)

    def label(e: members.Listed) -> str:
        return f"{e.name}（{e.party_group}）" if counted[e.name] > 1 and e.party_group else e.name

    rows = [[(label(e), f"iam:{e.entry_id}") for e in shown[i:i + 4]]
            for i in range(0, len(shown), 4)]
    more = ""
    if len(waiting) > len(shown):
        more = f"（另有 {len(waiting) - len(shown)} 人未列出，请发送 /iam 本人姓名）"
    text = text or f"请各位党员点击自己的姓名，把名册中的名字与本人账号绑定（我是…）{more}："
    await flow.reply(escape(text), rows)


async def iam(flow: Flow) -> None:
    """/iam 姓名 [党小组]: link my account to my name on the 名册; /iam 姓名 @成员 (or as a
    reply) by a secretary links that member; /iam alone lists the unlinked names as buttons."""
    actor = await flow.actor()
    if not actor.in_group:
        raise UserError("请在支部群中发送 /iam 本人姓名。")
    args = list(flow.args)
    services = flow.services
    if not args:
        waiting = await services.db.run(lambda session: _waiting(session, actor.chat_id))
        if not waiting:
            await flow.reply("名册中的姓名都已绑定账号。发送 /roster 查看名册。")
            return
        await _iam_prompt(flow, waiting)
        return
    target = await flow.replied_user()
    if len(args) > 1 and args[-1][0] in "@＠0123456789":
        target, who = None, args.pop()
    else:
        who = ""

    def link(session: Session) -> members.Linked:
        user_id = target if target is not None else actor.user_id
        if who:
            user_id = members.find_member(session, who, [actor.chat_id])
            if user_id < 0:
                raise UserError(f"{who} 是名册中未绑定的姓名，不是聊天账号。" + members.IAM_USAGE)
        entry = members.entry_in(session, actor.chat_id, " ".join(args))
        return members.link(session, actor, entry.id or 0, user_id, now=services.clock())

    try:
        linked = await services.db.run(link)
    except members.SharedName as shared:
        if target is not None or who:  # a secretary names the entry by its number instead
            raise
        await _iam_prompt(flow, shared.choices, f"名册中有 {len(shared.choices)} 位同名党员，"
                          "请点击您自己（按党小组区分）：")
        return
    await flow.reply(escape(_linked_text(linked, actor)))


def _waiting(session: Session, chat_id: int) -> list[members.Listed]:
    if not members.listing(session, chat_id):
        raise UserError("本支部还没有导入名册。" + members.IMPORT_HINT)
    return members.unlinked(session, chat_id)


async def on_iam(flow: Flow) -> None:
    """[姓名] under the /iam prompt: the member who taps is that name."""
    entry_id = flow.button_id()
    actor = await flow.actor()
    services = flow.services
    linked = await services.db.run(lambda session: members.link(
        session, actor, entry_id, actor.user_id, now=services.clock(), chat_id=actor.chat_id))
    await flow.answer(_linked_text(linked, actor), alert=True)


def _linked_text(linked: members.Linked, actor: Actor) -> str:
    mine = linked.user_id == actor.user_id
    if linked.already:
        return f"您已绑定为名册中的“{linked.name}”。" if mine else (
            f"名册中的“{linked.name}”已绑定 {linked.account}，无需重复。")
    text = (f"✅ 已确认：您是名册中的“{linked.name}”。" if mine
            else f"✅ 已把名册中的“{linked.name}”绑定到 {linked.account}。")
    if linked.replaced:
        text += f"原先绑定的账号 {linked.replaced} 已解除。"
    if linked.moved_from:
        text += f"该账号原先绑定的“{linked.moved_from}”已解除。"
    return text


ROSTER_CAPTION = re.compile(r"^\s*[/／]roster(?:@\w+)?(?:\s|$)")


def _roster_file(event: Event) -> bool:
    return (event.attachment is not None and event.attachment.kind == "file"
            and ROSTER_CAPTION.match(event.text) is not None)


ROUTES = {0: [
    OnMessage(_roster_file, on_roster_file),
    Command("roster", roster_command),
    Command("iam", iam),
    Tap(IAM_PATTERN, on_iam),
]}
