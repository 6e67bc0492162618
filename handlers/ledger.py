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
from storage.db import Database


async def export(update: Update, context: BotContext) -> None:
    """/export: build the ledger of the secretary's branches and send it privately. The
    workbook is written in a thread: 100,000 rows take seconds that other members' taps do not
    wait for."""
    actor = await actor_of(update, context)
    services = context.services
    tz = local_zone(services)
    now = services.clock()
    chat_ids = await services.db.run(lambda session: stats.branch_scope(session, actor))
    name = f"党建台账-{local(now, tz):%Y%m%d}"
    workbook, bundle = await asyncio.to_thread(_files, services.db, name,
                                               ledger.Scope(chat_ids, tz, now))
    await privately(context.bot.send_document(
        actor.user_id, workbook, filename=f"{name}.xlsx",
        caption="党建台账（Excel，每类记录一个工作表）",
    ))
    await context.bot.send_document(
        actor.user_id, bundle, filename=f"{name}.csv.zip", caption="同一台账的 CSV 文件（UTF-8）",
    )
    if actor.in_group:
        await reply(update, "台账已私信发送给您。")


def _files(db: Database, name: str, scope: ledger.Scope) -> tuple[bytes, bytes]:
    """The workbook and a zip of its CSV files, written in a folder of their own."""
    with tempfile.TemporaryDirectory() as folder:
        xlsx = Path(folder) / f"{name}.xlsx"
        written = ledger.export(db, xlsx, scope, with_csv=True)
        bundle = xlsx.with_suffix(".csv.zip")
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in written[1:]:
                archive.write(path, path.name)
        return xlsx.read_bytes(), bundle.read_bytes()


HANDLERS = [CommandHandler("export", export)]
