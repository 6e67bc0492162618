"""A fake Telegram Bot API served over real HTTP on 127.0.0.1 (port 0), for end-to-end tests and
benchmarks of the real `dangjian run` process.

It answers like `bot.offline.LocalBotApi` (same records, admins, files and chats), adds what only
a network server has: getUpdates long polling with offsets, webhook delivery once setWebhook is
called (to several replicas in turn, as a load balancer would, when `webhook_targets` is set),
multipart uploads, file downloads, injected faults (429, 5xx, slow answers, connections dropped
after the request was read, connections refused), and a check of Telegram's flood limits. It
runs on its own thread and event loop, so synchronous tests and scripts drive it directly:

    with FakeBotApi() as api:
        bot = subprocess.Popen([... "run"], env={**os.environ, **api.env(), ...})
        mark = api.mark()
        api.send("/start", user_id=42)
        reply = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == 42, since=mark)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import ssl
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.offline import SEND_METHODS, ApiCall, LocalBotApi, UpdateFactory, _loads

TOKEN = "123456:TEST-fake-token"
MAX_UPLOAD = 50 * 1024 * 1024  # Telegram's limit for bots' uploads
OVERALL_LIMIT = (30, 1.0)  # messages per second for the whole bot
GROUP_LIMIT = (20, 60.0)  # messages per minute in one group
LIMITED_METHODS = SEND_METHODS | {"sendMediaGroup", "copyMessage", "forwardMessage"}
WEBHOOK_RETRY = 0.5  # seconds before Telegram delivers a refused webhook update again


@dataclass
class HttpCall(ApiCall):
    """An accepted Bot API request: its effect happened, even if the client stopped waiting."""

    at: float = 0.0  # time.monotonic() when it arrived

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return None if value is None else int(value)


@dataclass
class Fault:
    """The next `count` calls of `method` ("*" for any but getUpdates) fail, answer late or
    never.

    A 429 behaves like Telegram's flood control: it lasts `retry_after` seconds from the first
    refusal, so a client that waits as told gets through (at most `count` refusals in all).
    A 5xx is answered without acting on the call, as a proxy in front of Telegram would; a
    dropped call is acted on and its connection cut before the answer, as a crash of Telegram's
    front end would: the client cannot tell which happened."""

    method: str
    count: int
    status: int = 0  # 429 or 5xx; 0 = answer normally after `delay`
    retry_after: int = 1
    delay: float = 0.0
    drop: bool = False
    until: float | None = None  # a 429's end, set at its first refusal


@dataclass(frozen=True)
class Violation:
    """A message over Telegram's flood limits ("overall": 30/s; "group": 20/min per group)."""

    kind: str
    chat_id: int
    at: float


@dataclass
class _Limits:
    overall: deque[float] = field(default_factory=deque)
    groups: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))


class FakeBotApi(LocalBotApi):
    """LocalBotApi's answers over HTTP, plus update delivery, faults and flood-limit checks."""

    def __init__(self, token: str = TOKEN, *, enforce_limits: bool = False,
                 strict_private: bool = False, latency: float = 0.0, bind: str = "127.0.0.1",
                 port: int = 0, webhook_tls: ssl.SSLContext | None = None) -> None:
        """`enforce_limits`: answer 429 over the flood limits (they are counted either way).
        `strict_private`: as on Telegram, the bot may write to a user's private chat only after
        that user wrote to it there (otherwise 403). `latency`: seconds added to every answer
        but getUpdates', the round trip to Telegram's servers. `bind`: the address to serve
        on ("0.0.0.0" for bots in containers), and `port` (0: any free one, known once
        started). `webhook_tls`: how to verify an HTTPS webhook's certificate (by default, as
        the system trusts)."""
        super().__init__()
        self.bind = bind
        self.webhook_tls = webhook_tls
        self.token = token
        self.latency = latency
        self.enforce_limits = enforce_limits
        self.strict_private = strict_private
        self.started: set[int] = set()  # users who wrote to the bot privately
        self.updates = UpdateFactory()
        self.rejected: list[HttpCall] = []  # answered 429 / 5xx: nothing happened
        self.violations: list[Violation] = []
        self.get_updates_count = 0
        self.confirmed_update_id = 0  # the bot acknowledged every update up to this one
        self.delivered_at: dict[int, float] = {}  # update_id -> first handed out (monotonic)
        self.webhook_targets: list[str] = []  # replicas behind a balancer; else the URL set
        self.webhook_posts: Counter[str] = Counter()  # URL -> updates it accepted
        self.webhook_refusals: Counter[str] = Counter()  # URL -> deliveries not answered 2xx
        self._webhook: dict[str, Any] | None = None  # the last setWebhook's parameters
        self._pusher: asyncio.Task[None] | None = None
        self.port = port
        self._pending: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._limits = _Limits()
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_update: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._stopping: asyncio.Event | None = None
        self._released: asyncio.Event | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeBotApi:
        """Serve on a free port on its own thread; returns once it accepts connections."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True,
                                        name="fake-bot-api")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Bot API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def env(self) -> dict[str, str]:
        """The environment that points `dangjian run` at this server."""
        return {
            "TELEGRAM_BOT_TOKEN": self.token,
            "TELEGRAM_API_BASE_URL": self.base_url,
            "TELEGRAM_API_FILE_URL": self.file_url,
        }

    # --- driving the bot -----------------------------------------------------------------

    def enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        """Make an update available to getUpdates (and remember its chat and message)."""
        message = update.get("message") or update.get("edited_message")
        if message and "chat" in message:
            self.chats.setdefault(message["chat"]["id"], message["chat"])
            if message["chat"]["type"] == "private":
                self.started.add(message["chat"]["id"])
            self._messages[(message["chat"]["id"], message["message_id"])] = message
        with self._changed:
            self._pending.append(update)
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)
        return update

    def send(self, text: str, *, user_id: int, chat_id: int | None = None,
             **kwargs: Any) -> dict[str, Any]:
        """A user writes `text` (a command when it starts with '/')."""
        return self.enqueue(self.updates.message(text, user_id=user_id, chat_id=chat_id, **kwargs))

    def tap(self, call: ApiCall, label: str, *, user_id: int) -> dict[str, Any]:
        """A user taps the button labelled `label` on the message `call` sent."""
        data = dict(call.buttons)[label]
        return self.enqueue(self.updates.callback(data, user_id=user_id, message=call.result))

    def upload(self, file_name: str, content: bytes, *, user_id: int,
               chat_id: int | None = None, caption: str = "") -> dict[str, Any]:
        """A user sends a document; the bot can getFile and download it."""
        file_id = f"doc{len(self.files) + 1}_{file_name}"
        self.add_file(file_id, content)
        document = {"file_id": file_id, "file_unique_id": file_id, "file_name": file_name,
                    "file_size": len(content)}
        return self.send(caption, user_id=user_id, chat_id=chat_id, document=document)

    def set_admin(self, chat_id: int, user_id: int) -> None:
        self.admins.setdefault(chat_id, set()).add(user_id)

    def fail(self, method: str, *, status: int, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next `count` calls of `method` with `status` (429 carries retry_after)."""
        with self._changed:
            self._faults.append(Fault(method, count, status=status, retry_after=retry_after))

    def slow(self, method: str, *, delay: float, count: int = 1) -> None:
        """Answer the next `count` calls of `method` after `delay` seconds (they take effect at
        once, as on Telegram, even if the client gives up waiting)."""
        with self._changed:
            self._faults.append(Fault(method, count, delay=delay))

    def hold(self, method: str, *, count: int = 1) -> None:
        """Act on the next `count` calls of `method` at once but hold their answers until
        release() (or the fake stops): the bot's handling waits there, as long as a test needs."""
        self.slow(method, delay=math.inf, count=count)

    def release(self) -> None:
        """Send the held answers; calls from now on are not held."""
        assert self._loop is not None and self._released is not None
        with self._changed:
            for fault in self._faults:
                if math.isinf(fault.delay):
                    fault.count = 0
        self._loop.call_soon_threadsafe(self._released.set)

    def drop(self, method: str, *, count: int = 1) -> None:
        """Act on the next `count` calls of `method`, then cut their connections unanswered."""
        with self._changed:
            self._faults.append(Fault(method, count, drop=True))

    def refuse_connections(self) -> None:
        """Stop listening (a client's connection is refused) and cut the open connections, until
        accept_connections()."""
        self._run(self._close_door())

    def accept_connections(self) -> None:
        """Listen again on the same port."""
        self._run(self._open_door())

    # --- observing -----------------------------------------------------------------------

    def mark(self) -> int:
        """A cursor into `calls`, for wait_for(since=...)."""
        return len(self.calls)

    def wait_for(self, predicate: Callable[[HttpCall], bool], *, since: int = 0,
                 timeout: float = 10.0) -> HttpCall:
        """The first call from position `since` on that satisfies `predicate`."""
        return self.wait_for_all(predicate, 1, since=since, timeout=timeout)[0]

    def wait_for_all(self, predicate: Callable[[HttpCall], bool], count: int, *,
                     since: int = 0, timeout: float = 10.0) -> list[HttpCall]:
        """Wait until `count` calls from `since` on satisfy `predicate`; returns them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self.calls[since:] if predicate(c)]  # type: ignore[arg-type]
                if len(found) >= count:
                    return found  # type: ignore[return-value]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.params.get("chat_id"), c.text[:40])
                            for c in self.calls[since:]][-15:]
                    raise TimeoutError(f"{len(found)}/{count} matching calls; last calls: {seen}")
                self._changed.wait(left)

    def wait_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        """Wait until the bot has acknowledged `update_id` (a later getUpdates offset)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.confirmed_update_id < update_id:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"update {update_id} not confirmed")
                self._changed.wait(left)

    def wait_polling(self, *, after: int = 0, timeout: float = 30.0) -> None:
        """Wait until the bot polls (more than `after` getUpdates calls in all)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.get_updates_count <= after:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the bot never called getUpdates")
                self._changed.wait(left)

    def calls_of(self, method: str, chat_id: int | None = None) -> list[HttpCall]:
        return [
            c for c in self.calls  # type: ignore[misc]
            if c.method == method and (chat_id is None or c.chat_id == chat_id)
        ]

    def duplicate_sends(self) -> list[tuple[int, str, int]]:
        """(chat, text, times) for every identical message sent to a chat more than once."""
        counts = Counter((c.chat_id, c.text) for c in self.sent() if c.method == "sendMessage")
        return [(chat, text, n) for (chat, text), n in counts.items() if n > 1]

    # --- the HTTP server -----------------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        asyncio.run(self._main(ready))

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._new_update = asyncio.Event()
        self._stopping = asyncio.Event()
        self._released = asyncio.Event()
        app = web.Application(client_max_size=MAX_UPLOAD)
        app.router.add_route("*", "/bot{token}/{method}", self._on_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._on_file)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await self._open_door()
        ready.set()
        await self._stopping.wait()
        self._new_update.set()
        await self._runner.cleanup()

    def _run(self, coroutine: Any) -> None:
        assert self._loop is not None, "the fake Bot API is not running"
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _open_door(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.bind, self.port, reuse_address=True)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _close_door(self) -> None:
        assert self._runner is not None and self._runner.server is not None
        if self._site is not None:
            await self._site.stop()
            self._site = None
        for connection in self._runner.server.connections:
            if connection.transport is not None:
                connection.transport.abort()

    async def _on_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        content = self.files.get(request.match_info["path"])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _on_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = HttpCall(method, params, files, at=time.monotonic())
        fault = self._take_fault(method)
        if method == "getUpdates" and not (fault and fault.status):
            if fault is not None:
                await asyncio.sleep(fault.delay)
            return _ok(await self._get_updates(params))
        if fault is not None and fault.status:
            self._record(call, rejected=True)
            if fault.status == 429:
                return _error(429, f"Too Many Requests: retry after {fault.retry_after}",
                              {"retry_after": fault.retry_after})
            return web.Response(status=fault.status, text="<html>Bad Gateway</html>",
                                content_type="text/html")
        if (self.strict_private and method in LIMITED_METHODS
                and (call.chat_id or 0) > 0 and call.chat_id not in self.started):
            self._record(call, rejected=True)
            return _error(403, "Forbidden: bot can't initiate conversation with a user")
        if method in LIMITED_METHODS:
            wait = self._check_limits(call)
            if wait and self.enforce_limits:
                self._record(call, rejected=True)
                return _error(429, f"Too Many Requests: retry after {wait}",
                              {"retry_after": wait})
        call.result = self._answer(method, params)
        if method in ("setWebhook", "deleteWebhook"):
            self._set_webhook(params if method == "setWebhook" and params.get("url") else None)
        self._record(call)
        if fault is not None and fault.drop:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()  # never reaches the client
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None and fault.delay:  # cut short by release() or when the fake stops
            assert self._stopping is not None and self._released is not None
            self._released.clear()
            ends = [asyncio.ensure_future(e.wait()) for e in (self._stopping, self._released)]
            await asyncio.wait(ends, timeout=None if math.isinf(fault.delay) else fault.delay,
                               return_when=asyncio.FIRST_COMPLETED)
            for end in ends:
                end.cancel()
        return _ok(call.result)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long polling: confirm what is below `offset`, answer at once or within `timeout`."""
        assert self._loop is not None and self._new_update is not None
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = self._loop.time() + float(params.get("timeout") or 0)
        with self._changed:
            self.get_updates_count += 1
            if offset:
                self.confirmed_update_id = max(self.confirmed_update_id, offset - 1)
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self._changed.notify_all()
        while True:
            self._new_update.clear()
            with self._changed:
                batch = self._pending[:limit]
            left = deadline - self._loop.time()
            if batch or left <= 0 or (self._stopping and self._stopping.is_set()):
                now = time.monotonic()
                for update in batch:
                    self.delivered_at.setdefault(update["update_id"], now)
                return batch
            try:
                await asyncio.wait_for(self._new_update.wait(), left)
            except TimeoutError:
                return []

    def _set_webhook(self, params: dict[str, Any] | None) -> None:
        self._webhook = params
        if params is not None and (self._pusher is None or self._pusher.done()):
            self._pusher = asyncio.create_task(self._push_updates())

    async def _push_updates(self) -> None:
        """Telegram's side of a webhook: POST pending updates in order, up to max_connections
        at once, each to the registered URL or the next of `webhook_targets`; an update is done
        when answered 2xx and is delivered again (to the next target) otherwise."""
        assert self._new_update is not None and self._stopping is not None
        turn = itertools.count()
        in_flight: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession() as session:
            while self._webhook is not None and not self._stopping.is_set():
                self._new_update.clear()
                with self._changed:
                    batch, self._pending = self._pending, []
                for update in batch:
                    while len(in_flight) >= int(self._webhook.get("max_connections") or 40):
                        await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    task = asyncio.create_task(self._post_update(session, update, turn))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if not batch:
                    await self._new_update.wait()
            for task in in_flight:
                task.cancel()

    async def _post_update(self, session: aiohttp.ClientSession, update: dict[str, Any],
                           turn: itertools.count[int]) -> None:
        assert self._stopping is not None
        while (hook := self._webhook) is not None and not self._stopping.is_set():
            targets = self.webhook_targets or [hook["url"]]
            url = targets[next(turn) % len(targets)]
            secret = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]} \
                if hook.get("secret_token") else {}
            self.delivered_at.setdefault(update["update_id"], time.monotonic())
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.post(url, json=update, headers=secret,
                                        ssl=self.webhook_tls or True,
                                        timeout=aiohttp.ClientTimeout(total=10)) as answer:
                    if 200 <= answer.status < 300:
                        with self._changed:
                            self.webhook_posts[url] += 1
                            self.confirmed_update_id = max(self.confirmed_update_id,
                                                           update["update_id"])
                            self._changed.notify_all()
                        return
            with self._changed:
                self.webhook_refusals[url] += 1
            await asyncio.sleep(WEBHOOK_RETRY)

    def _take_fault(self, method: str) -> Fault | None:
        with self._changed:
            now = time.monotonic()
            for fault in self._faults:
                if fault.status == 429 and fault.until is not None and now >= fault.until:
                    fault.count = 0
                if fault.count > 0 and (fault.method == method
                                        or (fault.method == "*" and method != "getUpdates")):
                    fault.count -= 1
                    if fault.status == 429 and fault.until is None:
                        fault.until = now + fault.retry_after
                    return fault
        return None

    def _check_limits(self, call: HttpCall) -> int:
        """Count the message against the flood limits; returns seconds to wait when over."""
        now, chat_id = call.at, call.chat_id or 0
        windows = [("overall", self._limits.overall, OVERALL_LIMIT)]
        if chat_id < 0:
            windows.append(("group", self._limits.groups[chat_id], GROUP_LIMIT))
        wait = 0
        for kind, times, (limit, period) in windows:
            while times and times[0] <= now - period:
                times.popleft()
            if len(times) >= limit:
                self.violations.append(Violation(kind, chat_id, now))
                wait = max(wait, math.ceil(times[0] + period - now))
        if not (wait and self.enforce_limits):
            for _kind, times, _limit in windows:
                times.append(now)
        return wait

    def _record(self, call: HttpCall, *, rejected: bool = False) -> None:
        with self._changed:
            (self.rejected if rejected else self.calls).append(call)
            self._changed.notify_all()

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        """A sent or edited message, with what replies and later taps need from it."""
        chat_id = int(params.get("chat_id", 0))
        self.chats.setdefault(chat_id, self.updates.chat(chat_id))  # negative ids are groups
        message = super()._message(params)
        key = (message["chat"]["id"], message["message_id"])
        if "message_id" in params and key in self._messages:  # an edit keeps the rest
            edited = {k: v for k, v in message.items() if k in ("text", "caption")}
            message = {**self._messages[key], **edited, "edit_date": int(time.time())}
            message.pop("reply_markup", None)
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
        reply_to = (params.get("reply_parameters") or {}).get("message_id")
        if reply_to and (key[0], int(reply_to)) in self._messages:
            message["reply_to_message"] = self._messages[(key[0], int(reply_to))]
        for kind in ("document", "photo"):
            if kind in params:
                file_id = f"sent{len(self.calls) + 1}_{kind}"
                entry = {"file_id": file_id, "file_unique_id": file_id}
                message[kind] = [entry | {"width": 1, "height": 1}] if kind == "photo" else entry
        self._messages[key] = message
        return message

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "editMessageReplyMarkup":
            return self._message(params)
        return super()._answer(method, params)


def exchange(api: FakeBotApi, text: str, *, user_id: int, chat_id: int | None = None,
             method: str = "sendMessage", timeout: float = 10.0, **kwargs: object) -> HttpCall:
    """A user writes; returns the bot's first `method` call to that chat after it."""
    chat = user_id if chat_id is None else chat_id
    mark = api.mark()
    api.send(text, user_id=user_id, chat_id=chat_id, **kwargs)
    return api.wait_for(lambda c: c.method == method and c.chat_id == chat, since=mark,
                        timeout=timeout)


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters as Telegram reads them: query string, JSON, form or multipart (files kept)."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        params.update(await request.json())
        return params, files
    if request.body_exists:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = value.file.read()
                params[name] = value.filename
            else:
                params[name] = _loads(value)
    return params, files


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _error(status: int, description: str, parameters: dict[str, Any] | None = None
           ) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
