"""/export: the 台账 workbook (and its CSV files) go to the secretary's private chat only."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.core import Command, Flow
from bot.services import ledger, stats
from bot.services.ledger import duty_titles, meeting_duties
from bot.services.localtime import local
from handlers.posts import local_zone
from storage.db import Database

T = TypeVar("T")


async def export(flow: Flow) -> None:
    """/export: build the ledger of the secretary's branches and send it privately. The
    workbook is written in a process of its own: 100,000 rows take seconds of Python work that,
    in a thread, would hold the interpreter's lock against every other member's tap."""
    actor = await flow.actor()
    services = flow.services
    tz = local_zone(services)
    now = services.clock()
    chat_ids = await services.db.run(lambda session: stats.branch_scope(session, actor))
    name = f"党建台账-{local(now, tz):%Y%m%d}"
    workbook, bundle = await _in_a_process(_files, services.db.url, name,
                                           ledger.Scope(chat_ids, tz, now,
                                                        services.settings.org_name,
                                                        duty_titles(services.duties),
                                                        meeting_duties(services.duties)))
    await flow.core.privately(flow.send_file(
        actor.user_id, workbook, filename=f"{name}.xlsx",
        caption="党建台账（Excel，每类记录一个工作表）",
    ))
    await flow.send_file(actor.user_id, bundle, filename=f"{name}.csv.zip",
                         caption="同一台账的 CSV 文件（UTF-8）")
    if actor.in_group:
        await flow.reply("台账已私信发送给您。")


async def _in_a_process(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a fresh process (spawned: nothing of this one's threads, loop or
    connections is copied), awaited."""
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, work, *args)
    finally:
        pool.shutdown(wait=False)


def _files(url: str, name: str, scope: ledger.Scope) -> tuple[bytes, bytes]:
    """The workbook and a zip of its CSV files, written in a folder of their own from a
    connection of their own, at a lower CPU priority: a batch job that members' taps go before."""
    os.nice(10)
    db = Database(url)
    try:
        with tempfile.TemporaryDirectory() as folder:
            xlsx = Path(folder) / f"{name}.xlsx"
            written = ledger.export(db, xlsx, scope, with_csv=True)
            bundle = xlsx.with_suffix(".csv.zip")
            with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in written[1:]:
                    archive.write(path, path.name)
            return xlsx.read_bytes(), bundle.read_bytes()
    finally:
        db.dispose()


ROUTES = {0: [Command("export", export)]}
