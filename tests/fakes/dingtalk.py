"""A fake DingTalk over real HTTP and WebSocket on 127.0.0.1 (a random port), recording every
call, for tests of the DingTalk adapter and of `dangjian run` against it.

It serves what the bot uses of DingTalk's server APIs as DingTalk answers them: the access
token, robot messages to groups and to people (a batchSend reaches each of its up to 20
userIds), StandardCard interactive cards and their in-place updates, the robot's file download
(downloadCode -> a download URL) and the old API's media upload; with DingTalk's failures on demand: tokens that turn invalid (401
InvalidAuthentication) and the QPS limit (403 Forbidden.AccessDenied.QpsLimitForApi).

It is also the Stream gateway: POST /v1.0/gateway/connections/open answers an endpoint and a
ticket, the WebSocket there carries CALLBACK frames in dingtalk-stream's JSON frame format
(`push`: a robot message on /v1.0/im/bot/messages/get, a card tap on
/v1.0/card/instances/callback) and records the client's acknowledgements.

Served on the loop of whoever starts it (`async with FakeDingTalk() as fake:`), or on a thread
of its own (`with FakeDingTalk().in_thread() as fake:`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from fakes.server import Call, FakeServer

CLIENT_ID = "dingfakeclient"
CLIENT_SECRET = "fake-client-secret"
ROBOT_CODE = "dingfakeclient"
CORP_ID = "dingcorpfake"
TOKEN_LIFETIME = 7200
MESSAGE_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"
SEND_TO_PEOPLE = "/v1.0/robot/oToMessages/batchSend"
SEND_KEYS = {"sampleText", "sampleMarkdown", "sampleImageMsg", "sampleFile", "sampleActionCard"}



@dataclass
class Message:
    """Something the bot posted: `kind` "sampleText" …, or "card" (StandardCard data)."""

    message_id: str
    chat: str  # an openConversationId, or a staffId for a one-to-one message
    kind: str
    content: dict[str, Any]
    updates: list[dict[str, Any]] = field(default_factory=list)


class FakeDingTalk(FakeServer):
    """The fake platform; `calls` records every request, `messages` what the bot posted."""

    name = "fake-dingtalk"

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, Message] = {}
        self.media: dict[str, tuple[str, str, bytes]] = {}  # media_id -> (type, name, content)
        self.files: dict[str, tuple[str, bytes]] = {}  # downloadCode -> (name, content)
        self.staff: set[str] = set()  # who one-to-one messages reach; empty: everyone
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.acks: dict[str, dict[str, Any]] = {}  # frame messageId -> the client's ack
        self.connections = 0
        self._ids = itertools.count(1)
        self._rate_limited: dict[str | None, int] = {}  # path (None: any) -> calls refused
        self._opened: asyncio.Condition | None = None
        self._waiting: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._tickets: set[str] = set()

    # -- set-up --------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The settings that point a bot at this fake (both API hosts are this server)."""
        return {"DINGTALK_CLIENT_ID": CLIENT_ID, "DINGTALK_CLIENT_SECRET": CLIENT_SECRET,
                "DINGTALK_ROBOT_CODE": ROBOT_CODE, "DINGTALK_API_BASE_URL": self.url,
                "DINGTALK_OAPI_BASE_URL": self.url}

    def routes(self) -> web.Application:
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_post("/v1.0/oauth2/accessToken", self._token)
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/connect", self._session)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._group_send)
        app.router.add_post(SEND_TO_PEOPLE, self._oto_send)
        app.router.add_post("/v1.0/im/v1.0/robot/interactiveCards/send", self._card_send)
        app.router.add_put("/v1.0/im/robots/interactiveCards", self._card_update)
        app.router.add_post("/v1.0/robot/messageFiles/download", self._download_url)
        app.router.add_get("/files/{code}", self._file)
        app.router.add_post("/media/upload", self._upload)
        return app

    # -- switches ------------------------------------------------------------------------------

    def rate_limit(self, count: int = 1, path: str | None = None) -> None:
        """The next `count` API calls (not the token's), or calls to `path` only, get
        DingTalk's QPS refusal."""
        self._rate_limited[path] = self._rate_limited.get(path, 0) + count

    def expire_tokens(self) -> None:
        """Every token issued so far turns invalid (401 InvalidAuthentication)."""
        self.tokens.clear()

    def add_file(self, name: str, content: bytes) -> str:
        """A file a member sends: downloadable with the downloadCode returned."""
        code = f"dc_{uuid.uuid4().hex}"
        self.files[code] = (name, content)
        return code

    async def drop_connection(self) -> None:
        """Close the Stream WebSocket from the server's side (the client connects again)."""
        if self._ws is not None:
            await self._ws.close()

    # -- queries -------------------------------------------------------------------------------

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def sent(self, to: str | None = None) -> list[Message]:
        """What the bot posted (to `to`: a conversation or a staffId), in order."""
        return [m for m in self.messages.values() if to is None or m.chat == to]

    # -- the APIs ------------------------------------------------------------------------------

    @staticmethod
    def _answer(call: Call, payload: dict[str, Any], status: int = 200) -> web.Response:
        call.status = status
        return web.json_response(payload, status=status)

    def _refused(self, call: Call, *, old: bool = False) -> web.Response | None:
        """DingTalk's answer when the call is not let through: the QPS limit, or a bad token."""
        limited = next((p for p in (call.path, None) if self._rate_limited.get(p)), False)
        if limited is not False:
            self._rate_limited[limited] -= 1
            if old:
                return self._answer(call, {"errcode": 90018, "errmsg": "当前企业调用该接口超过限流阈值"})
            return self._answer(call, {"code": "Forbidden.AccessDenied.QpsLimitForApi",
                                       "requestid": uuid.uuid4().hex,
                                       "message": "The request has exceeded the QPS limit."},
                                403)
        token = (call.query.get("access_token") if old
                 else call.headers.get("x-acs-dingtalk-access-token"))
        if token not in self.tokens:
            if old:
                return self._answer(call, {"errcode": 40014, "errmsg": "不合法的access_token"})
            return self._answer(call, {"code": "InvalidAuthentication",
                                       "message": "不合法的access_token"}, 401)
        return None

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}{uuid.uuid4().hex[:12]}"

    async def _token(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        body = call.body or {}
        if body.get("appKey") != CLIENT_ID or body.get("appSecret") != CLIENT_SECRET:
            return self._answer(call, {"code": "invalidClientIdOrSecret",
                                       "message": "无效的clientId或者clientSecret"}, 400)
        token = uuid.uuid4().hex
        self.tokens.add(token)
        self.tokens_issued += 1
        return self._answer(call, {"accessToken": token, "expireIn": TOKEN_LIFETIME})

    def _post(self, call: Call, chats: list[str], **answer: Any) -> web.Response:
        """The message posted to each of `chats` (a group, or the people of a batchSend), under
        one processQueryKey, as DingTalk answers it (each kept in `messages` under its own key:
        the processQueryKey for the first, `key:person` for the others)."""
        body = call.body or {}
        key = body.get("msgKey")
        if body.get("robotCode") != ROBOT_CODE or key not in SEND_KEYS:
            return self._answer(call, {"code": "invalidParameter", "message": "bad msgKey"}, 400)
        try:
            param = json.loads(body.get("msgParam") or "")
        except ValueError:
            return self._answer(call, {"code": "invalidParameter", "message": "msgParam"}, 400)
        if key == "sampleImageMsg" and param.get("photoURL") not in self.media:
            return self._answer(call, {"code": "invalidParameter", "message": "photoURL"}, 400)
        if key == "sampleFile" and param.get("mediaId") not in self.media:
            return self._answer(call, {"code": "invalidParameter", "message": "mediaId"}, 400)
        query_key = self._new_id("pqk") if chats else ""
        for n, chat in enumerate(chats):
            found = query_key if n == 0 else f"{query_key}:{chat}"
            self.messages[found] = Message(found, chat, key, param)
        return self._answer(call, {"processQueryKey": query_key, **answer})

    async def _group_send(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        return self._post(call, [(call.body or {}).get("openConversationId", "")])

    async def _oto_send(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        users = (call.body or {}).get("userIds") or []
        if not 1 <= len(users) <= 20:
            return self._answer(call, {"code": "invalidParameter", "message": "userIds"}, 400)
        invalid = [u for u in users if self.staff and u not in self.staff]
        # the others get it; those who are no staff of the organization are named
        return self._post(call, [u for u in users if u not in invalid],
                          **({"invalidStaffIdList": invalid} if invalid else {}))

    async def _card_send(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        body = call.body or {}
        if body.get("cardTemplateId") != "StandardCard" or not body.get("cardBizId"):
            return self._answer(call, {"code": "invalidParameter", "message": "card"}, 400)
        chat = body.get("openConversationId") or json.loads(
            body.get("singleChatReceiver") or "{}").get("userId", "")
        card_id = body["cardBizId"]
        if card_id not in self.messages:  # the same cardBizId again posts nothing new
            self.messages[card_id] = Message(card_id, chat, "card",
                                             json.loads(body.get("cardData") or "{}"))
        return self._answer(call, {"processQueryKey": card_id})

    async def _card_update(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        body = call.body or {}
        message = self.messages.get(body.get("cardBizId", ""))
        if message is None or message.kind != "card":
            return self._answer(call, {"code": "resource.not.found", "message": "card"}, 400)
        card = json.loads(body.get("cardData") or "{}")
        message.updates.append(card)
        message.content = card
        return self._answer(call, {"success": True})

    async def _download_url(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call)) is not None:
            return refused
        code = (call.body or {}).get("downloadCode", "")
        if code not in self.files:
            return self._answer(call, {"code": "resource.not.found", "message": "file"}, 400)
        return self._answer(call, {"downloadUrl": f"{self.url}/files/{code}"})

    async def _file(self, request: web.Request) -> web.Response:
        await self._record(request)
        name, content = self.files[request.match_info["code"]]
        return web.Response(body=content, content_type="application/octet-stream")

    async def _upload(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (refused := self._refused(call, old=True)) is not None:
            return refused
        media = (call.body or {}).get("media")
        kind = call.query.get("type")
        if kind not in ("image", "file", "voice", "video") or not isinstance(media, tuple) \
                or not media[1]:
            return self._answer(call, {"errcode": 40004, "errmsg": "不合法的媒体文件类型"})
        media_id = f"@{uuid.uuid4().hex}"
        self.media[media_id] = (kind, media[0] or "", media[1])
        return self._answer(call, {"errcode": 0, "errmsg": "ok", "media_id": media_id,
                                   "type": kind, "created_at": int(time.time() * 1000)})

    # -- the Stream gateway --------------------------------------------------------------------

    async def _open(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        body = call.body or {}
        if body.get("clientId") != CLIENT_ID or body.get("clientSecret") != CLIENT_SECRET:
            return self._answer(call, {"code": "invalidClientIdOrSecret",
                                       "message": "无效的clientId或者clientSecret"}, 400)
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return self._answer(call, {"endpoint": f"ws://127.0.0.1:{self.port}/connect",
                                   "ticket": ticket})

    async def _session(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=403, text="bad ticket")
        self._tickets.discard(request.query["ticket"])
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.connections += 1
        self._ws_connected.set()
        async with self._condition():
            self._condition().notify_all()
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                ack = json.loads(msg.data)
                frame_id = (ack.get("headers") or {}).get("messageId", "")
                self.acks[frame_id] = ack
                waiting = self._waiting.get(frame_id) or []
                if waiting:  # a frame delivered twice is acknowledged twice
                    future = waiting.pop(0)
                    if not future.done():
                        future.set_result(ack)
        finally:
            if self._ws is ws:
                self._ws = None
                self._ws_connected.clear()
        return ws

    async def opened(self, count: int) -> None:
        """Until `count` Stream connections have been opened in all."""
        async with self._condition():
            await self._condition().wait_for(lambda: self.connections >= count)

    def _condition(self) -> asyncio.Condition:
        if self._opened is None:  # made on the fake's own loop
            self._opened = asyncio.Condition()
        return self._opened

    async def push(self, topic: str, data: dict[str, Any], frame_id: str = "") -> dict[str, Any]:
        """Send a CALLBACK frame and wait for the client's acknowledgement (its `code`, and
        `data` as JSON text); `frame_id`: the frame's messageId (the same on a redelivery)."""
        await self.connected()
        assert self._ws is not None
        frame_id = frame_id or uuid.uuid4().hex
        ack: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(frame_id, []).append(ack)
        await self._ws.send_str(json.dumps({
            "specVersion": "1.0", "type": "CALLBACK",
            "headers": {"appId": CLIENT_ID, "connectionId": uuid.uuid4().hex,
                        "contentType": "application/json", "messageId": frame_id,
                        "time": str(int(time.time() * 1000)), "topic": topic},
            "data": json.dumps(data, ensure_ascii=False)}, ensure_ascii=False))
        return await ack

    async def system(self, topic: str, data: dict[str, Any] | None = None
                     ) -> dict[str, Any] | None:
        """A SYSTEM frame: `ping` (the client's acknowledgement returned) or `disconnect`
        (DingTalk asking the client to connect anew; nothing returned)."""
        await self.connected()
        assert self._ws is not None
        frame_id = uuid.uuid4().hex
        ack: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if topic == "ping":
            self._waiting.setdefault(frame_id, []).append(ack)
        await self._ws.send_str(json.dumps({
            "specVersion": "1.0", "type": "SYSTEM",
            "headers": {"contentType": "application/json", "messageId": frame_id,
                        "time": str(int(time.time() * 1000)), "topic": topic},
            "data": json.dumps(data or {})}))
        return await ack if topic == "ping" else None

    # -- what members do -----------------------------------------------------------------------

    def robot_message(self, chat: str | None, sender: str, text: str = "", *, nick: str = "",
                      is_admin: bool = False, at_bot: bool = True, msgtype: str = "text",
                      content: dict[str, Any] | None = None, title: str = "党支部"
                      ) -> dict[str, Any]:
        """A robot callback's data as DingTalk sends it: in the group `chat` (the bot only
        gets what @mentions it there), or privately when `chat` is None."""
        now = int(time.time() * 1000)
        data: dict[str, Any] = {
            "conversationId": chat or f"cid_p2p_{sender}", "chatbotCorpId": CORP_ID,
            "chatbotUserId": f"$:LWCP_v1:${ROBOT_CODE}", "msgId": f"msg{uuid.uuid4().hex}",
            "senderNick": nick or sender, "isAdmin": is_admin, "senderStaffId": sender,
            "sessionWebhookExpiredTime": now + 5400_000, "createAt": now,
            "senderCorpId": CORP_ID, "conversationType": "2" if chat else "1",
            "senderId": f"$:LWCP_v1:${sender}", "robotCode": ROBOT_CODE, "msgtype": msgtype,
            "sessionWebhook": f"{self.url}/robot/sendBySession?session={uuid.uuid4().hex}"}
        if chat:
            data["conversationTitle"] = title
            data["isInAtList"] = at_bot
        if msgtype == "text":
            data["text"] = {"content": f" {text}" if chat else text}
        else:
            data["content"] = content or {}
        return data

    def file_message(self, sender: str, name: str, content: bytes) -> dict[str, Any]:
        """A file a member sends privately; downloadable by its downloadCode."""
        code = self.add_file(name, content)
        return self.robot_message(None, sender, msgtype="file",
                                  content={"downloadCode": code, "fileName": name,
                                           "fileId": uuid.uuid4().hex, "spaceId": "1"})

    def tap(self, card_id: str, user: str, button: str) -> dict[str, Any]:
        """A card callback's data: `user` tapped the `request` button whose id is `button`."""
        message = self.messages[card_id]
        return {"corpId": CORP_ID, "type": "actionCallback", "userId": user,
                "outTrackId": card_id, "spaceType": "IM",
                "spaceId": message.chat,
                "content": json.dumps({"cardPrivateData": {"actionIds": [button],
                                                           "params": {}}}),
                "extension": "{}", "userIdType": 1}


def card_text(message: Message) -> str:
    """The markdown of a card, or a text message's content."""
    if message.kind == "card":
        return "\n".join(c.get("text", "") for c in message.content.get("contents", [])
                         if c.get("type") == "markdown")
    return str(message.content.get("content", ""))


def card_buttons(message: Message) -> dict[str, str]:
    """A card's buttons: label -> the id a tap sends back."""
    return {b["label"]["text"]: b["id"] for c in message.content.get("contents", [])
            if c.get("type") == "action" for b in c["actions"]}
