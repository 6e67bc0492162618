"""The knowledge base in Telegram: a secretary or global admin sends a document (txt/md/docx/pdf)
to add it; /docs lists what a user can see, /docs 删除 编号 removes one. A secretary of several
branches sending a file privately is asked which branch it is for."""

from __future__ import annotations

import asyncio

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from bot.services import UserError, knowledge
from bot.services.branches import branch_labels
from bot.services.localtime import fmt_when
from bot.services.people import Actor
from handlers.common import actor_of, admin_of, escape, reply

PICK_PATTERN = r"^kb:branch:(-?\d+)$"
PENDING = "pending_upload"


async def _admin_of(context: BotContext, actor: Actor) -> set[int]:
    """In private, the branches (seen or granted) whose group this user administers."""
    if actor.in_group or actor.is_global_admin:
        return set()
    open_mode = context.services.settings.open_mode
    candidates = await context.services.db.run(
        lambda session: knowledge.private_candidates(session, actor, open_mode))
    return await admin_of(context, actor.user_id, candidates)


async def on_document(update: Update, context: BotContext) -> None:
    """Check who sent what; in private with several branches ask which; then ingest it."""
    message = update.effective_message
    assert message is not None and message.document is not None  # filters.Document.ALL
    document = message.document
    actor = await actor_of(update, context)
    services = context.services
    name, size = document.file_name or "upload.txt", document.file_size or 0
    knowledge.check_file(name, size)
    admins = await _admin_of(context, actor)
    branches = await services.db.run(lambda session: knowledge.upload_branches(
        session, actor, admins, services.settings.open_mode))
    if branches is not None and len(branches) > 1:
        names = await services.db.run(lambda session: branch_labels(session, branches))
        context.user_data[PENDING] = (document.file_id, name)  # type: ignore[index]
        buttons = [[InlineKeyboardButton(names.get(b, str(b)), callback_data=f"kb:branch:{b}")]
                   for b in branches]
        await reply(update, escape(f"您是多个支部的书记，请选择「{name}」加入哪个支部的知识库："),
                    reply_markup=InlineKeyboardMarkup(buttons))
        return
    await _ingest(update, context, actor, document.file_id, name,
                  None if branches is None else branches[0])


async def on_pick_branch(update: Update, context: BotContext) -> None:
    """The branch chosen for a private upload: checked again, then the file is ingested."""
    query = update.callback_query
    assert query is not None and context.match is not None
    chosen = int(context.match.group(1))
    pending = (context.user_data or {}).pop(PENDING, None)
    if pending is None:
        await query.answer("该文件已处理或已过期，请重新发送。", show_alert=True)
        return
    actor = await actor_of(update, context)
    admins = await _admin_of(context, actor)
    services = context.services
    branches = await services.db.run(lambda session: knowledge.upload_branches(
        session, actor, admins, services.settings.open_mode))
    if branches is not None and chosen not in branches:
        raise UserError(knowledge.NOT_SECRETARY)
    await query.answer()
    await _ingest(update, context, actor, pending[0], pending[1], chosen)


async def _ingest(update: Update, context: BotContext, actor: Actor, file_id: str, name: str,
                  branch: int | None) -> None:
    services = context.services
    telegram_file = await context.bot.get_file(file_id)
    data = bytes(await telegram_file.download_as_bytearray())
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
    if update.callback_query is not None and update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, escape(text))
    else:
        await reply(update, escape(text))


async def docs(update: Update, context: BotContext) -> None:
    """/docs: the documents this user can see; /docs 删除 编号: remove one."""
    actor = await actor_of(update, context)
    services = context.services
    args = list(context.args or [])
    if args and args[0] in ("删除", "delete", "rm"):
        admins = await _admin_of(context, actor)
        removed = await services.db.run(lambda session: knowledge.remove_document(
            session, actor, " ".join(args[1:]), admins))
        await asyncio.to_thread(services.qa.load, True)
        await reply(update, escape(f"已从知识库删除：编号 {removed.id}《{removed.title}》。"))
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
    await reply(update, escape("\n".join(lines)))


HANDLERS = [
    MessageHandler(filters.Document.ALL, on_document),
    CommandHandler("docs", docs),
    CallbackQueryHandler(on_pick_branch, pattern=PICK_PATTERN),
]
