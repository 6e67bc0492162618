"""The knowledge base in Telegram: a secretary or global admin sends a document (txt/md/docx/pdf)
to add it; /docs lists what a user can see, /docs 删除 编号 removes one. A secretary of several
branches sending a file privately is asked which branch it is for."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from bot.channels.base import Attachment, Event
from bot.core import Command, Flow, OnMessage, Tap
from bot.services import UserError, knowledge
from bot.services.branches import branch_labels
from bot.services.localtime import fmt_when
from bot.services.people import Actor
from handlers.common import escape, secretary_chats

PICK_PATTERN = r"^kb:branch:(-?\d+)$"
PENDING = "pending_upload"


async def _runs(flow: Flow, actor: Actor) -> list[int]:
    """In private, the branches this secretary runs (a group and a global admin need none)."""
    if actor.in_group or actor.is_global_admin:
        return []
    return await secretary_chats(flow, actor)


async def on_document(flow: Flow) -> None:
    """Check who sent what; in private with several branches ask which; then ingest it."""
    document = flow.event.attachment
    assert document is not None  # the route's condition
    actor = await flow.actor()
    services = flow.services
    name, size = document.name, document.size or 0
    knowledge.check_file(name, size)
    runs = await _runs(flow, actor)
    branches = await services.db.run(lambda session: knowledge.upload_branches(
        session, actor, runs))
    if branches is not None and len(branches) > 1:
        names = await services.db.run(lambda session: branch_labels(session, branches))
        await flow.hold(PENDING, asdict(document))
        buttons = [[(names.get(b, str(b)), f"kb:branch:{b}")] for b in branches]
        await flow.reply(escape(f"您是多个支部的书记，请选择「{name}」加入哪个支部的知识库："),
                         buttons)
        return
    await _ingest(flow, actor, document, None if branches is None else branches[0])


async def on_pick_branch(flow: Flow) -> None:
    """The branch chosen for a private upload: checked again, then the file is ingested."""
    chosen = flow.button_id()
    held = await flow.take(PENDING)
    if held is None:
        await flow.answer("该文件已处理或已过期，请重新发送。", alert=True)
        return
    actor = await flow.actor()
    runs = await _runs(flow, actor)
    services = flow.services
    branches = await services.db.run(lambda session: knowledge.upload_branches(
        session, actor, runs))
    if branches is not None and chosen not in branches:
        raise UserError(knowledge.NOT_SECRETARY)
    await flow.answer()
    await _ingest(flow, actor, Attachment(**held), chosen)


async def _ingest(flow: Flow, actor: Actor, document: Attachment, branch: int | None) -> None:
    services = flow.services
    name = document.name
    data = await flow.download(document, knowledge.MAX_UPLOAD_BYTES)
    knowledge.check_file(name, len(data))
    report = await services.qa.add_upload(name, data, chat_id=branch, added_by=actor.user_id)
    if branch is None:
        scope = "组织文件（全体党员可查）"
    else:
        names = await services.db.run(lambda session: branch_labels(session, [branch]))
        scope = f"支部文件（仅{names.get(branch, branch)}成员可查）"
    verb = "已更新" if report.replaced else "已加入"
    text = (f"✅ {verb}知识库：{report.title}（编号 {report.document_id}，共 {report.sections} 段），"
            f"{scope}。\n现在可以就这份文件提问了。")
    if flow.is_tap:
        await flow.send(flow.chat_id, escape(text))
    else:
        await flow.reply(escape(text))


async def docs(flow: Flow) -> None:
    """/docs: the documents this user can see; /docs 删除 编号: remove one."""
    actor = await flow.actor()
    services = flow.services
    args = list(flow.args)
    if args and args[0] in ("删除", "delete", "rm"):
        runs = await _runs(flow, actor)
        removed = await services.db.run(lambda session: knowledge.remove_document(
            session, actor, " ".join(args[1:]), runs))
        await asyncio.to_thread(services.qa.load, True)
        await flow.reply(escape(f"已从知识库删除：编号 {removed.id}《{removed.title}》。"))
        return
    if args:
        raise UserError(knowledge.DOCS_USAGE)
    directory = [(plan.name, plan.title) for plan in services.qa.directory_plans()]
    listed = await services.db.run(lambda session: knowledge.list_documents(
        session, actor, services.settings.open_mode, directory))
    tz = services.reminders.tz
    lines = [f"知识库文件（{len(listed)} 份）："]
    for item in listed:
        number = f"[{item.number}] " if item.number is not None else ""
        when = f"，{fmt_when(item.added_at, tz)}" if item.added_at else ""
        lines.append(f"{number}《{item.title}》｜{item.scope}｜{item.added_by}{when}")
    lines.append(knowledge.DOCS_USAGE)
    await flow.reply(escape("\n".join(lines)))


def _file(event: Event) -> bool:
    return event.attachment is not None and event.attachment.kind == "file"


ROUTES = {0: [
    OnMessage(_file, on_document),
    Command("docs", docs),
    Tap(PICK_PATTERN, on_pick_branch),
]}
