"""Events over Feishu's long connection (FEISHU_MODE=ws): lark-oapi's `ws.Client` on a thread
of its own, each event handed to our loop as the same dict the HTTP callback gives.

Why a thread, and a loop put in the module's place: `ws.Client.start()` blocks for ever, and
it runs on `lark_oapi.ws.client.loop`, which the module takes at import with
`asyncio.get_event_loop()`. Imported under our running loop, that *is* our loop, and `start()`
from any thread then fails ("This event loop is already running"). So the thread makes a loop
of its own, sets it there, and builds the client on it (its cache starts a task on the current
loop when built).

An event's answer: card actions (`card.action.trigger`) get what `on_event` returns (a toast
or a card, within `answer_within` seconds; the SDK sends it back in its acknowledgement, which
it writes only after the handler returns, so taps are answered one after another); every other
event is acknowledged at once and handled on our loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as lark_ws

from bot.feishu.events import event_type

log = logging.getLogger(__name__)

CARD_ACTION = "card.action.trigger"
STOP_SECONDS = 5.0  # for closing the connection, then for the thread to end
EventHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class LongConnection:
    """One app's long connection, run on a daemon thread until `stop()`."""

    def __init__(self, app_id: str, app_secret: str, domain: str, on_event: EventHandler, *,
                 answer_within: float = 2.5) -> None:
        """`on_event(event)`: a coroutine run on the loop that calls `start()`; what it returns
        for a card action is Feishu's answer to the tap (e.g. `{"toast": {...}}`)."""
        self.app_id, self.app_secret, self.domain = app_id, app_secret, domain.rstrip("/")
        self.on_event = on_event
        self.answer_within = answer_within
        self.error: BaseException | None = None
        """Why the client gave up (rejected credentials), when it did."""
        self._main: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._built = threading.Event()
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
        with _quiet(lark.logger):  # the receive loop reports the close as an error
            await asyncio.wait_for(asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(client._disconnect(), loop)), STOP_SECONDS)
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(self.ended.wait, STOP_SECONDS)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        lark_ws.loop = loop  # see the module docstring
        self._loop = loop
        try:
            self._client = lark.ws.Client(self.app_id, self.app_secret, event_handler=self,
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

    def _do_without_validation(self, payload: bytes) -> Any:
        """Called by `ws.Client` on its thread for every event frame (in place of lark-oapi's
        dispatcher): the event to our loop; a card action's answer back."""
        event = json.loads(payload)
        assert self._main is not None
        future = asyncio.run_coroutine_threadsafe(self._handled(event), self._main)
        if event_type(event) != CARD_ACTION:
            return None
        try:
            return future.result(self.answer_within)
        except TimeoutError:
            log.warning("a card action took over %.1f s: answered without a toast",
                        self.answer_within)
            return None

    async def _handled(self, event: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return await self.on_event(event)
        except Exception:
            log.exception("Feishu event %s failed", (event.get("header") or {}).get("event_id"))
            return None


class _quiet:
    """Raise a logger's level for a while."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger, self.level = logger, logger.level

    def __enter__(self) -> None:
        self.logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)
