"""The bot's HTTP client for the Bot API: aiohttp in place of PTB's default httpx.

Under a storm of 签到 taps nearly half of the bot's CPU went into httpx answering callbacks, and
with updates handled concurrently httpcore's pool checks every idle connection with system calls
on each request. aiohttp's client does the same work at a fraction of the cost. The contract is
PTB's `BaseRequest`: status and body back, `TimedOut` and `NetworkError` for failures.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

CONNECT_SECONDS = 5.0
READ_SECONDS = 5.0
POOL_SECONDS = 1.0
"""PTB's own defaults: a connection within 5 s, an answer within 5 s after sending, and at most
1 s queued for a free connection."""


class NeverSent(TimedOut):
    """No connection could be had in time: the request did not leave the machine, so repeating
    it cannot make Telegram do anything twice."""


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a pool of `connections` keep-alive connections."""

    def __init__(self, connections: int) -> None:
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return READ_SECONDS

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Each timeout is seconds, None for none, or DEFAULT_NONE for ours. `write_timeout`
        has no aiohttp counterpart: a slow upload is bounded by the read timeout after it."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest used before initialize()")
        read = _given(read_timeout, READ_SECONDS)
        connect = _given(connect_timeout, CONNECT_SECONDS)
        pool = _given(pool_timeout, POOL_SECONDS)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_read=read, sock_connect=connect,
            connect=None if connect is None or pool is None else connect + pool,
        )
        try:
            async with self._session.request(method, url, data=_body(request_data),
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise NeverSent(f"no connection to the Bot API in time: {exc}") from exc
        except TimeoutError as exc:
            raise TimedOut(f"the Bot API did not answer in time: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _given(value: Any, default: float) -> float | None:
    return default if value is BaseRequest.DEFAULT_NONE else value  # type: ignore[no-any-return]


def _body(request_data: RequestData | None) -> aiohttp.FormData | None:
    """The parameters form-encoded, or multipart when files go with them (as httpx sends them)."""
    if request_data is None:
        return None
    form = aiohttp.FormData(request_data.json_parameters)
    for name, (filename, content, mime_type) in (request_data.multipart_data or {}).items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
