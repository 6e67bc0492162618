"""What every fake platform shares: an aiohttp server on 127.0.0.1 (a random port), served on
the loop of whoever starts it (`async with Fake() as fake:`) or on a thread and loop of its own
(`with Fake().in_thread() as fake:`) for synchronous tests and bot processes, and the one
WebSocket a bot keeps open to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
from aiohttp import web


@dataclass
class Call:
    """One request a fake answered (its effect, if any, happened)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or a multipart upload's fields (a file as (name, bytes))
    headers: dict[str, str]
    status: int = 200
    code: int = 0
    client_port: int = 0  # the caller's side of the connection: one per connection
    at: float = field(default_factory=time.monotonic)


class FakeServer:
    """A subclass gives its routes (`routes`) and what it resets on each start (`on_start`)."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: web.WebSocketResponse | None = None
        self._ws_connected = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self) -> web.Application:
        raise NotImplementedError

    def on_start(self) -> None:
        """Events and state bound to the loop the fake now runs on."""

    async def start(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._ws_connected = asyncio.Event()
        self.on_start()
        self._runner = web.AppRunner(self.routes(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[Self]:
        """Serve on a thread and loop of its own until the block ends."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    async def _record(self, request: web.Request) -> Call:
        """The request as a `Call`, kept in `calls`."""
        body: Any = None
        if request.content_type == "multipart/form-data":
            body = {}
            async for part in await request.multipart():
                if isinstance(part, aiohttp.BodyPartReader):
                    body[part.name] = ((part.filename, bytes(await part.read())) if part.filename
                                       else await part.text())
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        peer = request.transport.get_extra_info("peername") if request.transport else None
        call = Call(request.method, request.path, dict(request.query), body,
                    dict(request.headers), client_port=peer[1] if peer else 0)
        self.calls.append(call)
        return call

    async def connected(self) -> None:
        """Until the bot's connection (a long connection, a stream) is open."""
        await self._ws_connected.wait()

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the fake's loop (from a test's thread)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)
