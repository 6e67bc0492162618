"""Telegram-free use cases, bundled in `Services` and shared through `bot_data["services"]`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.config import Settings
from bot.services.errors import RetryLater, UserError
from bot.services.qa import QAService
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
    clock: Callable[[], datetime] = field(default=utc_now)


def build_services(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Services:
    """Open the database, migrate it, load the knowledge base and wire the services."""
    db = Database(settings.database_url)
    db.migrate()
    qa = QAService(db, plans_dir=settings.plans_dir)
    qa.load()
    return Services(settings=settings, db=db, qa=qa, clock=clock)
