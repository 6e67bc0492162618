"""DingTalk inside `dangjian run`: robot messages and card taps over Stream mode (no public
URL), each stored in the inbox before it is acknowledged, handled once by the core whichever
replica receives it (and again after a crash, by the replica that takes it over)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.channels.dingtalk import DingTalkChannel
from bot.config import Settings
from bot.core import Core
from bot.dingtalk import stream_client
from bot.dingtalk.api import DingTalkApi, DingTalkError
from bot.inbox import StoredEvents, event_key
from bot.web import refused_as

log = logging.getLogger(__name__)


def sender_of(record: object) -> object:
    """Whose order a callback keeps: its sender's (a leave reason after its [请假] tap)."""
    data = (record.get("data") or {}) if isinstance(record, dict) else {}
    user = data.get("senderStaffId") or data.get("userId")
    return ("dingtalk", str(user)) if user else object()


def callback_number(record: dict[str, Any]) -> int:
    """The inbox's key of a stored callback: from its msgId (a robot message) or its frame id
    (a tap)."""
    return event_key("dingtalk", str(record.get("key", "")))


class DingTalkRunner:
    """One DingTalk app in this process: its channel in the core, its callbacks in the inbox."""

    name = "dingtalk"

    def __init__(self, core: Core, settings: Settings, worker: str) -> None:
        assert settings.dingtalk_client_id and settings.dingtalk_client_secret
        client = stream_client(settings.dingtalk_api_base_url)  # the SDK, on our API host
        self.core = core
        self.api = DingTalkApi(settings.dingtalk_client_id,
                               settings.dingtalk_client_secret.get_secret_value(),
                               settings.dingtalk_robot_code,
                               api=settings.dingtalk_api_base_url,
                               oapi=settings.dingtalk_oapi_base_url)
        self.channel = DingTalkChannel(self.api)
        core.add_channel(self.channel)
        self.inbox = StoredEvents(core.services.db, worker, "dingtalk", key=callback_number,
                                  sender=sender_of, handle=self._handle,
                                  running=settings.concurrent_updates)
        self.stream = client(self.api, self.on_callback)
        self._task: asyncio.Task[None] | None = None

    @property
    def routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]]:
        return []

    @property
    def ready(self) -> bool:
        return self.inbox.ready and self.stream.connected

    async def start(self) -> None:
        """Check the credentials (a refusal ends the start), take up stored callbacks, then
        connect."""
        with refused_as(DingTalkError, "钉钉拒绝了应用凭证或请求（{}），请核对 DINGTALK_CLIENT_ID、"
                        "DINGTALK_CLIENT_SECRET。 (DingTalk refused the app's credentials.)"):
            await self.api.access_token()
        await self.inbox.start()
        self._task = asyncio.create_task(self.stream.start(), name="dingtalk-stream")
        log.info("DingTalk running: Stream mode, robot %s", self.api.robot_code)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.inbox.stop()
        await self.channel.drain()
        await self.api.close()

    async def on_callback(self, topic: str, data: dict[str, Any], key: str) -> bool:
        """Store a callback (then it is acknowledged); False for a repeat, which is dropped."""
        record = {"topic": topic, "key": key, "data": data}
        return await self.inbox.receive_event(record)

    async def _handle(self, record: dict[str, Any]) -> None:
        event = self.channel.to_event(str(record.get("topic", "")), record.get("data") or {},
                                      str(record.get("key", "")))
        if event is None:
            return
        if event.kind == "message" and event.chat.kind == "group":
            # the message carried the sender's isAdmin flag: newer than the core's cached answer
            self.core.forget_admin(self.channel.platform, event.chat.id, event.sender.id)
        await self.core.handle(self.channel, event)
