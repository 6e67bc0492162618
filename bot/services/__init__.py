"""Telegram-free use cases, bundled in `Services` and shared through `bot_data["services"]`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.services.errors import RetryLater, UserError

if TYPE_CHECKING:  # imported where used, so `dangjian ask` loads only the QA service
    from bot.config import Settings
    from bot.scheduler import ReminderScheduler
    from bot.services.duties import DutyService
    from bot.services.qa import QAService
    from bot.services.reminders import ReminderService
    from storage.db import Database

__all__ = ["RetryLater", "Services", "UserError", "build_services"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything a handler may call; built once per process from the settings."""

    settings: Settings
    db: Database
    qa: QAService
    duties: DutyService
    reminders: ReminderService
    scheduler: ReminderScheduler
    clock: Callable[[], datetime] = field(default=utc_now)


def build_services(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Services:
    """Open the database, migrate it, load the knowledge base and wire the services."""
    from bot.scheduler import ReminderScheduler  # the Telegram side, kept out of this package
    from bot.services.duties import DutyService
    from bot.services.qa import QAService
    from bot.services.reminders import ReminderService
    from storage.db import Database

    db = Database(settings.database_url)
    db.migrate()
    qa = QAService(db, plans_dir=settings.plans_dir)
    qa.load()
    tz = ZoneInfo(settings.timezone)
    duties = DutyService(qa.plans, tz)
    reminders = ReminderService(db, tz, duties, clock, open_mode=settings.open_mode)
    scheduler = ReminderScheduler(db, reminders, tz)
    return Services(settings=settings, db=db, qa=qa, duties=duties, reminders=reminders,
                    scheduler=scheduler, clock=clock)
