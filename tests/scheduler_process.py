"""A replica's reminder scheduler in a process of its own, for tests that kill it:

    python tests/scheduler_process.py DATABASE_URL LEASE_TTL RENEW_EVERY

Prints `worker <id>` once it takes part in the election and `sent <chat> <text>` for each
send, then runs until it is killed."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.scheduler import ReminderScheduler
from bot.services.duties import DutyService
from bot.services.posts import Post
from bot.services.reminders import ReminderService
from storage.db import Database

TZ = ZoneInfo("Asia/Shanghai")


class PrintingSender:
    async def send(self, chat_id: int, post: Post) -> int:
        print(f"sent {chat_id} {post.text}", flush=True)
        return 1

    async def chat_admins(self, chat_id: int) -> list[int]:
        return []


async def main(url: str, lease_ttl: float, renew_every: float) -> None:
    db = Database(url)
    reminders = ReminderService(db, TZ, DutyService(lambda: [], TZ), lambda: datetime.now(UTC))
    scheduler = ReminderScheduler(db, reminders, TZ, lease_ttl=lease_ttl,
                                  renew_every=renew_every)
    await scheduler.start(sender=PrintingSender())
    print(f"worker {scheduler.worker}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))
