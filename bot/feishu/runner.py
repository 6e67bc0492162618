"""Feishu inside `dangjian run`: events from the long connection (FEISHU_MODE=ws) or the HTTP
callback (webhook, `/feishu/events` on PORT) are stored before they are acknowledged, handled
once by the core whichever replica receives them (and again after a crash, by the replica that
takes them over), and a tap's answer goes back as the callback's toast.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.channels.feishu import FeishuChannel
from bot.config import Settings
from bot.core import Core
from bot.feishu.api import FeishuApi, FeishuError
from bot.feishu.events import Rejected, challenge_answer, decode_callback, event_type
from bot.feishu.longconn import CARD_ACTION, LongConnection
from bot.inbox import StoredEvents, event_key
from bot.web import refused_as

log = logging.getLogger(__name__)

PATH = "/feishu/events"
ANSWER_WITHIN = 2.5
"""Seconds a tap waits for its flow's answer: Feishu wants the callback answered within 3."""


def event_number(event: dict[str, Any]) -> int:
    """The inbox's key of a Feishu event: from its message id (a message Feishu sends again,
    under whatever event id) or else its event id."""
    message = ((event.get("event") or {}).get("message") or {}).get("message_id")
    return event_key("feishu", message or str((event.get("header") or {}).get("event_id", "")))


def sender_of(event: object) -> object:
    """Whose order an event keeps: its sender's (a leave reason after its [请假] tap)."""
    body = (event.get("event") or {}) if isinstance(event, dict) else {}
    user = (((body.get("sender") or {}).get("sender_id") or {}).get("open_id")
            or (body.get("operator") or {}).get("open_id"))
    return ("feishu", str(user)) if user else object()


class FeishuRunner:
    """One Feishu app in this process: its channel in the core, its events in the inbox."""

    name = "feishu"

    def __init__(self, core: Core, settings: Settings, worker: str) -> None:
        assert settings.feishu_app_id and settings.feishu_app_secret
        secret = settings.feishu_app_secret.get_secret_value()
        self.settings = settings
        self.core = core
        self.api = FeishuApi(settings.feishu_app_id, secret, settings.feishu_domain)
        self.channel = FeishuChannel(self.api)
        core.add_channel(self.channel)
        self.inbox = StoredEvents(core.services.db, worker, "feishu", key=event_number,
                                  sender=sender_of, handle=self._handle,
                                  running=settings.concurrent_updates)
        self.connection = (LongConnection(settings.feishu_app_id, secret, settings.feishu_domain,
                                          self.on_event)
                           if settings.feishu_mode == "ws" else None)

    @property
    def routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]]:
        return [(PATH, self.on_callback)] if self.connection is None else []

    @property
    def ready(self) -> bool:
        connected = self.connection is None or not self.connection.ended.is_set()
        return self.inbox.ready and connected

    async def start(self) -> None:
        with refused_as(FeishuError, "飞书拒绝了应用凭证或请求（{}），请核对 FEISHU_APP_ID、"
                        "FEISHU_APP_SECRET。 (Feishu refused the app's credentials.)"):
            await self.channel.start()
        await self.inbox.start()
        if self.connection is not None:
            self.connection.start()
        log.info("Feishu running: mode=%s bot=%s", self.settings.feishu_mode, self.channel.bot.id)

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.stop()
        await self.inbox.stop()
        await self.api.close()

    async def on_event(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Store the event, then (a tap) wait a moment for its toast. A repeat is dropped."""
        tap = event_type(event) == CARD_ACTION
        event_id = str((event.get("header") or {}).get("event_id", ""))
        answer: asyncio.Future[tuple[str, bool]] | None = None
        if tap:
            answer = self.channel.toasts[event_id] = asyncio.get_running_loop().create_future()
        try:
            if not await self.inbox.receive_event(event):
                return None
            if answer is None:
                return None
            try:
                text, alert = await asyncio.wait_for(asyncio.shield(answer), ANSWER_WITHIN)
            except TimeoutError:
                return None
            return {"toast": {"type": "warning" if alert else "info", "content": text}} if text \
                else None
        finally:
            self.channel.toasts.pop(event_id, None)

    async def _handle(self, event: dict[str, Any]) -> None:
        neutral = await self.channel.to_event(event)
        if neutral is not None:
            await self.core.handle(self.channel, neutral)

    async def on_callback(self, request: web.Request) -> web.Response:
        """Feishu's HTTP callback: verified and decrypted, stored, answered within 3 s."""
        settings = self.settings
        try:
            event = decode_callback(
                await request.read(), request.headers,
                encrypt_key=settings.feishu_encrypt_key.get_secret_value()
                if settings.feishu_encrypt_key else None,
                verification_token=settings.feishu_verification_token.get_secret_value()
                if settings.feishu_verification_token else None)
        except Rejected as exc:
            return web.Response(status=400, text=str(exc)[:100])
        if (challenge := challenge_answer(event)) is not None:
            return web.json_response(challenge)
        if not self.inbox.ready:  # starting or stopping: Feishu delivers it again
            return web.Response(status=503, text="not ready")
        try:
            answer = await self.on_event(event)
        except Exception as exc:  # not stored, so not acknowledged: delivered again
            log.warning("could not store Feishu event: %r", exc)
            return web.Response(status=503, text="not stored")
        return web.json_response(answer or {})
