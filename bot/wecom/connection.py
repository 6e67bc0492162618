"""WeCom's AI bot (智能机器人) long connection, spoken directly over an aiohttp WebSocket.

The protocol is JSON frames `{"cmd", "headers": {"req_id"}, "body"}`: we subscribe with the bot
id and secret (`aibot_subscribe`), keep the connection alive with `ping` every 30 s, receive
`aibot_msg_callback` and `aibot_event_callback` frames, and send `aibot_respond_update_msg` (a template card replaced, within 5 s of its tap, under the tap's
req_id), `aibot_send_msg` (a push to a chat) and the three-step media upload
(`aibot_upload_media_init` / `_chunk` / `_finish`). WeCom answers each frame we send with one
carrying the same req_id and an `errcode`. Every message goes as a push, replies too:
`aibot_respond_msg` answers one callback's req_id (made for streamed answers), while a push
serves the scheduler's notices and a callback taken up after a restart alike.

Why not the official SDK (wecom-aibot-python-sdk 1.0.2, WecomTeam): it is asyncio, but an
answer's errcode reaches the caller only inside a RuntimeError's message (so the one retry policy
could not tell a rate limit from a refusal without parsing text); a refused subscription leaves
it looking connected; its reconnect loop gives up after ten attempts with an event nobody waits
on; it has no media upload; and it brings websockets, pyee, cryptography and certifi for what
aiohttp (already ours) does. The frames here are the SDK's and the documentation's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from telegram.error import TimedOut

from bot.channels.base import read_bounded
from bot.http import (
    CONNECT_SECONDS,
    ConnectionLost,
    NotSent,
    RateLimited,
    RetryPolicy,
    ServerError,
)

log = logging.getLogger(__name__)

SUBSCRIBE, PING = "aibot_subscribe", "ping"
MESSAGE, EVENT = "aibot_msg_callback", "aibot_event_callback"
UPDATE, SEND = "aibot_respond_update_msg", "aibot_send_msg"
UPLOAD_INIT, UPLOAD_CHUNK, UPLOAD_FINISH = (
    "aibot_upload_media_init", "aibot_upload_media_chunk", "aibot_upload_media_finish")
CALLBACKS = (MESSAGE, EVENT)
ENDPOINTS = {SEND: "send_msg", UPDATE: "update_card"}
"""The retry policy's names for our frames: a push is posted once (bot/http.py)."""

HEARTBEAT_SECONDS = 30.0
MISSED_PONGS = 2
"""Pings left unanswered before the connection is taken for dead and opened again."""
ANSWER_SECONDS = 5.0
RECONNECT_PAUSES = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
CHUNK_BYTES = 512 * 1024  # before base64, WeCom's largest upload chunk
MOST_CHUNKS = 100
RATE_LIMIT_CODES = {45009, 45033, 846607}
"""WeCom's "API call over its frequency limit", "too many concurrent calls", and the AI bot's
per-chat message limit: come back after a second."""
RATE_LIMIT_PAUSE = 1.0
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS, sock_read=30)
FrameHandler = Callable[[dict[str, Any]], Awaitable[None]]


class WeComError(Exception):
    """WeCom refused a frame (errcode not 0, and not a rate limit)."""

    def __init__(self, cmd: str, code: int, message: str) -> None:
        super().__init__(f"{cmd}: errcode {code}: {message}")
        self.code = code


class Rejected(WeComError):
    """The subscription was refused: wrong bot id or secret. Not retried."""


class Displaced(Exception):
    """WeCom gave this bot's connection to a newer one (`disconnected_event`)."""


def displaced(frame: dict[str, Any]) -> bool:
    """Whether WeCom says a newer connection took this one's place."""
    event = (frame.get("body") or {}).get("event") or {}
    return frame.get("cmd") == EVENT and event.get("eventtype") == "disconnected_event"


def req_id(prefix: str) -> str:
    """A new request id, unique enough to correlate the answer (the SDK's shape)."""
    return f"{prefix}_{int(time.time() * 1000)}_{os.urandom(4).hex()}"


class LongConnection:
    """One AI bot's connection, opened again whenever it drops, until `stop()`.

    `on_frame(frame)` runs for every callback frame, each started in order of arrival without
    waiting for the one before; it should only store the frame (the runner's inbox)."""

    def __init__(self, bot_id: str, secret: str, url: str, on_frame: FrameHandler, *,
                 policy: RetryPolicy | None = None, heartbeat: float = HEARTBEAT_SECONDS,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.bot_id, self.secret, self.url = bot_id, secret, url
        self.on_frame = on_frame
        self.policy = policy or RetryPolicy()
        self.heartbeat = heartbeat
        self.sleep = sleep
        self.subscribed = asyncio.Event()
        """Set while a connection is open and subscribed (readiness)."""
        self.error: Exception | None = None
        """Why the connection gave up (its credentials refused, or another connection took
        its place), when it did."""
        self.reconnects = 0
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._missed = 0  # pings unanswered
        self._taking: set[asyncio.Task[None]] = set()  # callbacks being stored

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def start(self) -> None:
        """Connect and subscribe; raises `Rejected` when WeCom refuses the credentials, else
        returns once subscribed or after the first attempt failed (reconnecting goes on)."""
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name="wecom-ws")
        await self._first

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    # --- sending -------------------------------------------------------------------------

    async def request(self, cmd: str, body: dict[str, Any], *, request_id: str | None = None,
                      about: object = None) -> dict[str, Any]:
        """Send one frame under the retry policy and return WeCom's answer (errcode 0)."""
        rid = request_id or req_id(cmd)
        return await self.policy.run(ENDPOINTS.get(cmd, cmd),
                                     lambda: self._once(cmd, rid, body), about)

    async def _once(self, cmd: str, rid: str, body: dict[str, Any]) -> dict[str, Any]:
        ws = self._ws
        if ws is None or ws.closed or not self.subscribed.is_set():
            raise NotSent("the WeCom long connection is not open")
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = answer
        try:
            try:
                await ws.send_str(json.dumps({"cmd": cmd, "headers": {"req_id": rid},
                                              "body": body}, ensure_ascii=False))
            except (ConnectionError, aiohttp.ClientError) as exc:
                raise ConnectionLost(f"{cmd}: {type(exc).__name__}: {exc}") from exc
            try:
                frame = await asyncio.wait_for(answer, ANSWER_SECONDS)
            except TimeoutError as exc:
                raise TimedOut(f"{cmd}: WeCom did not answer in {ANSWER_SECONDS:.0f} s") from exc
        finally:
            self._waiting.pop(rid, None)
        return checked(cmd, frame)

    async def upload(self, kind: str, filename: str, data: bytes) -> str:
        """A temporary media file uploaded in chunks over the connection; its media_id."""
        chunks = max(1, math.ceil(len(data) / CHUNK_BYTES))
        if chunks > MOST_CHUNKS:
            raise ValueError(f"{filename}: {len(data)} bytes is over WeCom's upload limit")
        init = await self.request(UPLOAD_INIT, {
            "type": kind, "filename": filename, "total_size": len(data),
            "total_chunks": chunks, "md5": hashlib.md5(data).hexdigest()})
        upload_id = (init.get("body") or {}).get("upload_id")
        for index in range(chunks):
            piece = data[index * CHUNK_BYTES:(index + 1) * CHUNK_BYTES]
            await self.request(UPLOAD_CHUNK, {"upload_id": upload_id, "chunk_index": index,
                                              "base64_data": base64.b64encode(piece).decode()})
        finish = await self.request(UPLOAD_FINISH, {"upload_id": upload_id})
        return str((finish.get("body") or {})["media_id"])

    async def download(self, url: str, limit: int) -> tuple[bytes, str | None]:
        """A callback's file as WeCom serves it (still encrypted) and the name its
        Content-Disposition gives, under the retry policy (a read: repeated when transient);
        read no further than `limit` bytes (TooLarge, with the name)."""

        async def once() -> tuple[bytes, str | None]:
            try:
                async with self.session.get(url, timeout=DOWNLOAD_TIMEOUT) as response:
                    if response.status >= 500:
                        raise ServerError(f"download: WeCom answered {response.status}")
                    if response.status != 200:
                        raise WeComError("download", response.status, response.reason or "")
                    disposition = response.content_disposition
                    name = disposition.filename if disposition is not None else None
                    return await read_bounded(response.content.iter_any(), limit,
                                              declared=response.content_length, name=name), name
            except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
                raise NotSent(f"download: {type(exc).__name__}: {exc}") from exc
            except TimeoutError as exc:
                raise TimedOut(f"download: no answer in time: {exc!r}") from exc
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                raise ConnectionLost(f"download: {type(exc).__name__}: {exc}") from exc

        return await self.policy.run("download", once)

    # --- the connection ------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._connect_once()
                failures = 0
                if isinstance(self.error, Displaced):
                    return  # taking it back would only displace the other in turn
            except Rejected as exc:
                self.error = exc
                log.error("WeCom refused the AI bot's credentials: %s", exc)
                self._settle_first(exc)
                return
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("WeCom long connection failed: %s: %s", type(exc).__name__, exc)
            self._settle_first()
            pause = RECONNECT_PAUSES[min(failures, len(RECONNECT_PAUSES) - 1)]
            failures += 1
            self.reconnects += 1
            log.warning("WeCom long connection closed; reconnecting in %.0f s (attempt %d)",
                        pause, failures)
            await self.sleep(pause)

    async def _connect_once(self) -> None:
        async with self.session.ws_connect(self.url, heartbeat=None, autoping=True) as ws:
            self._ws = ws
            try:
                await self._subscribe(ws)
                log.info("WeCom long connection open and subscribed: bot %s", self.bot_id)
                self._settle_first()
                pinging = asyncio.create_task(self._ping(ws))
                try:
                    await self._receive(ws)
                finally:
                    pinging.cancel()
            finally:
                self.subscribed.clear()
                self._ws = None
                for waiting in self._waiting.values():
                    if not waiting.done():
                        waiting.set_exception(ConnectionLost("the WeCom connection closed"))

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        rid = req_id(SUBSCRIBE)
        await ws.send_str(json.dumps({"cmd": SUBSCRIBE, "headers": {"req_id": rid},
                                      "body": {"bot_id": self.bot_id, "secret": self.secret}}))
        message = await ws.receive(ANSWER_SECONDS)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise aiohttp.ClientError(f"no answer to the subscription ({message.type.name})")
        frame = json.loads(message.data)
        if frame.get("errcode", 0) != 0:
            raise Rejected(SUBSCRIBE, int(frame["errcode"]), str(frame.get("errmsg", "")))
        self.subscribed.set()

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """A ping every `heartbeat` seconds; MISSED_PONGS unanswered close the connection."""
        self._missed = 0
        while True:
            await self.sleep(self.heartbeat)
            if self._missed >= MISSED_PONGS:
                log.warning("WeCom answered no ping for %d beats: reconnecting", self._missed)
                await ws.close()
                return
            self._missed += 1
            await ws.send_str(json.dumps({"cmd": PING, "headers": {"req_id": req_id(PING)}}))

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(message.data)
            except ValueError:
                log.warning("WeCom sent a frame that is not JSON: %r", message.data[:200])
                continue
            if displaced(frame):
                self.error = Displaced("another connection took this bot's place")
                log.error("WeCom moved this AI bot to another connection (another process with "
                          "the same WECOM_BOT_ID): this process no longer serves WeCom")
                await ws.close()
                return
            if frame.get("cmd") in CALLBACKS:
                task = asyncio.create_task(self._take(frame))  # started in order of arrival
                self._taking.add(task)
                task.add_done_callback(self._taking.discard)
                continue
            rid = str((frame.get("headers") or {}).get("req_id", ""))
            if rid.startswith(PING):
                self._missed = 0
                continue
            waiting = self._waiting.get(rid)
            if waiting is not None and not waiting.done():
                waiting.set_result(frame)

    async def _take(self, frame: dict[str, Any]) -> None:
        """One callback to `on_frame`, beside the others: the socket is read on at once (a
        tap's 5 s start when WeCom sends it) and a storm's callbacks are stored together."""
        try:
            await self.on_frame(frame)
        except Exception:  # not stored: WeCom's next delivery, if any, is handled
            log.exception("could not take WeCom callback %s", frame.get("headers"))

    def _settle_first(self, error: Exception | None = None) -> None:
        if self._first is not None and not self._first.done():
            if error is None:
                self._first.set_result(None)
            else:
                self._first.set_exception(error)


def checked(cmd: str, frame: dict[str, Any]) -> dict[str, Any]:
    """`frame` if WeCom did what was asked; else its refusal as the retry policy's exception."""
    code = int(frame.get("errcode") or 0)
    if code in RATE_LIMIT_CODES:
        raise RateLimited(f"{cmd}: errcode {code}: {frame.get('errmsg', '')}", RATE_LIMIT_PAUSE)
    if code != 0:
        raise WeComError(cmd, code, str(frame.get("errmsg", "")))
    return frame
