"""A fake WeCom AI bot (智能机器人) long connection over a real WebSocket on 127.0.0.1 (a random
port), recording every frame, for tests of the WeCom adapter and of `dangjian run` against it.

It speaks the documented JSON frames: `aibot_subscribe` checked against the bot id and secret
(a wrong one answered with an errcode and the socket closed), `ping` answered, callbacks pushed
(`aibot_msg_callback`, `aibot_event_callback`; held while no bot is connected and delivered once
one subscribes), and the bot's `aibot_send_msg`, `aibot_respond_msg`, `aibot_respond_update_msg`
(accepted only under a tap's req_id, for that tap's card, within 5 s on the fake's clock) and
the media upload (init, chunks, finish) recorded and answered. Errcodes on demand: the
frequency limit (45009) for the next N frames, or any code.

Files are served over HTTP at /files/<id>, encrypted as WeCom encrypts them (AES-256-CBC with
the message's aeskey, IV its first 16 bytes, PKCS#7 padding to 32 bytes).

Served on the loop of whoever starts it (`async with FakeWeCom() as fake:`), or on a thread of
its own (`with FakeWeCom().in_thread() as fake:`) for synchronous tests and bot processes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from Crypto.Cipher import AES

from fakes.server import FakeServer

BOT_ID = "aib_fake_bot"
SECRET = "fake-bot-secret"
BAD_SECRET = 40001
RATE_LIMITED = 45009
WINDOW_CLOSED = 846608
"""The fake's answer to a card update outside its tap's window (or under no tap's req_id)."""
NOT_IN_CHAT = 93006
"""The fake's answer to a push to a user who never chatted with the bot."""
WINDOW = 5.0


@dataclass
class Frame:
    """One frame the bot sent (the fake answered it)."""

    cmd: str
    req_id: str
    body: dict[str, Any]
    errcode: int = 0


@dataclass
class Card:
    """A template card in a chat, as it stands after its updates."""

    chat: str
    task_id: str
    card: dict[str, Any]

    @property
    def text(self) -> str:
        return f"{self.card['main_title']['title']}\n{self.card.get('sub_title_text', '')}"

    def keys(self) -> dict[str, str]:
        return {b["text"]: b["key"] for b in self.card.get("button_list", [])}


def encrypt(data: bytes, aeskey: str) -> bytes:
    key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4))
    pad = 32 - len(data) % 32
    return AES.new(key, AES.MODE_CBC, iv=key[:16]).encrypt(data + bytes([pad]) * pad)


class FakeWeCom(FakeServer):
    """The fake platform: `frames` records what the bot sent, `sent[chat]` its messages
    (markdown text, or a `Card`), `cards` every card by task id as updated."""

    name = "fake-wecom"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 reachable: set[str] | None = None) -> None:
        """`reachable`: the users a push may go to privately (None: everyone)."""
        super().__init__()
        self.clock = clock
        self.reachable = reachable
        self.frames: list[Frame] = []
        self.sent: dict[str, list[str | Card]] = {}
        self.cards: dict[str, Card] = {}
        self.media: dict[str, tuple[str, str, bytes]] = {}  # media_id -> (type, name, data)
        self.files: dict[str, tuple[str, bytes]] = {}  # file id -> (name, encrypted bytes)
        self.pings = 0
        self.subscriptions = 0
        self.refused = 0
        self._ids = itertools.count(1)
        self.groups: set[str] = set()  # chat ids seen as groups
        self._taps: dict[str, tuple[str, float]] = {}  # req_id -> (task id, when)
        self._uploads: dict[str, dict[str, Any]] = {}
        self._errors: list[int] = []
        self._held: list[dict[str, Any]] = []
        self._subscribed = asyncio.Event()
        self._activity = asyncio.Event()

    # -- set-up --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def env(self) -> dict[str, str]:
        """The settings that point a bot at this fake."""
        return {"WECOM_BOT_ID": BOT_ID, "WECOM_BOT_SECRET": SECRET, "WECOM_WS_URL": self.url}

    def on_start(self) -> None:
        self._subscribed = asyncio.Event()
        self._activity = asyncio.Event()

    def routes(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ws", self._session)
        app.router.add_get("/files/{file_id}", self._file)
        return app

    # -- switches ------------------------------------------------------------------------------

    def rate_limit(self, count: int = 1) -> None:
        """The next `count` frames the bot sends (but pings) get the frequency limit, 45009."""
        self._errors += [RATE_LIMITED] * count

    def fail(self, code: int, count: int = 1) -> None:
        self._errors += [code] * count

    async def disconnect(self) -> None:
        """Close the bot's connection, as a network fault would; callbacks pushed from now
        are held until the bot subscribes again."""
        ws, self._ws = self._ws, None
        self._subscribed.clear()
        if ws is not None:
            await ws.close()

    # -- what the bot did ----------------------------------------------------------------------

    def texts(self, chat: str) -> list[str]:
        return [m.text if isinstance(m, Card) else m for m in self.sent.get(chat, [])]

    def of(self, cmd: str) -> list[Frame]:
        return [f for f in self.frames if f.cmd == cmd]

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def subscribed(self) -> None:
        """Until a bot is connected and subscribed."""
        await self._subscribed.wait()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Until `condition()` holds, looked at after each frame the fake receives and when a
        connection ends."""
        while not condition():
            self._activity.clear()
            await self._activity.wait()

    # -- callbacks -----------------------------------------------------------------------------

    def _body(self, chat: str, sender: str, group: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "msgid": f"msg{next(self._ids):06d}{os.urandom(3).hex()}", "aibotid": BOT_ID,
            "chattype": "group" if group else "single", "from": {"userid": sender},
            "create_time": int(time.time() * 1000)}
        if group:
            body["chatid"] = chat
            self.groups.add(chat)
        return body

    def text_message(self, chat: str, sender: str, text: str, *, group: bool = True,
                     quote: dict[str, Any] | None = None) -> dict[str, Any]:
        """A member's text: in a group it reaches the bot only @mentioned, the @ first;
        `quote`: the message it quotes (its body)."""
        body = self._body(chat, sender, group)
        body["msgtype"] = "text"
        body["text"] = {"content": f"@党建助手 {text}" if group else text}
        if quote is not None:
            kind = quote["msgtype"]
            body["quote"] = {"msgtype": kind, kind: quote[kind]}
        return body

    def file_message(self, chat: str, sender: str, name: str, content: bytes, *,
                     group: bool = True, kind: str = "file") -> dict[str, Any]:
        """A file (or image) message: its URL serves the file encrypted with the aeskey."""
        aeskey = base64.b64encode(os.urandom(32)).decode().rstrip("=")
        file_id = hashlib.sha256(os.urandom(8)).hexdigest()[:16]
        self.files[file_id] = (name, encrypt(content, aeskey))
        body = self._body(chat, sender, group)
        body["msgtype"] = kind
        body[kind] = {"url": f"http://127.0.0.1:{self.port}/files/{file_id}", "aeskey": aeskey}
        return body

    def tap(self, card: Card, sender: str, label: str) -> dict[str, Any]:
        """A member tapping a card's button."""
        body = self._body(card.chat, sender, card.chat in self.groups)
        body["msgtype"] = "event"
        body["event"] = {"eventtype": "template_card_event", "template_card_event": {
            "card_type": "button_interaction", "event_key": card.keys()[label],
            "task_id": card.task_id}}
        return body

    async def push(self, body: dict[str, Any], *, req_id: str | None = None) -> str:
        """Deliver a callback (held until a bot subscribes); its req_id. The same `req_id`
        and body again is WeCom delivering it twice."""
        cmd = "aibot_event_callback" if body.get("msgtype") == "event" else "aibot_msg_callback"
        rid = req_id or f"{cmd}_{next(self._ids)}_{os.urandom(4).hex()}"
        frame = {"cmd": cmd, "headers": {"req_id": rid}, "body": body}
        if self._ws is None or not self._subscribed.is_set():
            self._held.append(frame)
            return rid
        try:
            await self._deliver(self._ws, frame)
        except ConnectionError:  # the bot died, and the socket is not closed yet
            self._held.append(frame)
        return rid

    async def _deliver(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        """Send a callback; a tap's window opens as it goes."""
        body = frame["body"]
        if body.get("msgtype") == "event":
            task = (body.get("event") or {}).get("template_card_event", {}).get("task_id")
            self._taps[frame["headers"]["req_id"]] = (task, self.clock())
        await ws.send_str(json.dumps(frame, ensure_ascii=False))

    # -- the connection ------------------------------------------------------------------------

    async def _session(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                answer = await self._answer(ws, frame)
                self._activity.set()
                if answer is not None:
                    await ws.send_str(json.dumps(answer, ensure_ascii=False))
                if frame.get("cmd") == "aibot_subscribe" and answer and answer["errcode"]:
                    await ws.close()
        finally:
            if self._ws is ws:
                self._ws = None
                self._subscribed.clear()
            self._activity.set()
        return ws

    async def _answer(self, ws: web.WebSocketResponse, frame: dict[str, Any]
                      ) -> dict[str, Any] | None:
        cmd, body = frame.get("cmd", ""), frame.get("body") or {}
        rid = (frame.get("headers") or {}).get("req_id", "")

        def answer(code: int = 0, data: dict[str, Any] | None = None) -> dict[str, Any]:
            found: dict[str, Any] = {"headers": {"req_id": rid}, "errcode": code,
                                     "errmsg": "ok" if not code else f"error {code}"}
            if data is not None:
                found["body"] = data
            return found

        if cmd == "aibot_subscribe":
            if body.get("bot_id") != BOT_ID or body.get("secret") != SECRET:
                self.refused += 1
                return answer(BAD_SECRET)
            if self._ws is not None and self._ws is not ws:  # the newer connection wins
                old = self._ws
                with contextlib.suppress(ConnectionError):  # the old one may be dead already
                    await old.send_str(json.dumps({"cmd": "aibot_event_callback", "headers": {
                        "req_id": "disconnected"}, "body": {"msgtype": "event", "event": {
                            "eventtype": "disconnected_event"}}}))
                await old.close()
            self._ws = ws
            self.subscriptions += 1
            await ws.send_str(json.dumps(answer()))
            self._subscribed.set()
            held, self._held = self._held, []
            for callback in held:
                await self._deliver(ws, callback)
            return None
        if cmd == "ping":
            self.pings += 1
            return answer()
        recorded = Frame(cmd, rid, body)
        self.frames.append(recorded)
        if self._errors:
            recorded.errcode = self._errors.pop(0)
            return answer(recorded.errcode)
        recorded.errcode, data = self._act(cmd, rid, body)
        return answer(recorded.errcode, data)

    def _act(self, cmd: str, rid: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        if cmd == "aibot_send_msg":
            chat = body["chatid"]
            private = chat not in self.groups
            if private and self.reachable is not None and chat not in self.reachable:
                return NOT_IN_CHAT, None
            kind = body["msgtype"]
            if kind == "template_card":
                card = Card(chat, body["template_card"]["task_id"], body["template_card"])
                self.cards[card.task_id] = card
                self.sent.setdefault(chat, []).append(card)
            elif kind == "markdown":
                self.sent.setdefault(chat, []).append(body["markdown"]["content"])
            elif kind in ("image", "file"):
                media_id = body[kind]["media_id"]
                if media_id not in self.media:
                    return 40007, None  # invalid media_id
                self.sent.setdefault(chat, []).append(f"[{kind}:{self.media[media_id][1]}]")
            return 0, {"msgid": f"sent{next(self._ids)}"}
        if cmd == "aibot_respond_update_msg":
            tap = self._taps.get(rid)
            card = body.get("template_card") or {}
            if tap is None or tap[0] != card.get("task_id") or self.clock() - tap[1] > WINDOW:
                return WINDOW_CLOSED, None
            self.cards[tap[0]].card = card
            del self._taps[rid]  # one update per tap
            return 0, None
        if cmd == "aibot_upload_media_init":
            upload_id = f"up{next(self._ids)}"
            self._uploads[upload_id] = {**body, "chunks": {}}
            return 0, {"upload_id": upload_id}
        if cmd == "aibot_upload_media_chunk":
            upload = self._uploads[body["upload_id"]]
            upload["chunks"][body["chunk_index"]] = base64.b64decode(body["base64_data"])
            return 0, None
        if cmd == "aibot_upload_media_finish":
            upload = self._uploads.pop(body["upload_id"])
            data = b"".join(upload["chunks"][i] for i in range(upload["total_chunks"]))
            if hashlib.md5(data).hexdigest() != upload["md5"]:
                return 40009, None
            media_id = f"media{next(self._ids)}"
            self.media[media_id] = (upload["type"], upload["filename"], data)
            return 0, {"media_id": media_id, "type": upload["type"]}
        return 40008, None  # a command the fake does not know

    async def _file(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["file_id"])
        if found is None:
            return web.Response(status=404)
        name, data = found
        return web.Response(body=data, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
