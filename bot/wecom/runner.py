"""WeCom inside `dangjian run`: the AI bot's long connection kept open (subscribed, pinged,
reopened when it drops, each visible in the log and in /readyz), each callback stored in the
inbox before it is handled (one handling across replicas and kills; a repeat of a msgid is
dropped), and a tap's card replaced within its 5 s window.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.channels.wecom import WeComChannel
from bot.config import Settings
from bot.core import Core
from bot.inbox import StoredEvents, event_key
from bot.web import refused_as
from bot.wecom.connection import LongConnection, Rejected

log = logging.getLogger(__name__)

STOP_SECONDS = 10.0
OPEN_MODE = ("WeCom names no group admins to an AI bot, and in open mode (DANGJIAN_ADMINS empty) "
             "nobody can /grant: WeCom branches have no secretaries. Set DANGJIAN_ADMINS "
             "(wecom:userid).")


def frame_number(frame: dict[str, Any]) -> int:
    """The inbox's key of a callback: its msgid (WeCom's id of the message or event)."""
    body = frame.get("body") or {}
    return event_key("wecom", str(body.get("msgid")
                                  or (frame.get("headers") or {}).get("req_id", "")))


def sender_of(frame: object) -> object:
    """Whose order a callback keeps: its sender's (a leave reason after its [请假] tap)."""
    body = (frame.get("body") or {}) if isinstance(frame, dict) else {}
    user = (body.get("from") or {}).get("userid")
    return ("wecom", str(user)) if user else object()


def tap_of(frame: dict[str, Any]) -> tuple[str, str] | None:
    """(task id, req_id) of a template card tap."""
    event = (frame.get("body") or {}).get("event") or {}
    card = event.get("template_card_event") or {}
    if event.get("eventtype") != "template_card_event" or not card.get("task_id"):
        return None
    return str(card["task_id"]), str((frame.get("headers") or {}).get("req_id", ""))


class WeComRunner:
    """One AI bot in this process: its channel in the core, its callbacks in the inbox."""

    name = "wecom"

    def __init__(self, core: Core, settings: Settings, worker: str) -> None:
        assert settings.wecom_bot_id and settings.wecom_bot_secret
        self.core = core
        self.connection = LongConnection(settings.wecom_bot_id,
                                         settings.wecom_bot_secret.get_secret_value(),
                                         settings.wecom_ws_url, self.on_frame)
        self.channel = WeComChannel(self.connection, settings.wecom_bot_id)
        core.add_channel(self.channel)
        self.inbox = StoredEvents(core.services.db, worker, "wecom", key=frame_number,
                                  sender=sender_of, handle=self._handle,
                                  running=settings.concurrent_updates)

    @property
    def routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]]:
        return []

    @property
    def ready(self) -> bool:
        return self.inbox.ready and self.connection.subscribed.is_set()

    async def start(self) -> None:
        """Subscribed first (a refusal ends the start), then the callbacks stored before a
        restart taken up: answering them needs the connection."""
        with refused_as(Rejected, "企业微信拒绝了智能机器人的凭证（{}），请核对 WECOM_BOT_ID、"
                        "WECOM_BOT_SECRET。 (WeCom refused the AI bot's credentials.)"):
            await self.connection.start()
        await self.inbox.start()
        log.info("WeCom running: bot=%s", self.channel.bot.id)
        if self.core.services.settings.open_mode:
            log.warning(OPEN_MODE)

    async def stop(self) -> None:
        """The callbacks in hand answered first: their replies need the connection."""
        await self.inbox.drain(STOP_SECONDS)
        await self.connection.stop()
        await self.inbox.stop()

    async def on_frame(self, frame: dict[str, Any]) -> None:
        """Store a callback (a repeat is dropped); a tap opens its card's update window."""
        tap = tap_of(frame)
        if tap is not None:
            self.channel.tapped(*tap)
        await self.inbox.receive_event(frame)

    async def _handle(self, frame: dict[str, Any]) -> None:
        event = await self.channel.to_event(frame)
        if event is not None:
            await self.core.handle(self.channel, event)
