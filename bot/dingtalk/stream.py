"""Events over DingTalk's Stream mode: dingtalk-stream's client, frames and callback handlers,
with its connection loop replaced.

What 0.24.3's `DingTalkStreamClient.start()` does that we cannot have: it registers the
connection with a blocking `requests.post` (`open_connection`) on the event loop, and on any
failure logs and sleeps a fixed 3 or 10 s, for ever, with nothing outside able to tell that it is
not connected. Here the registration is awaited (bot/dingtalk/api.py, under the retry policy),
each failure is logged with the attempt's number and the pause before the next (PAUSES, growing
to 30 s), and `connected` says whether a connection is open now (the runner's `ready`, which
/readyz shows). Frames are read, routed to the handlers and acknowledged by the SDK's own
`route_message`; each frame in a task of its own, as the SDK does.

Import it through `bot.dingtalk.stream_client()`, which sets the SDK's API host first.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

import dingtalk_stream
import websockets
from dingtalk_stream.frames import AckMessage, CallbackMessage
from dingtalk_stream.version import VERSION_STRING

from bot.dingtalk.api import DingTalkApi
from bot.http import PAUSES

log = logging.getLogger(__name__)

Store = Callable[[str, dict[str, Any], str], Awaitable[bool]]
"""(topic, data, key) -> whether it was new; raises when it could not be stored."""


class Stored(dingtalk_stream.CallbackHandler):
    """Every callback (a robot message, a card tap) handed to `store` and acknowledged once it is
    stored: DingTalk delivers again what was not acknowledged."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        topic = message.headers.topic or ""
        data = message.data if isinstance(message.data, dict) else {}
        # a robot message's msgId is the same on every delivery; a tap has only the frame's id
        key = str(data.get("msgId") or message.headers.message_id or "")
        try:
            await self.store(topic, data, key)
        except Exception as exc:  # noqa: BLE001 - not acknowledged: DingTalk delivers it again
            log.warning("could not store DingTalk callback %s: %r", key, exc)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "not stored"
        return AckMessage.STATUS_OK, "OK" if topic == dingtalk_stream.ChatbotMessage.TOPIC else {}


class StreamClient(dingtalk_stream.DingTalkStreamClient):
    """One app's Stream connection for robot messages and card taps, run by `start()` until
    cancelled."""

    def __init__(self, api: DingTalkApi, store: Store, *,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """`sleep`: how the pause before a reconnect is waited (tests pass their own)."""
        super().__init__(dingtalk_stream.Credential(api.client_id, api.client_secret),
                         logger=log)
        self.api = api
        self.sleep = sleep
        self.connected = False
        self.reconnects = 0
        self._tasks: set[asyncio.Task[None]] = set()
        handler = Stored(store)
        self.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, handler)
        self.register_callback_handler(dingtalk_stream.CallbackHandler.TOPIC_CARD_CALLBACK,
                                       handler)

    async def start(self) -> None:
        """Connect, read frames, and connect again after any failure, for ever."""
        self.pre_start()
        failures = 0
        topics = [{"type": "CALLBACK", "topic": topic} for topic in self.callback_handler_map]
        while True:
            try:
                endpoint, ticket = await self.api.open_connection(
                    topics, ua=f"dingtalk-sdk-python/v{VERSION_STRING}-union", local_ip=await asyncio.to_thread(self.get_host_ip))
                async with websockets.connect(f"{endpoint}?ticket={quote_plus(ticket)}") as ws:
                    self.websocket, self.connected, failures = ws, True, 0
                    log.info("DingTalk Stream connected (reconnects so far: %d)",
                             self.reconnects)
                    await self._read(ws)
                log.warning("DingTalk Stream connection closed by the server")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported, then connected again
                log.warning("DingTalk Stream connection failed: %s: %s", type(exc).__name__, exc)
            finally:
                self.connected, self.websocket = False, None
            pause = PAUSES[min(failures, len(PAUSES) - 1)]
            failures += 1
            self.reconnects += 1
            log.warning("DingTalk Stream: reconnecting (attempt %d) in %.1f s", failures, pause)
            await self.sleep(pause)

    async def _read(self, ws: Any) -> None:
        keepalive = asyncio.create_task(self.keepalive(ws))
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    log.warning("DingTalk Stream sent a frame that is not JSON: %.100r", raw)
                    continue
                task = asyncio.create_task(self.background_task(frame))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            keepalive.cancel()
