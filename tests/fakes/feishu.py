"""A fake Feishu Open Platform over real HTTP on 127.0.0.1 (a random port), recording every
call, for tests of the Feishu adapter and of `dangjian run` against it.

It serves what the bot uses of the Open API as Feishu answers it (the tenant token, bot info,
messages sent, replied and patched, image and file uploads, message resources, chats and their
paged members), with Feishu's failures on demand: a token that turns invalid (99991663), the
gateway's 429 (99991400 with `x-ogw-ratelimit-reset`), and the per-message limit on card updates
(5 a second, 230020, counted on an injectable clock).

It is also the event source: `deliver` POSTs an event to a bot's HTTP callback exactly as Feishu
does (schema 2.0 envelope, AES-256-CBC encryption, X-Lark-* signature headers), and `push`
sends one over the long connection lark-oapi's `ws.Client` opens (endpoint discovery at
/callback/ws/endpoint, then protobuf frames over a WebSocket: ping/pong, event frames and the
client's acknowledgement).

Served on the loop of whoever starts it (`async with FakeFeishu() as fake:`), or on a thread of
its own (`with FakeFeishu().in_thread() as fake:`) for synchronous tests and bot processes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from Crypto.Cipher import AES
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from fakes.server import Call, FakeServer

APP_ID = "cli_fake_app"
APP_SECRET = "fake-app-secret"
ENCRYPT_KEY = "fake-encrypt-key"
VERIFICATION_TOKEN = "fake-verification-token"
BOT_OPEN_ID = "ou_bot0000000000000000000000000001"
BOT_NAME = "党建助手"
TENANT_KEY = "fake_tenant"
TOKEN_LIFETIME = 7200  # seconds, as Feishu's tenant tokens
UPDATES_PER_SECOND = 5  # Feishu's limit on updates of one message
SEND_TYPES = {"text", "post", "interactive", "image", "file"}



@dataclass
class Chat:
    chat_id: str
    owner: str
    managers: list[str] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)  # (open_id, name)
    name: str = "党支部"
    mode: str = "group"  # or "p2p": a person's private chat with the bot


@dataclass
class Message:
    message_id: str
    chat_id: str  # a chat's id, or the user's open_id for a private message sent by open_id
    msg_type: str
    content: dict[str, Any]
    reply_to: str | None = None
    by_user: bool = False  # posted by a member (events), not by the bot
    updates: list[dict[str, Any]] = field(default_factory=list)  # each patched card in turn


def encrypt(plaintext: str, key: str = ENCRYPT_KEY) -> str:
    """Feishu's event encryption: AES-256-CBC with sha256(key), PKCS7, base64(iv + cipher)."""
    data = plaintext.encode()
    pad = AES.block_size - len(data) % AES.block_size
    iv = os.urandom(AES.block_size)
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(data + bytes([pad]) * pad)).decode()


def signature(timestamp: str, nonce: str, body: bytes, key: str = ENCRYPT_KEY) -> str:
    """X-Lark-Signature: sha256(timestamp + nonce + encrypt_key + body), hex."""
    return hashlib.sha256((timestamp + nonce + key).encode() + body).hexdigest()


class FakeFeishu(FakeServer):
    """The fake platform; `calls` records every request, `messages` what the bot posted."""

    name = "fake-feishu"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 encrypt_key: str | None = ENCRYPT_KEY,
                 verification_token: str = VERIFICATION_TOKEN,
                 ws_config: dict[str, int] | None = None) -> None:
        """`clock`: what the per-message update limit counts on; `encrypt_key`: None for
        plain (unencrypted, unsigned) event delivery; `ws_config`: the long connection's
        ClientConfig (reconnect and ping timing) handed to the client."""
        super().__init__()
        self.clock = clock
        self.encrypt_key = encrypt_key
        self.verification_token = verification_token
        self.ws_config = ws_config or {"ReconnectCount": 1, "ReconnectInterval": 1,
                                       "ReconnectNonce": 0, "PingInterval": 120}
        self.messages: dict[str, Message] = {}
        self.chats: dict[str, Chat] = {}
        self.images: dict[str, bytes] = {}
        self.files: dict[str, tuple[str, bytes]] = {}  # file_key -> (name, content)
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.tokens_die = False
        self._ids = itertools.count(1)
        self._sent_uuids: dict[str, str] = {}  # Feishu's de-duplication of sends
        self._updates: dict[str, deque[float]] = defaultdict(deque)
        self._rate_limited: list[float] = []  # reset seconds of the coming 429s
        self._faults: list[int] = []  # the coming IM calls' faults: a 5xx status, or 0 = drop
        # the long connection
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.pings = 0
        self.ws_connections = 0

    # -- set-up --------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The settings that point a bot at this fake."""
        return {"FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET,
                "FEISHU_DOMAIN": self.url, "FEISHU_ENCRYPT_KEY": self.encrypt_key or "",
                "FEISHU_VERIFICATION_TOKEN": self.verification_token}

    def add_chat(self, chat_id: str, owner: str, *, managers: list[str] | None = None,
                 members: list[tuple[str, str]] | None = None, name: str = "党支部") -> Chat:
        """A group; its owner and managers are members too unless `members` names them."""
        people = members if members is not None else [(owner, "群主")] + [
            (m, f"管理员{i}") for i, m in enumerate(managers or [], 1)]
        chat = Chat(chat_id, owner, list(managers or []), list(people), name)
        self.chats[chat_id] = chat
        return chat

    def routes(self) -> web.Application:
        app = web.Application(client_max_size=30 * 1024 * 1024, middlewares=[self._fault])
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_get("/open-apis/bot/v3/info", self._bot_info)
        app.router.add_post("/open-apis/im/v1/messages", self._create_message)
        app.router.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._reply)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        app.router.add_post("/open-apis/im/v1/images", self._upload_image)
        app.router.add_post("/open-apis/im/v1/files", self._upload_file)
        app.router.add_get("/open-apis/im/v1/messages/{message_id}/resources/{file_key}",
                           self._resource)
        app.router.add_get("/open-apis/im/v1/chats/{chat_id}", self._chat)
        app.router.add_get("/open-apis/im/v1/chats/{chat_id}/members", self._members)
        app.router.add_post("/callback/ws/endpoint", self._ws_endpoint)
        app.router.add_get("/ws", self._ws_session)
        return app

    # -- switches ------------------------------------------------------------------------------

    def expire_tokens(self, *, always: bool = False) -> None:
        """Every token issued so far turns invalid: the next call with one gets 99991663;
        `always`: so does every token issued from now on."""
        self.tokens.clear()
        self.tokens_die = always

    def rate_limit(self, count: int = 1, reset: float = 1.0) -> None:
        """The next `count` API calls get the gateway's 429 (99991400), `reset` seconds in
        `x-ogw-ratelimit-reset`."""
        self._rate_limited += [reset] * count

    def fail(self, count: int = 1, status: int = 502) -> None:
        """The next `count` IM calls get `status` from a proxy in front of Feishu, which did
        not act on them."""
        self._faults += [status] * count

    def drop(self, count: int = 1) -> None:
        """The next `count` IM calls are acted on, then their connection is cut before the
        answer: the client cannot tell whether Feishu acted."""
        self._faults += [0] * count

    @web.middleware
    async def _fault(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not self._faults or not request.path.startswith("/open-apis/im/"):
            return await handler(request)
        status = self._faults.pop(0)
        if status:
            call = await self._record(request)
            call.status = status
            return web.Response(status=status, text="<html>Bad Gateway</html>",
                                content_type="text/html")
        response = await handler(request)
        assert request.transport is not None
        request.transport.close()
        return response

    def receive_file(self, chat_id: str, name: str, content: bytes) -> tuple[str, str]:
        """A file a user posts: stored for download; (message_id, file_key)."""
        file_key = f"file_v3_{uuid.uuid4().hex[:20]}"
        self.files[file_key] = (name, content)
        message_id = self._new_id("om_")
        self.messages[message_id] = Message(message_id, chat_id, "file",
                                            {"file_key": file_key, "file_name": name},
                                            by_user=True)
        return message_id, file_key

    # -- queries -------------------------------------------------------------------------------

    def calls_to(self, method: str, path: str) -> list[Call]:
        """The calls of `method` to `path`, or to any path under it when it ends with "/"."""
        return [c for c in self.calls if c.method == method and (
            c.path == path or path.endswith("/") and c.path.startswith(path))]

    def sent(self, to: str | None = None) -> list[Message]:
        """Messages the bot posted (to `to`, a chat id or open_id), in order."""
        return [m for m in self.messages.values()
                if not m.by_user and (to is None or m.chat_id == to)]

    # -- the Open API --------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}{uuid.uuid4().hex[:16]}"

    def _answer(self, call: Call, code: int = 0, data: Any = None, *, status: int = 200,
                msg: str = "success", headers: dict[str, str] | None = None,
                **top: Any) -> web.Response:
        call.status, call.code = status, code
        payload: dict[str, Any] = {"code": code, "msg": msg, **top}
        if data is not None:
            payload["data"] = data
        return web.json_response(payload, status=status, headers=headers)

    def _refused(self, call: Call) -> web.Response | None:
        """Feishu's answer when the call is not let through: a 429, or a bad token."""
        if self._rate_limited:
            reset = self._rate_limited.pop(0)
            return self._answer(call, 99991400, status=429,
                                msg="request trigger frequency limit",
                                headers={"x-ogw-ratelimit-limit": "50",
                                         "x-ogw-ratelimit-reset": f"{reset:g}"})
        auth = call.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:]:
            return self._answer(call, 99991661, status=400, msg="Missing access token")
        if auth[7:] not in self.tokens:
            return self._answer(call, 99991663, status=400,
                                msg="Invalid access token for authorization.")
        return None

    async def _token(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        body = call.body or {}
        if body.get("app_id") != APP_ID or body.get("app_secret") != APP_SECRET:
            return self._answer(call, 10014, msg="app secret invalid")
        token = f"t-{uuid.uuid4().hex}"
        if not self.tokens_die:
            self.tokens.add(token)
        self.tokens_issued += 1
        # the token and its lifetime are top-level fields, as Feishu answers them
        return self._answer(call, 0, msg="ok", tenant_access_token=token,
                            expire=TOKEN_LIFETIME)

    async def _bot_info(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        return self._answer(call, 0, msg="ok", bot={
            "activate_status": 2, "app_name": BOT_NAME, "avatar_url": "",
            "ip_white_list": [], "open_id": BOT_OPEN_ID})

    def _post(self, call: Call, chat_id: str, reply_to: str | None = None) -> web.Response:
        body = call.body or {}
        msg_type = body.get("msg_type")
        if msg_type not in SEND_TYPES:
            return self._answer(call, 230001, status=400, msg=f"invalid msg_type {msg_type}")
        try:
            content = json.loads(body.get("content") or "")
        except ValueError:
            return self._answer(call, 230001, status=400, msg="content is not JSON")
        problem = self._invalid_content(msg_type, content)
        if problem:
            return self._answer(call, 230001, status=400, msg=problem)
        key = body.get("uuid")
        if key and key in self._sent_uuids:  # the same send again: no second message
            message = self.messages[self._sent_uuids[key]]
        else:
            message = Message(self._new_id("om_"), chat_id, msg_type, content, reply_to)
            self.messages[message.message_id] = message
            if key:
                self._sent_uuids[key] = message.message_id
        return self._answer(call, 0, {"message_id": message.message_id, "chat_id": chat_id,
                                      "msg_type": msg_type,
                                      "create_time": str(int(time.time() * 1000))})

    def _invalid_content(self, msg_type: str, content: Any) -> str | None:
        if not isinstance(content, dict):
            return "content must be a JSON object"
        if msg_type == "text" and not isinstance(content.get("text"), str):
            return "text content needs text"
        if msg_type == "image" and content.get("image_key") not in self.images:
            return "image_key not found"
        if msg_type == "file" and content.get("file_key") not in self.files:
            return "file_key not found"
        return None

    async def _create_message(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        id_type = call.query.get("receive_id_type")
        to = (call.body or {}).get("receive_id", "")
        if id_type not in ("chat_id", "open_id", "union_id", "user_id", "email"):
            return self._answer(call, 99992402, status=400, msg="field validation failed")
        if id_type == "chat_id" and to not in self.chats:
            return self._answer(call, 230002, status=400, msg="Bot/User can NOT be out of the chat.")
        return self._post(call, to)

    async def _reply(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        original = self.messages.get(request.match_info["message_id"])
        if original is None:
            return self._answer(call, 230011, status=400, msg="The message was withdrawn.")
        return self._post(call, original.chat_id, reply_to=original.message_id)

    async def _patch(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        message = self.messages.get(request.match_info["message_id"])
        if message is None or message.msg_type != "interactive":
            return self._answer(call, 230001, status=400, msg="not a card message")
        now = self.clock()
        recent = self._updates[message.message_id]
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= UPDATES_PER_SECOND:
            return self._answer(call, 230020, status=400,
                                msg="This operation triggers the frequency limit.")
        try:
            card = json.loads((call.body or {}).get("content") or "")
        except ValueError:
            return self._answer(call, 230001, status=400, msg="content is not JSON")
        recent.append(now)
        message.updates.append(card)
        message.content = card
        return self._answer(call, 0, {})

    async def _upload_image(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        _, image = (call.body or {}).get("image") or ("", b"")
        if not isinstance(image, bytes) or not image:
            return self._answer(call, 234001, status=400, msg="Invalid request param.")
        key = f"img_v3_{uuid.uuid4().hex[:20]}"
        self.images[key] = image
        return self._answer(call, 0, {"image_key": key})

    async def _upload_file(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        body = call.body or {}
        _, content = body.get("file") or ("", b"")
        name = body.get("file_name")
        if not isinstance(content, bytes) or not content or not name or not body.get("file_type"):
            return self._answer(call, 234001, status=400, msg="Invalid request param.")
        key = f"file_v3_{uuid.uuid4().hex[:20]}"
        self.files[key] = (name, content)
        return self._answer(call, 0, {"file_key": key})

    async def _resource(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        message = self.messages.get(request.match_info["message_id"])
        key, kind = request.match_info["file_key"], call.query.get("type")
        if message is None or key not in (message.content.get("file_key"),
                                          message.content.get("image_key")):
            return self._answer(call, 234003, status=400, msg="File not in msg.")
        if kind == "image" and key in self.images:
            name, content = "image.png", self.images[key]
        elif kind == "file" and key in self.files:
            name, content = self.files[key]
        else:
            return self._answer(call, 234003, status=400, msg="File not in msg.")
        call.status = 200
        return web.Response(body=content, content_type="application/octet-stream", headers={
            "Content-Disposition": f"attachment; filename=\"{quote(name)}\"; "
                                   f"filename*=UTF-8''{quote(name)}"})

    async def _chat(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        chat = self.chats.get(request.match_info["chat_id"])
        if chat is None:
            return self._answer(call, 232011, status=400, msg="chat not found")
        return self._answer(call, 0, {
            "name": chat.name, "chat_mode": chat.mode, "chat_type": "private",
            "owner_id_type": "open_id", "owner_id": chat.owner,
            "user_manager_id_list": chat.managers, "bot_manager_id_list": [],
            "user_count": str(len(chat.members)), "bot_count": "1", "tenant_key": TENANT_KEY})

    async def _members(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        chat = self.chats.get(request.match_info["chat_id"])
        if chat is None:
            return self._answer(call, 232011, status=400, msg="chat not found")
        size = min(int(call.query.get("page_size", "20")), 100)
        start = int(call.query.get("page_token") or 0)
        page = chat.members[start:start + size]
        more = start + size < len(chat.members)
        return self._answer(call, 0, {
            "items": [{"member_id_type": "open_id", "member_id": open_id, "name": name,
                       "tenant_key": TENANT_KEY} for open_id, name in page],
            "page_token": str(start + size) if more else "", "has_more": more,
            "member_total": len(chat.members)})

    # -- events over HTTP ----------------------------------------------------------------------

    def envelope(self, event_type: str, event: dict[str, Any]) -> dict[str, Any]:
        """A schema 2.0 event as Feishu sends it."""
        return {"schema": "2.0", "header": {
            "event_id": uuid.uuid4().hex, "event_type": event_type,
            "create_time": str(int(time.time() * 1000)), "token": self.verification_token,
            "app_id": APP_ID, "tenant_key": TENANT_KEY}, "event": event}

    def message_event(self, chat_id: str, sender: str, text: str, *, group: bool = True,
                      mention_bot: bool = False) -> dict[str, Any]:
        """im.message.receive_v1 for a text message; `mention_bot` puts an @ of the bot in
        front, as Feishu writes it (`@_user_1` in the text, the bot in `mentions`)."""
        mentions = []
        if mention_bot:
            text = f"@_user_1 {text}"
            mentions = [{"key": "@_user_1", "name": BOT_NAME, "tenant_key": TENANT_KEY,
                         "id": {"open_id": BOT_OPEN_ID, "union_id": "", "user_id": ""}}]
        return self._message_event(chat_id, sender, "text", {"text": text},
                                   "group" if group else "p2p", mentions)

    def file_event(self, chat_id: str, sender: str, name: str, content: bytes
                   ) -> dict[str, Any]:
        """im.message.receive_v1 for a file a user sends privately; the file is downloadable
        from this fake with the event's message_id and file_key."""
        message_id, file_key = self.receive_file(chat_id, name, content)
        return self._message_event(chat_id, sender, "file",
                                   {"file_key": file_key, "file_name": name}, "p2p", [],
                                   message_id)

    def _message_event(self, chat_id: str, sender: str, kind: str, content: dict[str, Any],
                       chat_type: str, mentions: list[dict[str, Any]],
                       message_id: str | None = None) -> dict[str, Any]:
        now = str(int(time.time() * 1000))
        message = {"message_id": message_id or self._new_id("om_"), "root_id": "",
                   "parent_id": "", "create_time": now, "update_time": now,
                   "chat_id": chat_id, "chat_type": chat_type, "message_type": kind,
                   "content": json.dumps(content, ensure_ascii=False)}
        if mentions:
            message["mentions"] = mentions
        self.messages.setdefault(message["message_id"], Message(
            message["message_id"], chat_id, kind, content, by_user=True))
        return self.envelope("im.message.receive_v1", {
            "sender": {"sender_id": {"open_id": sender, "union_id": "", "user_id": ""},
                       "sender_type": "user", "tenant_key": TENANT_KEY},
            "message": message})

    def card_action(self, message_id: str, chat_id: str, operator: str,
                    value: dict[str, Any]) -> dict[str, Any]:
        """card.action.trigger (schema 2.0): a tap on a card's button carrying `value`."""
        return self.envelope("card.action.trigger", {
            "operator": {"open_id": operator, "union_id": "", "user_id": "",
                         "tenant_key": TENANT_KEY},
            "token": f"c-{uuid.uuid4().hex}", "host": "im_message",
            "action": {"tag": "button", "value": value},
            "context": {"open_message_id": message_id, "open_chat_id": chat_id}})

    def bot_added(self, chat_id: str, operator: str, name: str = "党支部") -> dict[str, Any]:
        """im.chat.member.bot.added_v1: `operator` added the bot to a group."""
        return self.envelope("im.chat.member.bot.added_v1", {
            "chat_id": chat_id, "name": name, "external": False,
            "operator_tenant_key": TENANT_KEY,
            "operator_id": {"open_id": operator, "union_id": "", "user_id": ""}})

    def url_verification(self) -> dict[str, Any]:
        """The challenge Feishu POSTs when a callback URL is configured."""
        return {"challenge": uuid.uuid4().hex, "token": self.verification_token,
                "type": "url_verification"}

    def signed(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The body and headers Feishu would POST for `payload`: encrypted and signed when the
        fake has an encrypt key, plain JSON otherwise."""
        if not self.encrypt_key:
            return json.dumps(payload, ensure_ascii=False).encode(), {
                "Content-Type": "application/json"}
        body = json.dumps({"encrypt": encrypt(json.dumps(payload, ensure_ascii=False),
                                              self.encrypt_key)}).encode()
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex
        return body, {"Content-Type": "application/json", "X-Lark-Request-Timestamp": timestamp,
                      "X-Lark-Request-Nonce": nonce,
                      "X-Lark-Signature": signature(timestamp, nonce, body, self.encrypt_key)}

    async def deliver(self, url: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """POST `payload` to a bot's callback URL as Feishu does; (status, parsed answer)."""
        body, headers = self.signed(payload)
        async with aiohttp.ClientSession() as session, \
                session.post(url, data=body, headers=headers) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    # -- events over the long connection -------------------------------------------------------

    async def _ws_endpoint(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        body = call.body or {}
        if body.get("AppID") != APP_ID or body.get("AppSecret") != APP_SECRET:
            return self._answer(call, 403, msg="invalid app credentials")
        return self._answer(call, 0, {
            "URL": f"ws://127.0.0.1:{self.port}/ws?device_id=fake-device&service_id=7",
            "ClientConfig": self.ws_config})

    async def _ws_session(self, request: web.Request) -> web.WebSocketResponse:
        await self._record(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.ws_connections += 1
        self._ws_connected.set()
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    continue
                frame = Frame()
                frame.ParseFromString(msg.data)
                headers = {h.key: h.value for h in frame.headers}
                if frame.method == 0 and headers.get("type") == "ping":
                    self.pings += 1
                    await ws.send_bytes(_frame(0, frame.service, {"type": "pong"},
                                               json.dumps(self.ws_config).encode()))
                elif frame.method == 1 and headers.get("message_id") in self._acks:
                    ack = json.loads(frame.payload)
                    if ack.get("data"):
                        ack["data"] = json.loads(base64.b64decode(ack["data"]))
                    future = self._acks.pop(headers["message_id"])
                    if not future.done():
                        future.set_result(ack)
        finally:
            if self._ws is ws:
                self._ws = None
                self._ws_connected.clear()
        return ws

    async def push(self, payload: dict[str, Any], parts: int = 1) -> dict[str, Any]:
        """Send an event over the long connection (in `parts` frames, as Feishu splits a large
        one) and wait for the client's acknowledgement: {"code": 200, "data": what the handler
        answered (a card action's response)} or a 500."""
        await self.connected()
        assert self._ws is not None
        message_id = uuid.uuid4().hex
        ack: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[message_id] = ack
        data = json.dumps(payload, ensure_ascii=False).encode()
        size = -(-len(data) // parts)
        for seq in range(parts):
            await self._ws.send_bytes(_frame(1, 7, {
                "type": "event", "message_id": message_id, "trace_id": uuid.uuid4().hex,
                "sum": str(parts), "seq": str(seq)}, data[seq * size:(seq + 1) * size]))
        return await ack


def _frame(method: int, service: int, headers: dict[str, str], payload: bytes) -> bytes:
    """A long-connection frame (lark_oapi/ws/pb/pbbp2.proto): method 0 control, 1 data."""
    frame = Frame()
    frame.SeqID = 0
    frame.LogID = 0
    frame.service = service
    frame.method = method
    for key, value in headers.items():
        header = frame.headers.add()
        header.key, header.value = key, value
    frame.payload = payload
    return frame.SerializeToString()
