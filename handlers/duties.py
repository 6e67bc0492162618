"""/duties (the branch's own duties by deadline, one line each; the plan's words behind a button
or /duties 编号; 全部 adds the rest by audience), /done 编号 (in the group, or privately for the
secretary's branches), /duty 编号 调整."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session

from bot.core import Command, Flow, Tap
from bot.services import UserError, members
from bot.services.branches import label_of
from bot.services.duties import (
    DONE_USAGE,
    DUTY_USAGE,
    BranchDuty,
    Duty,
    brief,
    describe,
    detail,
    for_branch,
    render,
)
from bot.services.people import Actor
from handlers.common import as_secretary_of, escape, messages, secretary_chats

ALL_WORDS = ("全部", "所有", "all")
QUOTE_PATTERN = r"^duty:q:(\w+)$"
DONE_PATTERN = r"^duty:done:(-?\d+):(\w+)$"
QUOTE_BUTTONS = 10
BUTTON_TITLE = 8


async def duties(flow: Flow) -> None:
    """Handle /duties [全部｜编号]."""
    actor = await flow.actor()
    services = flow.services
    today = services.duties.today(services.clock())
    words = " ".join(flow.args).strip()
    show_all = any(word in words for word in ALL_WORDS)
    note = services.duties.plan_note(today)
    chat_id = actor.chat_id if actor.in_group else await services.db.run(
        lambda session: _own_branch(session, actor))
    if words and not show_all:
        duty = services.duties.find(words)
        item = await services.db.run(
            lambda session: services.duties.state(session, chat_id, duty.id, today))
        await flow.reply(escape(detail(item)))
        return

    def listing(session: Session) -> tuple[str, list[BranchDuty], int, list[Duty]]:
        if chat_id is None:
            return "", [], 0, []
        own, off = services.duties.own(session, chat_id, today)
        title = "本支部" if actor.in_group else label_of(session, chat_id)
        return title, own, off, [d for d in services.duties.calendar() if not for_branch(d)]

    title, own, off, rest = await services.db.run(listing)
    if chat_id is None:  # nobody's branch: the calendar as the plans state it
        calendar = services.duties.calendar()
        blocks = ["\n".join(filter(None, [
            "📋 支部的工作职责（工作要点及三会一课制度）", note and f"⚠️ {note}",
            *_cadence_lines([d for d in calendar if for_branch(d)])]))]
        if show_all:
            blocks += _by_audience([d for d in calendar if not for_branch(d)])
        footer = "在支部群中发送 /duties 查看本支部的完成情况；/duties 编号 查看原文。"
        for chunk in messages([*blocks, footer]):
            await flow.reply(escape(chunk))
        return
    head = [f"📋 {title}工作职责（{today.month}月{today.day}日，按截止时间排列）"]
    if note:
        head.append(f"⚠️ {note}")
    body = [brief(item) for item in own] or ["本支部没有需要办理的工作职责。"]
    tail = []
    if off:
        tail.append(f"另有 {off} 项已在本支部停用（/duty 编号 启用）。")
    if not show_all:
        tail.append(f"原文：点下方按钮或发送 /duties 编号；党委、班子成员等其他 {len(rest)} 项："
                    "/duties 全部。书记完成后发送 /done 编号。")
        buttons = [(f"{i.duty.title[:BUTTON_TITLE]}·原文", f"duty:q:{i.duty.id}")
                   for i in own[:QUOTE_BUTTONS]]
        await flow.reply(escape("\n".join([*head, *body, *tail])),
                         [buttons[n:n + 2] for n in range(0, len(buttons), 2)])
        return
    blocks = ["\n".join([*head, *body, *tail]), *_by_audience(rest)]
    for chunk in messages([*blocks, "/duties 编号 查看原文；书记完成后发送 /done 编号。"]):
        await flow.reply(escape(chunk))


def _cadence_lines(duties: list[Duty]) -> list[str]:
    return [f"• [{d.id}] {d.title}：{d.cadence}" for d in duties]


def _by_audience(duties: list[Duty]) -> list[str]:
    """The duties that are not the branch's own, a block per audience (for reference)."""
    groups: dict[str, list[Duty]] = defaultdict(list)
    for duty in duties:
        groups[duty.audience].append(duty)
    return [f"【{audience}】\n" + "\n".join(_cadence_lines(group))
            for audience, group in groups.items()]


def _own_branch(session: Session, actor: Actor) -> int | None:
    """In a private chat, the one branch the member belongs to (None for none or several)."""
    chats = members.branches_of_actor(session, actor)
    return chats[0] if chats is not None and len(chats) == 1 else None


async def on_quote(flow: Flow) -> None:
    """[原文] under /duties: the duty with the plan's own sentence, as a reply in the chat."""
    assert flow.match is not None
    actor = await flow.actor()
    services = flow.services
    duty = services.duties.find(flow.match.group(1))
    chat_id = actor.chat_id if actor.in_group else None
    today = services.duties.today(services.clock())
    item = await services.db.run(
        lambda session: services.duties.state(session, chat_id, duty.id, today))
    await flow.answer()
    await flow.send(actor.chat_id, escape(detail(item)))


async def done(flow: Flow) -> None:
    """Handle /done 编号 [备注] (secretaries): one completion for the current period. In a
    private chat, for the secretary's branch, or the one they choose from buttons."""
    actor = await flow.actor()
    args = flow.args
    if not args:
        await flow.reply(escape(DONE_USAGE))
        return
    services = flow.services
    duty = services.duties.find(args[0])
    if actor.in_group:
        await _mark(flow, actor, duty.id, " ".join(args[1:]), None)
        return
    chats = await secretary_chats(flow, actor)
    if not chats:
        raise UserError("抱歉，只有支部书记可以登记工作职责的完成情况。")
    if len(chats) == 1:
        await _mark(flow, actor, duty.id, " ".join(args[1:]), chats[0])
        return
    titles = await services.db.run(
        lambda session: [(chat_id, label_of(session, chat_id)) for chat_id in chats])
    buttons = [[(title, f"duty:done:{chat_id}:{duty.id}")] for chat_id, title in titles]
    await flow.reply(escape(f"您是多个支部的书记，请选择为哪个支部登记“{duty.title}”完成："),
                     buttons)


async def on_done_choice(flow: Flow) -> None:
    """[支部] under a private /done: that branch's completion (one per prompt)."""
    match = flow.match
    assert match is not None
    actor = await flow.actor()
    chat_id = int(match.group(1))
    if chat_id not in await secretary_chats(flow, actor):
        raise UserError("抱歉，您不是该支部的书记。")
    await flow.answer()
    await _mark(flow, actor, match.group(2), "", chat_id)


async def _mark(flow: Flow, actor: Actor, duty_id: str, note: str,
                chat_id: int | None) -> None:
    """Record the completion; `chat_id` is a branch the platform or a grant says the actor
    runs."""
    services = flow.services
    if chat_id is not None:  # secretary_chats checked it: act as its secretary
        actor = as_secretary_of(actor, chat_id)
    message_id = await flow.message_number()
    if message_id is not None and not flow.in_group:
        message_id = -message_id  # a private chat numbers its messages apart from the group
    item, added = await services.db.run(lambda session: services.duties.mark_done(
        session, actor, duty_id, now=services.clock(), note=note, message_id=message_id,
        chat_id=chat_id,
    ))
    prefix = "✅ 已登记完成" if added else "这条消息已经登记过了"
    state = "本期已完成" if item.complete else "本期尚未完成"
    where = ""
    if chat_id is not None:
        where = await services.db.run(lambda session: f"（{label_of(session, chat_id)}）")
    text = f"{prefix}{where}：{describe(item)}\n{state}。"
    if flow.is_tap:
        await flow.send(flow.chat_id, escape(text))
    else:
        await flow.reply(escape(text))


async def duty(flow: Flow) -> None:
    """Handle /duty 编号 停用|启用|每季度2次|恢复 (secretaries): this branch's own calendar."""
    actor = await flow.actor()
    args = flow.args
    if len(args) < 2:
        await flow.reply(escape(DUTY_USAGE))
        return
    services = flow.services
    item = await services.db.run(lambda session: services.duties.configure(
        session, actor, args[0], " ".join(args[1:]), now=services.clock()))
    await flow.reply(escape("已更新本支部的工作职责：\n" + render(item, with_quote=False)))


ROUTES = {0: [
    Command("duties", duties),
    Command("done", done),
    Command("duty", duty),
    Tap(QUOTE_PATTERN, on_quote),
    Tap(DONE_PATTERN, on_done_choice),
]}
