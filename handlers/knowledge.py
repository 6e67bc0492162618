"""A secretary sends a plan document (txt/md/docx/pdf) to add it to the knowledge base."""

from __future__ import annotations

from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.context import BotContext
from bot.services.knowledge import MAX_UPLOAD_BYTES, check_upload
from handlers.common import actor_of, escape, reply


async def on_document(update: Update, context: BotContext) -> None:
    """Download the file, check who sent it and what it is, then ingest it."""
    message = update.effective_message
    assert message is not None and message.document is not None  # filters.Document.ALL
    document = message.document
    actor = await actor_of(update, context)
    services = context.services
    await services.db.run(lambda session: check_upload(
        session, actor, document.file_name or "", document.file_size or 0))
    telegram_file = await document.get_file()
    data = bytes(await telegram_file.download_as_bytearray())
    if len(data) > MAX_UPLOAD_BYTES:
        await reply(update, "文件过大，请上传 10MB 以内的文件。")
        return
    report = services.qa.ingest_upload(document.file_name or "upload.txt", data)
    await reply(
        update,
        f"✅ 已加入知识库：{escape(report.title)}（共 {report.sections} 段）。"
        f"\n现在可以就这份文件提问了。",
    )


HANDLERS = [MessageHandler(filters.Document.ALL, on_document)]
