"""The bot's client for DingTalk's server APIs, from asyncio, over one pooled `httpx.AsyncClient`.

Not through dingtalk-stream 0.24.3's helpers (`get_access_token`, `reply_card`,
`upload_to_dingtalk`, `get_image_download_url`, `open_connection`): each is a blocking
`requests` call made from async code, which stalls the event loop (and deadlocks a fake served
from it), and each reports a failure as a log line and a None. Here every call is awaited, and
goes through the project's one retry policy (bot/http.py): DingTalk's rate-limit answers (HTTP
429, or 403 with a `…QpsLimit…` code on the new API, errcode 90018 and its kin on the old one)
are waited out for a second (DingTalk's limits are per second and its answers name no time),
transient failures repeated, a send that may have arrived never repeated.

The access token (POST /v1.0/oauth2/accessToken, two hours) is cached until five minutes
before it expires and fetched again once when DingTalk calls it invalid.

One-to-one messages go by batchSend, which takes up to 20 people a call: the same message to
several people, asked for while a send is under way, goes in one call (`Gathered`). A storm of
taps, each answered privately (a tap has no toast on DingTalk), then costs a call per twenty
answers, not one each: far under DingTalk's QPS limits, and a fraction of the client's work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import httpx

from bot.gathered import Gathered
from bot.http import CONNECT_SECONDS, RateLimited, RetryPolicy, ServerError, exchange

log = logging.getLogger(__name__)

TOKEN_MARGIN = 300.0
"""Seconds before its expiry a cached token is replaced."""
TIMEOUT = httpx.Timeout(30.0, connect=CONNECT_SECONDS)
RATE_LIMIT_PAUSE = 1.0
"""DingTalk's limits count per second (QPS) and its refusals name no time: come back after
one."""
STALE_TOKEN_CODES = {"InvalidAuthentication", "Unauthorized", "invalidAuthentication"}
STALE_TOKEN_ERRCODES = {40001, 40014, 42001}
"""The new API's and the old API's answers for an access token that is no longer good."""
RATE_LIMIT_ERRCODES = {90002, 90005, 90006, 90018, 90019, 90040}
"""The old API's frequency limits (per app, per company, per API)."""
PEOPLE_PER_SEND = 20
"""The most people (userIds) one batchSend reaches."""
NOTICE_GATHER = 0.2
"""Seconds a notice (a tap's answer) waits for the others of a storm to go with it."""
STANDARD_CARD = "StandardCard"
"""DingTalk's built-in card template: cards with buttons and no template made in the console."""


class DingTalkError(Exception):
    """DingTalk refused a call (not a rate limit): not repeated."""

    def __init__(self, endpoint: str, status: int, code: str | int | None,
                 message: str | None) -> None:
        super().__init__(f"{endpoint}: HTTP {status}: {code}: {message}")
        self.status, self.code = status, code


def is_group(chat: str) -> bool:
    """A conversation id (DingTalk's `cid…`) names a group; anything else is a person (staffId)."""
    return chat.startswith("cid")


def file_type(name: str) -> str:
    """The `fileType` of a file message: its extension, as DingTalk wants it."""
    return PurePath(name).suffix.lower().lstrip(".") or "file"


class DingTalkApi:
    """One app's calls; the access token is shared by all of them."""

    def __init__(self, client_id: str, client_secret: str, robot_code: str | None = None, *,
                 api: str = "https://api.dingtalk.com", oapi: str = "https://oapi.dingtalk.com",
                 policy: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`clock`: when the cached token expires (tests pass a controllable one)."""
        self.client_id, self.client_secret = client_id, client_secret
        self.robot_code = robot_code or client_id
        self.api, self.oapi = api.rstrip("/"), oapi.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self._http = httpx.AsyncClient(timeout=TIMEOUT)
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()
        self._to_people: Gathered[tuple[str, str, str], str | BaseException] = Gathered(
            self._send_to_people)
        self._notices: Gathered[tuple[str, str, str], str | BaseException] = Gathered(
            self._send_to_people, NOTICE_GATHER)

    async def close(self) -> None:
        await self._http.aclose()

    # -- the Stream gateway --------------------------------------------------------------------

    async def open_connection(self, subscriptions: list[dict[str, str]], *, ua: str,
                              local_ip: str = "") -> tuple[str, str]:
        """Register a Stream connection for `subscriptions`: (WebSocket endpoint, ticket)."""
        answer = await self._call("gateway.open", "POST", "/v1.0/gateway/connections/open",
                                  json={"clientId": self.client_id,
                                        "clientSecret": self.client_secret,
                                        "subscriptions": subscriptions, "ua": ua,
                                        "localIp": local_ip}, token=False)
        return str(answer["endpoint"]), str(answer["ticket"])

    # -- messages ------------------------------------------------------------------------------

    async def send_message(self, chat: str, msg_key: str, param: dict[str, Any]) -> str:
        """A robot message (`sampleText`, `sampleMarkdown`, `sampleImageMsg`, `sampleFile`…) to
        a group or a person; its processQueryKey (the only id DingTalk gives it; a message sent
        to several people at once shares one)."""
        text = json.dumps(param, ensure_ascii=False)
        if not is_group(chat):
            return _sent(await self._to_people.submit((chat, msg_key, text)))
        answer = await self._call("send.group", "POST", "/v1.0/robot/groupMessages/send",
                                  json={"robotCode": self.robot_code, "msgKey": msg_key,
                                        "msgParam": text, "openConversationId": chat},
                                  about=chat)
        return str(answer.get("processQueryKey", ""))

    async def send_notice(self, person: str, text: str) -> str:
        """A short text to a person that may wait NOTICE_GATHER to go with others (a tap's
        answer, where a storm's would otherwise cost a call each)."""
        param = json.dumps({"content": text}, ensure_ascii=False)
        return _sent(await self._notices.submit((person, "sampleText", param)))

    async def _send_to_people(self, sends: list[tuple[str, str, str]]
                              ) -> list[str | BaseException]:
        """Each (person, msgKey, msgParam): one batchSend per message and twenty people (a
        person at most once in a call), the calls at once; per send its processQueryKey, or
        why it failed (DingTalk calling the person no staff of the organization, say)."""
        calls: dict[tuple[str, str], list[list[int]]] = {}
        for n, (person, msg_key, text) in enumerate(sends):
            batches = calls.setdefault((msg_key, text), [])
            batch = next((b for b in batches if len(b) < PEOPLE_PER_SEND
                          and person not in (sends[i][0] for i in b)), None)
            if batch is None:
                batches.append(batch := [])
            batch.append(n)
        made = [(msg_key, text, batch, [sends[i][0] for i in batch])
                for (msg_key, text), batches in calls.items() for batch in batches]
        answers = await asyncio.gather(*(self._call(
            "send.oto", "POST", "/v1.0/robot/oToMessages/batchSend",
            json={"robotCode": self.robot_code, "msgKey": msg_key, "msgParam": text,
                  "userIds": people}, about=people)
            for msg_key, text, _, people in made), return_exceptions=True)
        found: list[str | BaseException] = [""] * len(sends)
        for (_, _, batch, _), answer in zip(made, answers, strict=True):
            if isinstance(answer, BaseException):
                for i in batch:
                    found[i] = answer
                continue
            invalid = set(answer.get("invalidStaffIdList") or [])
            for i in batch:
                person = sends[i][0]
                found[i] = (DingTalkError("send.oto", 200, "invalidStaffId",
                                          f"{person} is not staff") if person in invalid
                            else str(answer.get("processQueryKey", "")))
        return found

    async def send_card(self, chat: str, card_id: str, card: dict[str, Any]) -> None:
        """An interactive card of the built-in StandardCard template, `card_id` its cardBizId
        (our id for it: updates name it). Its buttons' taps come back over Stream, on the card
        callback topic. Sending the same card_id again posts nothing new."""
        body: dict[str, Any] = {"cardTemplateId": STANDARD_CARD, "robotCode": self.robot_code,
                                "cardBizId": card_id, "callbackType": "STREAM",
                                "cardData": json.dumps(card, ensure_ascii=False),
                                "sendOptions": {}}
        if is_group(chat):
            body["openConversationId"] = chat
        else:
            body["singleChatReceiver"] = json.dumps({"userId": chat})
        await self._call("send.card", "POST", "/v1.0/im/v1.0/robot/interactiveCards/send",
                         json=body, about=chat)

    async def update_card(self, card_id: str, card: dict[str, Any]) -> None:
        """Replace the card `card_id` in place, for everyone who sees it."""
        await self._call("card.update", "PUT", "/v1.0/im/robots/interactiveCards",
                         json={"cardBizId": card_id,
                               "cardData": json.dumps(card, ensure_ascii=False)},
                         about=card_id)

    # -- files ---------------------------------------------------------------------------------

    async def download(self, download_code: str, *, limit: int) -> bytes:
        """The file or picture a member sent, from its message's downloadCode, read no further
        than `limit` bytes (TooLarge)."""
        answer = await self._call("file.download_url", "POST",
                                  "/v1.0/robot/messageFiles/download",
                                  json={"downloadCode": download_code,
                                        "robotCode": self.robot_code})
        url = str(answer["downloadUrl"])
        response = await self.policy.run("file.download", lambda: self._attempt(
            "file.download", "GET", url, None, {}, limit))
        return response.content

    async def upload(self, kind: str, name: str, data: bytes) -> str:
        """A file (`kind` "file") or image ("image") uploaded for a message; its media_id."""
        answer = await self._call("media.upload", "POST", "/media/upload", old=True,
                                  params={"type": kind}, files={"media": (name, data)})
        return str(answer["media_id"])

    # -- one call ------------------------------------------------------------------------------

    async def access_token(self, stale: str | None = None) -> str:
        """The cached token, fetched when there is none, it nears its expiry, or it is `stale`.
        Wrong credentials raise DingTalkError."""
        async with self._token_lock:
            if self._token and self._token != stale and self.clock() < self._token_until:
                return self._token
            answer = await self.policy.run("auth.token", lambda: self._once(
                "auth.token", "POST", "/v1.0/oauth2/accessToken", old=False, token=None,
                json={"appKey": self.client_id, "appSecret": self.client_secret}))
            self._token = str(answer["accessToken"])
            self._token_until = self.clock() + float(answer.get("expireIn", 7200)) - TOKEN_MARGIN
            return self._token

    async def _call(self, endpoint: str, method: str, path: str, *, old: bool = False,
                    token: bool = True, about: object = None, **request: Any) -> dict[str, Any]:
        """One API call under the retry policy, with the access token (fetched again once when
        DingTalk calls it invalid); DingTalk's answer as a dict."""

        async def attempt() -> dict[str, Any]:
            stale: str | None = None
            while True:
                current = await self.access_token(stale) if token else None
                try:
                    return await self._once(endpoint, method, path, old=old, token=current,
                                            **request)
                except DingTalkError as exc:
                    if current is None or stale is not None or not _stale(exc):
                        raise
                    log.info("DingTalk called the access token invalid: fetching a new one")
                    stale = current

        return await self.policy.run(endpoint, attempt, about)

    async def _once(self, endpoint: str, method: str, path: str, *, old: bool,
                    token: str | None, **request: Any) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if token and old:
            request["params"] = {**request.get("params", {}), "access_token": token}
        elif token:
            headers["x-acs-dingtalk-access-token"] = token
        url = (self.oapi if old else self.api) + path
        response = await self._attempt(endpoint, method, url, headers, request)
        return _checked(endpoint, response)

    async def _attempt(self, endpoint: str, method: str, url: str, headers: dict[str, str] | None,
                       request: dict[str, Any], limit: int | None = None) -> httpx.Response:
        """One request: the response (a download's body no further than `limit`), or the
        failure in the retry policy's terms."""
        response, body = await exchange(self._http, self._http.build_request(
            method, url, headers=headers, **request), "DingTalk", limit)
        if response.status_code >= 500:
            raise ServerError(f"{endpoint}: DingTalk answered {response.status_code}")
        if response.status_code == 429:
            raise RateLimited(f"{endpoint}: HTTP 429", RATE_LIMIT_PAUSE)
        return httpx.Response(response.status_code, headers=response.headers, content=body,
                              request=response.request)


def _sent(found: str | BaseException) -> str:
    """A send's processQueryKey, or its failure raised."""
    if isinstance(found, BaseException):
        raise found
    return found


def _stale(error: DingTalkError) -> bool:
    return (error.status == 401 or error.code in STALE_TOKEN_CODES
            or error.code in STALE_TOKEN_ERRCODES)


def _checked(endpoint: str, response: httpx.Response) -> dict[str, Any]:
    """DingTalk's answer when it did what was asked; else its refusal as an exception: a rate
    limit as the retry policy's `RateLimited`, anything else as DingTalkError."""
    try:
        answer = response.json()
    except ValueError:
        raise DingTalkError(endpoint, response.status_code, None,
                            response.text[:200]) from None
    if not isinstance(answer, dict):
        raise DingTalkError(endpoint, response.status_code, None, "not a JSON object")
    code = answer.get("code")
    errcode = answer.get("errcode")
    if (isinstance(code, str) and "QpsLimit" in code) or errcode in RATE_LIMIT_ERRCODES:
        raise RateLimited(f"{endpoint}: {code or errcode}: "
                          f"{answer.get('message') or answer.get('errmsg')}", RATE_LIMIT_PAUSE)
    if not response.is_success or (errcode not in (None, 0)):
        raise DingTalkError(endpoint, response.status_code, code if code else errcode,
                            answer.get("message") or answer.get("errmsg"))
    return answer
