"""/export: the 台账 workbook (and its CSV files) go to the secretary's private chat only."""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from pathlib import Path

from telegram import Update
from telegram.ext import CommandHandler

from bot.context import BotContext
from bot.services import ledger, stats
from bot.services.localtime import local
from handlers.common import actor_of, reply
from handlers.posts import local_zone, privately


async def export(update: Update, context: BotContext) -> None:
    """/export: build the ledger of the secretary's branches and send it privately."""
    actor = await actor_of(update, context)
    services = context.services
    tz = local_zone(services)
    now = services.clock()
    with services.db.session() as session:
        scope = ledger.Scope(stats.branch_scope(session, actor), tz, now)
    with tempfile.TemporaryDirectory() as folder:
        xlsx = Path(folder) / f"党建台账-{local(now, tz):%Y%m%d}.xlsx"
        written = await asyncio.to_thread(ledger.export, services.db, xlsx, scope, with_csv=True)
        bundle = xlsx.with_suffix(".csv.zip")
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in written[1:]:
                archive.write(path, path.name)
        await privately(context.bot.send_document(
            actor.user_id, xlsx.read_bytes(), filename=xlsx.name,
            caption="党建台账（Excel，每类记录一个工作表）",
        ))
        await context.bot.send_document(
            actor.user_id, bundle.read_bytes(), filename=bundle.name,
            caption="同一台账的 CSV 文件（UTF-8）",
        )
    if actor.in_group:
        await reply(update, "台账已私信发送给您。")


HANDLERS = [CommandHandler("export", export)]
