"""The bot's HTTP client for the Bot API (aiohttp in place of PTB's default httpx), and the one
retry policy every Bot API call goes through.

Under a storm of 签到 taps nearly half of the bot's CPU went into httpx answering callbacks, and
with updates handled concurrently httpcore's pool checks every idle connection with system calls
on each request. aiohttp's client does the same work at a fraction of the cost. The contract is
PTB's `BaseRequest`: status and body back, `TelegramError`s for failures.

What a failure means is read from the type of what aiohttp raised, never from its message:

- `NotSent`: no connection could be had (refused, DNS, TLS handshake, none within the connect
  timeout). The request never left the machine: repeating it cannot make Telegram act twice.
- `ConnectionLost` (the connection broke after the request went out), `TimedOut` (no answer in
  time), `ServerError` (Telegram answered 5xx): Telegram may or may not have acted.
- `RetryAfter` (429): Telegram refused it under its flood limits; it did not act.

The policy serves every platform's client: another adapter (bot/feishu/api.py) raises the same
classes for the same failures, and `RateLimited` for its platform's rate-limit refusals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import aiohttp
import httpx
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.channels.base import read_bounded

log = logging.getLogger(__name__)

CONNECT_SECONDS = 5.0
READ_SECONDS = 5.0
POOL_SECONDS = 1.0
"""PTB's own defaults: a connection within 5 s, an answer within 5 s after sending, and at most
1 s queued for a free connection."""

PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before each repeat after a transient failure. A call gets the first RETRIES of them;
the long poll and the start-up wait for Telegram (bot/web.py) go on with the last until
stopped."""
RETRIES = 3
RATE_LIMIT_WAITS = 3
"""429s a call waits out (as long as each says) before its caller is told."""
ONCE_ONLY = ("send", "copy", "forward")
"""Prefixes of the methods that post a message: repeated after Telegram may have acted, a member
would get it twice. Everything else (reads, edits, answers to taps, settings, deletions) changes
nothing twice: at worst Telegram refuses the repeat (a tap already answered)."""
LONG_POLL = "getUpdates"

T = TypeVar("T")


class NotSent(NetworkError):
    """No connection to the Bot API could be had: the request did not leave the machine."""


class ConnectionLost(NetworkError):
    """The connection broke once the request was on its way: Telegram may have acted on it."""


class ServerError(NetworkError):
    """Telegram answered 5xx: it may have acted before failing."""


class RateLimited(Exception):
    """A platform other than Telegram refused a call under its rate limits (it did not act) and
    said, or its documentation says, when to come back: `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SendUncertain(TimedOut):
    """A message was posted and no answer says whether Telegram delivered it: not repeated.

    A TimedOut, so the error handler stays silent as for any send that may have arrived (a
    second reply would be the duplicate the rule exists to prevent)."""


async def exchange(client: httpx.AsyncClient, request: httpx.Request, platform: str,
                   limit: int | None = None) -> tuple[httpx.Response, bytes]:
    """One request of an httpx client (Feishu's, DingTalk's) and its body, a successful
    answer's read no further than `limit` (TooLarge); or the failure in this policy's terms."""
    try:
        response = await client.send(request, stream=True)
        try:
            if limit is not None and response.is_success:
                declared = response.headers.get("content-length")
                body = await read_bounded(response.aiter_bytes(), limit,
                                          declared=int(declared) if declared else None)
            else:
                body = await response.aread()
        finally:
            await response.aclose()
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise NotSent(f"no connection to {platform}: {type(exc).__name__}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise TimedOut(f"{platform} did not answer in time: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise ConnectionLost(f"connection lost: {type(exc).__name__}: {exc}") from exc
    return response, body


def once_only(endpoint: str) -> bool:
    """Whether repeating `endpoint` after Telegram may have acted would post a message twice."""
    return endpoint.startswith(ONCE_ONLY)


def seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RetryPolicy:
    """When a Bot API call is repeated, and how long after:

    - a 429 (`RetryAfter`, or another platform's `RateLimited`): after the `retry_after` it
      names, up to RATE_LIMIT_WAITS times;
    - a request that never left the machine (`NotSent`): RETRIES times, PAUSES apart;
    - a timeout, a 5xx or a dropped connection: RETRIES times for a method that changes nothing
      twice; for one that posts a message, never: it is reported (a warning and `on_uncertain`)
      and raised as `SendUncertain`;
    - the long poll (getUpdates) whatever the failure but a rejected token, until its caller
      stops it (an outage of any length is waited out);
    - anything else (400, 403, …): never.
    """

    def __init__(self, *, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 on_uncertain: Callable[[str], object] | None = None) -> None:
        """`sleep`: how a pause is waited (tests pass one that records or steps a clock);
        `on_uncertain(method)`: counts a send left uncertain."""
        self.sleep = sleep
        self.on_uncertain = on_uncertain

    async def run(self, endpoint: str, call: Callable[[], Awaitable[T]], chat: object = None
                  ) -> T:
        """`call()` (one request to `endpoint`, about `chat`) until it succeeds or the policy
        says to stop."""
        failures = waits = 0
        patient = endpoint == LONG_POLL
        while True:
            try:
                return await call()
            except (RetryAfter, RateLimited) as exc:
                if waits >= RATE_LIMIT_WAITS and not patient:
                    raise
                waits += 1
                pause, error = seconds(exc.retry_after), exc
            except InvalidToken:
                raise
            except TelegramError as exc:
                transient = isinstance(exc, (NotSent, ConnectionLost, TimedOut, ServerError))
                if transient and once_only(endpoint) and not isinstance(exc, NotSent):
                    raise self._uncertain(endpoint, chat, exc) from exc
                if not patient and (not transient or failures >= RETRIES):
                    raise
                pause, error = PAUSES[min(failures, len(PAUSES) - 1)], exc
                failures += 1
            log.warning("%s failed (%s: %s); retry %d in %.1f s", endpoint,
                        type(error).__name__, error, failures + waits, pause)
            await self.sleep(pause)

    def _uncertain(self, endpoint: str, chat: object, error: Exception) -> SendUncertain:
        log.warning("%s to chat %s may have been delivered (%s: %s): not repeated", endpoint,
                    chat, type(error).__name__, error)
        if self.on_uncertain is not None:
            self.on_uncertain(endpoint)
        return SendUncertain(f"{endpoint} may have been delivered: {error}")


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a pool of `connections` keep-alive connections; every request
    made under `policy`."""

    def __init__(self, connections: int, policy: RetryPolicy | None = None) -> None:
        self.connections = connections
        self.policy = policy or RetryPolicy()
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

    async def post(self, url: str, request_data: RequestData | None = None,
                   read_timeout: Any = BaseRequest.DEFAULT_NONE,
                   write_timeout: Any = BaseRequest.DEFAULT_NONE,
                   connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                   pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> Any:
        """A Bot API method call (the URL ends in its name), under the retry policy."""
        chat = request_data.parameters.get("chat_id") if request_data else None
        return await self.policy.run(url.rsplit("/", 1)[-1], partial(
            super().post, url, request_data, read_timeout=read_timeout,
            write_timeout=write_timeout, connect_timeout=connect_timeout,
            pool_timeout=pool_timeout), chat)

    async def retrieve(self, url: str, read_timeout: Any = BaseRequest.DEFAULT_NONE,
                       write_timeout: Any = BaseRequest.DEFAULT_NONE,
                       connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                       pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> bytes:
        """A file download, under the retry policy (a read: repeated on transient failures)."""
        return await self.policy.run("getFile", partial(
            super().retrieve, url, read_timeout=read_timeout, write_timeout=write_timeout,
            connect_timeout=connect_timeout, pool_timeout=pool_timeout))

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
        """One attempt. Each timeout is seconds, None for none, or DEFAULT_NONE for ours.
        `write_timeout` has no aiohttp counterpart: a slow upload is bounded by the read timeout
        after it."""
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
                status, body = response.status, await response.read()
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            # raised while a connection is sought (pool, DNS, TCP, TLS): nothing was written
            raise NotSent(f"no connection to the Bot API: {type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            raise TimedOut(f"the Bot API did not answer in time: {exc!r}") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise ConnectionLost(f"connection lost: {type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        if status >= 500:
            raise ServerError(f"the Bot API answered {status}: {body[:200]!r}")
        return status, body


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
