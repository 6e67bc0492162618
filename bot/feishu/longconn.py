"""Events over Feishu's long connection (FEISHU_MODE=ws): lark-oapi's `ws.Client` on a thread
of its own, each event handed to our loop as the same dict the HTTP callback gives, and
acknowledged with what our handler returns once it has returned.

Why a thread, and a loop put in the module's place: `ws.Client.start()` blocks for ever, and
it runs on `lark_oapi.ws.client.loop`, which the module takes at import with
`asyncio.get_event_loop()`. Imported under our running loop, that *is* our loop, and `start()`
from any thread then fails ("This event loop is already running"). So the thread makes a loop
of its own, sets it there, and builds the client on it (its cache starts a task on the current
loop when built).

Why its data frames are handled here (`_Client`): the SDK calls its event handler
synchronously and writes the acknowledgement after it. A handler that waits for our loop (to
store the event before it is acknowledged, or for a tap's toast) would hold up the client's
loop, and every frame behind it, for that long: a burst of taps would be answered one at a
time. Here each frame's handling awaits our loop, and frames are handled side by side.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as lark_ws
from lark_oapi.core.json import JSON
from lark_oapi.ws.const import (
    HEADER_BIZ_RT,
    HEADER_MESSAGE_ID,
    HEADER_SEQ,
    HEADER_SUM,
    HEADER_TYPE,
)
from lark_oapi.ws.enum import MessageType
from lark_oapi.ws.model import Response
from lark_oapi.ws.pb.pbbp2_pb2 import Frame
from websockets.exceptions import ConnectionClosed

from bot.feishu.events import event_type

log = logging.getLogger(__name__)

CARD_ACTION = "card.action.trigger"
STOP_SECONDS = 5.0  # for closing the connection, then for the thread to end
EventHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class LongConnection:
    """One app's long connection, run on a daemon thread until `stop()`."""

    def __init__(self, app_id: str, app_secret: str, domain: str,
                 on_event: EventHandler) -> None:
        """`on_event(event)`: a coroutine run on the loop that calls `start()`; the event is
        acknowledged when it returns, with what it returns (a card action's answer, e.g.
        `{"toast": {...}}`, which Feishu wants within 3 s), or as failed (Feishu delivers it
        again) when it raises."""
        self.app_id, self.app_secret, self.domain = app_id, app_secret, domain.rstrip("/")
        self.on_event = on_event
        self.error: BaseException | None = None
        """Why the client gave up (rejected credentials), when it did."""
        self._main: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: _Client | None = None
        self._thread: threading.Thread | None = None
        self._built = threading.Event()
        self._stopping = False
        self.ended = threading.Event()
        """Set when the thread ends (stopped, or the client gave up)."""

    def start(self) -> None:
        """Connect on a thread of its own; returns at once (called on our running loop)."""
        self._main = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        self._thread.start()
        self._built.wait(10)

    async def stop(self) -> None:
        """Close the connection (no reconnecting) and end the thread. Awaited, not blocking:
        the close handshake may need our loop (a fake served on it)."""
        loop, client = self._loop, self._client
        if loop is None or client is None or self.ended.is_set():
            return
        client._auto_reconnect = False
        self._stopping = True
        with _quiet(lark.logger):  # the receive loop reports the close as an error
            await asyncio.wait_for(asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(client._disconnect(), loop)), STOP_SECONDS)
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(self.ended.wait, STOP_SECONDS)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._unhandled)
        lark_ws.loop = loop  # see the module docstring
        self._loop = loop
        try:
            self._client = _Client(self._handle, self.app_id, self.app_secret,
                                   domain=self.domain, log_level=lark.LogLevel.WARNING)
        finally:
            self._built.set()
        try:
            self._client.start()
        except RuntimeError:  # stop(): the loop stopped under run_until_complete
            pass
        except Exception as exc:  # noqa: BLE001 - the thread's end, reported once
            self.error = exc
            log.error("Feishu long connection gave up: %s: %s", type(exc).__name__, exc)
        finally:
            tasks = asyncio.all_tasks(loop)  # the client's ping loop and cache cron
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()
            self.ended.set()

    def _unhandled(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Failures of the client's own tasks, which nothing awaits: its receive loop ends with
        the connection's close when we stop it; anything else is reported in one line."""
        error = context.get("exception")
        if self._stopping and isinstance(error, ConnectionClosed):
            return
        log.warning("Feishu long connection: %s: %r", context.get("message"), error)

    async def _handle(self, payload: bytes) -> dict[str, Any] | None:
        """One event, on the client's loop: handled on ours, its answer back."""
        event = json.loads(payload)
        assert self._main is not None
        try:
            return await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(self.on_event(event), self._main))
        except Exception as exc:
            log.warning("Feishu event %s (%s) not handled: %s: %s",
                        (event.get("header") or {}).get("event_id"), event_type(event),
                        type(exc).__name__, exc)
            raise


class _Client(lark_ws.Client):
    """lark-oapi's long-connection client, its data frames handled without blocking its loop
    (see the module docstring); the rest (connecting, pings, reconnecting) is the SDK's."""

    def __init__(self, handle: Callable[[bytes], Awaitable[Any]], *args: Any,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handle = handle

    async def _handle_data_frame(self, frame: Frame) -> None:
        """As the SDK's, but the handler awaited: the payload (put together when it came in
        parts), and the acknowledgement written back on the same frame."""
        headers = {header.key: header.value for header in frame.headers}
        payload = frame.payload
        if int(headers.get(HEADER_SUM, "1")) > 1:
            payload = self._combine(headers[HEADER_MESSAGE_ID], int(headers[HEADER_SUM]),
                                    int(headers[HEADER_SEQ]), payload)
            if payload is None:
                return
        if headers.get(HEADER_TYPE) != MessageType.EVENT.value:
            return  # the SDK does not acknowledge other kinds either
        started = time.monotonic()
        response = Response(code=HTTPStatus.OK)
        try:
            result = await self._handle(payload)
            if result is not None:
                response.data = base64.b64encode(JSON.marshal(result).encode())
        except Exception:  # reported by the handler; failed, so Feishu delivers it again
            response = Response(code=HTTPStatus.INTERNAL_SERVER_ERROR)
        header = frame.headers.add()
        header.key, header.value = HEADER_BIZ_RT, str(int((time.monotonic() - started) * 1000))
        frame.payload = JSON.marshal(response).encode()
        await self._write_message(frame.SerializeToString())


class _quiet:
    """Raise a logger's level for a while."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger, self.level = logger, logger.level

    def __enter__(self) -> None:
        self.logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)
