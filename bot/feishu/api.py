"""The bot's client for the Feishu Open API, used from asyncio: lark-oapi's request builders and
response models, sent over one pooled `httpx.AsyncClient` of ours.

Not through the SDK's own async calls (`acreate`, `aget`, …), for what lark-oapi 1.7.5 does in
them:

- each fetches the tenant token with a blocking `requests` call
  (`TokenManager.get_self_tenant_token`), which stalls the event loop (and deadlocks a fake
  served from the same loop). Here the token is fetched over our own client, cached until
  shortly before it expires, sent with every request, and fetched again once when Feishu calls
  it invalid (99991663);
- each opens a new `httpx.AsyncClient`, with a new SSL context and connection: about 30 ms of
  CPU per call, even to a local fake;
- its download returns `file_name=None` (the async transport lowercases headers). `download`
  returns bytes only: callers take the name from the message event.

Every call goes through the project's one retry policy (bot/http.py): rate limits (HTTP 429 or
code 99991400, after `x-ogw-ratelimit-reset`; 230020, Feishu's per-message and per-chat update and
send limits) are waited out, transient failures repeated. Repeating a send is safe: each one
carries a `uuid`, and Feishu posts at most one message per uuid within an hour.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import httpx
import lark_oapi as lark
from lark_oapi.api.auth.v3 import (
    InternalTenantAccessTokenRequest,
    InternalTenantAccessTokenRequestBody,
)
from lark_oapi.api.im.v1 import (
    CreateFileRequest,
    CreateFileRequestBody,
    CreateFileResponse,
    CreateImageRequest,
    CreateImageRequestBody,
    CreateImageResponse,
    CreateMessageRequest,
    CreateMessageRequestBody,
    CreateMessageResponse,
    GetChatMembersRequest,
    GetChatMembersResponse,
    GetChatRequest,
    GetChatResponse,
    GetMessageResourceRequest,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
    ReplyMessageResponse,
)
from lark_oapi.core.http.transport import _build_url
from lark_oapi.core.json import JSON
from lark_oapi.core.model import BaseRequest, BaseResponse, RawResponse
from lark_oapi.core.utils import Files

from bot.http import CONNECT_SECONDS, RateLimited, RetryPolicy, ServerError, exchange

log = logging.getLogger(__name__)

STALE_TOKEN = 99991663
"""Feishu's "invalid access token": the cached tenant token was revoked or expired early."""
RATE_LIMITED = 99991400
"""The gateway's frequency limit (with HTTP 429 and `x-ogw-ratelimit-reset`)."""
TOO_FREQUENT = 230020
"""The IM limits per message (5 updates a second) and per chat: come back after a second."""
RESET_HEADER = "x-ogw-ratelimit-reset"
TOKEN_MARGIN = 300.0
"""Seconds before its expiry a cached token is replaced (Feishu issues a new one in the last
30 minutes of the old one's 2 hours)."""
MEMBERS_PAGE = 100  # the largest page the members API gives
TIMEOUT = httpx.Timeout(30.0, connect=CONNECT_SECONDS)  # 30 s: lark-oapi's own, for uploads
FILE_TYPES = {".pdf": "pdf", ".doc": "doc", ".docx": "doc", ".xls": "xls", ".xlsx": "xls",
              ".ppt": "ppt", ".pptx": "ppt", ".mp4": "mp4", ".opus": "opus"}
"""Feishu's upload file_type by extension; anything else is a "stream"."""


class FeishuError(Exception):
    """Feishu refused a call (a non-zero code that is no rate limit): not repeated."""

    def __init__(self, endpoint: str, code: int | None, msg: str | None) -> None:
        super().__init__(f"{endpoint}: code {code}: {msg}")
        self.code = code


@dataclass(frozen=True)
class BotInfo:
    open_id: str
    name: str


def receive_id_type(receive_id: str) -> str:
    """How Feishu is to read a recipient id, from its documented prefix: `ou_` a user's open_id,
    `on_` a union_id, anything else (`oc_`) a chat."""
    if receive_id.startswith("ou_"):
        return "open_id"
    if receive_id.startswith("on_"):
        return "union_id"
    return "chat_id"


def file_type(name: str) -> str:
    return FILE_TYPES.get(PurePath(name).suffix.lower(), "stream")


class FeishuApi:
    """One app's calls to the Open API; the tenant token is shared by all of them."""

    def __init__(self, app_id: str, app_secret: str, domain: str = lark.FEISHU_DOMAIN, *,
                 policy: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`clock`: when the cached token expires (tests pass a controllable one)."""
        self.app_id = app_id
        self.app_secret = app_secret
        self.domain = domain.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self._http = httpx.AsyncClient(timeout=TIMEOUT)
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    # -- messages ------------------------------------------------------------------------------

    async def send_text(self, to: str, text: str, *, dedup_key: str | None = None) -> str:
        """Post `text` to a chat (`oc_…`) or a user (`ou_…`); the new message's id."""
        return await self._send(to, "text", {"text": text}, dedup_key)

    async def send_card(self, to: str, card: dict[str, Any], *,
                        dedup_key: str | None = None) -> str:
        """Post an interactive card (Feishu's card JSON); the new message's id."""
        return await self._send(to, "interactive", card, dedup_key)

    async def send_image(self, to: str, image_key: str, *, dedup_key: str | None = None) -> str:
        return await self._send(to, "image", {"image_key": image_key}, dedup_key)

    async def send_file(self, to: str, file_key: str, *, dedup_key: str | None = None) -> str:
        return await self._send(to, "file", {"file_key": file_key}, dedup_key)

    async def reply_text(self, message_id: str, text: str, *,
                         dedup_key: str | None = None) -> str:
        """Answer the message `message_id` in its chat, quoting it; the new message's id."""
        body = (ReplyMessageRequestBody.builder().msg_type("text")
                .content(json.dumps({"text": text}, ensure_ascii=False))
                .uuid(dedup_key or uuid.uuid4().hex).build())
        response = await self._call(
            "im.message.reply", ReplyMessageRequest.builder().message_id(message_id)
            .request_body(body).build(), ReplyMessageResponse, message_id)
        return str(response.data.message_id)

    async def update_card(self, message_id: str, card: dict[str, Any]) -> None:
        """Replace the card of the message `message_id` (Feishu allows 5 updates a second per
        message; beyond, the policy waits)."""
        body = PatchMessageRequestBody.builder().content(
            json.dumps(card, ensure_ascii=False)).build()
        await self._call("im.message.patch", PatchMessageRequest.builder()
                         .message_id(message_id).request_body(body).build(), about=message_id)

    async def _send(self, to: str, msg_type: str, content: dict[str, Any],
                    dedup_key: str | None) -> str:
        body = (CreateMessageRequestBody.builder().receive_id(to).msg_type(msg_type)
                .content(json.dumps(content, ensure_ascii=False))
                .uuid(dedup_key or uuid.uuid4().hex).build())
        response = await self._call(
            "im.message.create", CreateMessageRequest.builder()
            .receive_id_type(receive_id_type(to)).request_body(body).build(),
            CreateMessageResponse, to)
        return str(response.data.message_id)

    # -- files ---------------------------------------------------------------------------------

    async def upload_image(self, data: bytes) -> str:
        """Upload an image to send in a message; its image_key."""
        response = await self._call("im.image.create", CreateImageRequest.builder().request_body(
            CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(data))
            .build()).build(), CreateImageResponse)
        return str(response.data.image_key)

    async def upload_file(self, name: str, data: bytes) -> str:
        """Upload a file to send in a message; its file_key."""
        response = await self._call("im.file.create", CreateFileRequest.builder().request_body(
            CreateFileRequestBody.builder().file_type(file_type(name)).file_name(name)
            .file(io.BytesIO(data)).build()).build(), CreateFileResponse)
        return str(response.data.file_key)

    async def download(self, message_id: str, file_key: str, kind: str = "file", *,
                       limit: int) -> bytes:
        """The file (`kind` "file") or image ("image") `file_key` of the message `message_id`,
        read no further than `limit` bytes (TooLarge). No name: the message event carries it."""
        response = await self._call(
            "im.message_resource.get", GetMessageResourceRequest.builder()
            .message_id(message_id).file_key(file_key).type(kind).build(), about=message_id,
            limit=limit)
        return bytes(response.raw.content)

    # -- chats and the bot ---------------------------------------------------------------------

    async def chat_mode(self, chat_id: str) -> str:
        """`p2p` for a private chat with the bot, `group` (or `topic`) for a group."""
        response = await self._call("im.chat.get", GetChatRequest.builder().chat_id(chat_id)
                                    .build(), GetChatResponse, chat_id)
        return str(response.data.chat_mode or "")

    async def chat_owner_and_managers(self, chat_id: str) -> set[str]:
        """The open_ids of a group's owner and its managers (its secretaries on Feishu)."""
        response = await self._call("im.chat.get", GetChatRequest.builder().chat_id(chat_id)
                                    .user_id_type("open_id").build(), GetChatResponse, chat_id)
        data = response.data
        return {data.owner_id, *(data.user_manager_id_list or [])} - {None, ""}

    async def chat_members(self, chat_id: str) -> list[tuple[str, str]]:
        """Every (open_id, name) in a group, over all pages (the bots not included)."""
        members: list[tuple[str, str]] = []
        page_token: str | None = None
        while True:
            request = (GetChatMembersRequest.builder().chat_id(chat_id)
                       .member_id_type("open_id").page_size(MEMBERS_PAGE))
            if page_token:
                request = request.page_token(page_token)
            response = await self._call("im.chat_members.get", request.build(),
                                        GetChatMembersResponse, chat_id)
            data = response.data
            members += [(item.member_id, item.name or "") for item in data.items or []]
            page_token = data.page_token
            if not data.has_more or not page_token:
                return members

    async def bot_info(self) -> BotInfo:
        """The bot's own open_id and name (to recognise its @mentions)."""
        response = await self._call("bot.info", lark.BaseRequest.builder()
                                    .http_method(lark.HttpMethod.GET)
                                    .uri("/open-apis/bot/v3/info").build())
        bot = json.loads(response.raw.content)["bot"]
        return BotInfo(open_id=bot["open_id"], name=bot.get("app_name", ""))

    # -- one call ------------------------------------------------------------------------------

    async def _call(self, endpoint: str, request: BaseRequest,
                    answer: type[BaseResponse] = BaseResponse, about: object = None,
                    limit: int | None = None) -> Any:
        """`request` under the retry policy, with the cached tenant token (fetched again once
        if Feishu calls it invalid); Feishu's answer read as `answer` (a download's body no
        further than `limit`)."""

        async def attempt() -> Any:
            stale = None
            while True:
                token = await self.tenant_token(stale)
                response = await self._sent(endpoint, request, answer, token, limit)
                if response.code == STALE_TOKEN and stale is None:
                    log.info("Feishu called the tenant token invalid: fetching a new one")
                    stale = token
                    continue
                return _checked(endpoint, response)

        return await self.policy.run(endpoint, attempt, about)

    async def tenant_token(self, stale: str | None = None) -> str:
        """The cached tenant token, fetched when there is none, it nears its expiry, or it is
        `stale`."""
        async with self._token_lock:
            if self._token and self._token != stale and self.clock() < self._token_until:
                return self._token
            request = InternalTenantAccessTokenRequest.builder().request_body(
                InternalTenantAccessTokenRequestBody.builder().app_id(self.app_id)
                .app_secret(self.app_secret).build()).build()
            response = _checked("auth.tenant_access_token", await self._sent(
                "auth.tenant_access_token", request, BaseResponse, None))
            # the token and its lifetime are top-level fields, not under `data` as the SDK's
            # model has them
            answer = json.loads(response.raw.content)
            self._token = str(answer["tenant_access_token"])
            self._token_until = self.clock() + float(answer["expire"]) - TOKEN_MARGIN
            return self._token

    async def _sent(self, endpoint: str, request: BaseRequest, answer: type[BaseResponse],
                    token: str | None, limit: int | None = None) -> BaseResponse:
        """One attempt at `request`: Feishu's answer, or the failure in the retry policy's
        terms (bot/http.py)."""
        if request.files is None:  # an upload's file objects, taken out of the body once
            request.files = Files.extract_files(request.body) or {}
        for stream in request.files.values():
            stream.seek(0)  # read again by a repeat
        body = json.loads(JSON.marshal(request.body)) if request.body is not None else None
        http, content = await exchange(self._http, self._http.build_request(
            request.http_method.name, _build_url(self.domain, request.uri, request.paths),
            params=request.queries,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            json=None if request.files else body,
            data=body if request.files else None, files=request.files or None), "Feishu", limit)
        raw = RawResponse()
        raw.status_code, raw.headers, raw.content = (http.status_code, dict(http.headers),
                                                     content)
        if http.headers.get("content-type", "").startswith("application/json"):
            response = JSON.unmarshal(content.decode(http.encoding or "utf-8"), answer)
        elif http.is_success:  # a download
            response = answer()
            response.code = 0
        else:  # not Feishu's answer: a proxy's error page
            raise ServerError(f"{endpoint}: answered {http.status_code} "
                              f"{http.headers.get('content-type')}")
        response.raw = raw
        return response


def _checked(endpoint: str, response: BaseResponse) -> BaseResponse:
    """`response` if Feishu did what was asked; else its refusal as the policy's exception."""
    status = response.raw.status_code if response.raw is not None else 200
    headers = response.raw.headers if response.raw is not None else {}
    if status == 429 or response.code in (RATE_LIMITED, TOO_FREQUENT):
        reset = headers.get(RESET_HEADER)  # httpx gives header names in lower case
        raise RateLimited(f"{endpoint}: code {response.code}: {response.msg}",
                          retry_after=float(reset) if reset else 1.0)
    if status >= 500:
        raise ServerError(f"{endpoint}: Feishu answered {status}: code {response.code}")
    if not response.success():
        raise FeishuError(endpoint, response.code, response.msg)
    return response
