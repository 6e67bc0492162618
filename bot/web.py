"""The bot as a service: the process lifecycle for long polling and webhook mode, the Telegram
webhook endpoint, and `/healthz`, `/readyz`, `/metrics` for operators.

Webhook requests are checked (secret header in constant time, size, shape), stored in the
database (bot/inbox.py) and only then answered 200: an update Telegram was told we have
survives a crash, and a repeat of one is dropped by its key whichever replica it reaches. It is
handled in the background from there, so Telegram never waits on a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select
from telegram import Bot, Update
from telegram.error import BadRequest, NetworkError

from bot.app import finish
from bot.config import Settings
from bot.core import Core
from bot.http import PAUSES
from bot.inbox import Inbox
from bot.ordering import handle
from bot.polling import poll
from bot.telemetry import InstrumentedApplication, Metrics
from handlers.posts import show_recent_counts
from storage.db import Database
from storage.models import Delivery

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # Telegram's updates are a few KB; anything near this is not Telegram
DB_PING_SECONDS = 3.0
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
DEFAULT_WEBHOOK_PATH = "/telegram"


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, or one derived from the token, so replicas agree without configuration."""
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        return settings.webhook_secret.get_secret_value()
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    return hashlib.sha256(b"dangjian-webhook:" + token.encode()).hexdigest()


def webhook_path(settings: Settings) -> str:
    return urlsplit(settings.webhook_url or "").path.rstrip("/") or DEFAULT_WEBHOOK_PATH


def reminders_sent(db: Database, worker: str) -> int:
    """Reminder messages this process delivered, as the delivery rows record them."""
    with db.session() as session:
        return session.exec(select(func.count()).select_from(Delivery).where(
            Delivery.status == "sent", Delivery.worker == worker)).one()


class MalformedUpdate(ValueError):
    """A webhook body that is not a Telegram update."""


def decode_update(body: bytes, bot: Bot) -> tuple[Update, str]:
    """The Update in a webhook body and the body's JSON text, or MalformedUpdate for anything
    Telegram would not send."""
    try:
        payload = body.decode()
        data = json.loads(payload)
        if isinstance(data, dict) and isinstance(data.get("update_id"), int):
            return Update.de_json(data, bot), payload
    except Exception as exc:  # de_json fails in many ways on what is not an update
        raise MalformedUpdate(repr(exc)) from exc
    raise MalformedUpdate("no update_id")


def replica_name(settings: Settings) -> str:
    """Who holds a stored update's claim: the host and port, the same again after a restart."""
    return f"{socket.gethostname()}:{settings.port}"[-64:]


class PlatformRefused(Exception):
    """A platform refused this bot's credentials at start; the message is the line the
    operator reads before the process exits."""


@contextlib.contextmanager
def refused_as(error: type[Exception], line: str) -> Iterator[None]:
    """A platform's own refusal (`error`) as PlatformRefused, with `line` naming what to
    check; `{}` in it is the platform's words."""
    try:
        yield
    except error as refusal:
        raise PlatformRefused(line.format(refusal)) from refusal


class Platform(Protocol):
    """A messenger besides Telegram, run in this process over the shared core."""

    name: str

    @property
    def ready(self) -> bool: ...

    @property
    def routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]]:
        """POST routes it serves on PORT (its callback), if any."""
        ...

    async def start(self) -> None:
        """Connect; raises `PlatformRefused` when the platform refuses the credentials."""
        ...

    async def stop(self) -> None: ...


class BotWebApp:
    """The aiohttp routes of one bot process; the webhook route only in webhook mode, where
    `inbox` keeps the updates."""

    def __init__(self, core: Core, settings: Settings, *,
                 application: InstrumentedApplication | None = None,
                 inbox: Inbox[Update] | None = None, platforms: Sequence[Platform] = ()) -> None:
        self.core = core
        self.application = application
        self.settings = settings
        self.inbox = inbox
        self.platforms = platforms
        self.metrics = application.metrics if application is not None else Metrics()
        services = core.services
        self.metrics.count_reminders_with(
            partial(reminders_sent, services.db, services.scheduler.worker))
        self.started = time.monotonic()
        self._secret = webhook_secret(settings).encode()

    def build(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)
        if self.inbox is not None:
            app.router.add_post(webhook_path(self.settings), self.on_update)
        for platform in self.platforms:
            for path, receive in platform.routes:
                app.router.add_post(path, receive)
        return app

    async def on_update(self, request: web.Request) -> web.Response:
        """Telegram's POST: verify, store (a repeat is dropped), answer 200 once stored."""
        assert self.inbox is not None and self.application is not None
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return self._reject("no_secret", 401)
        if not hmac.compare_digest(given.encode(), self._secret):
            return self._reject("bad_secret", 403)
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._reject("too_large", 413)
        try:
            update, payload = decode_update(await request.read(), self.application.bot)
        except web.HTTPRequestEntityTooLarge:
            return self._reject("too_large", 413)
        except MalformedUpdate:
            return self._reject("malformed", 400)
        if not self.inbox.ready:  # starting or stopping: Telegram delivers it again
            return self._reject("not_ready", 503)
        try:
            stored = await self.inbox.receive(update, payload)
        except SQLAlchemyError as exc:  # not kept, so not acknowledged: delivered again
            log.warning("could not store update %s: %r", update.update_id, exc)
            return self._reject("not_stored", 503)
        if not stored:
            self.metrics.webhook_rejected.labels("duplicate").inc()
            return web.Response(text="duplicate")
        return web.Response(text="ok")

    def _reject(self, reason: str, status: int) -> web.Response:
        self.metrics.webhook_rejected.labels(reason).inc()
        return web.Response(status=status, text=reason)

    async def healthz(self, _request: web.Request) -> web.Response:
        """Liveness: the process serves requests."""
        return web.json_response({
            "status": "ok", "mode": "polling" if self.inbox is None else "webhook",
            "platforms": sorted(self.core.channels),
            "uptime_s": round(time.monotonic() - self.started, 1),
        })

    async def readyz(self, _request: web.Request) -> web.Response:
        """Readiness: every platform runs (Telegram's Application, with its stored updates
        taken in webhook mode; Feishu's events coming in) and the database answers."""
        database = await self._ping_database()
        platforms = {}
        if self.application is not None:
            platforms["telegram"] = self.application.running and (
                self.inbox is None or self.inbox.ready)
        for platform in self.platforms:
            platforms[platform.name] = platform.ready
        ready = database == "ok" and all(platforms.values())
        body: dict[str, object] = {
            "status": "ready" if ready else "not ready", "database": database,
            "platforms": {name: "running" if up else "stopped" for name, up in platforms.items()}}
        if self.application is not None:
            body["application"] = "running" if self.application.running else "stopped"
        return web.json_response(body, status=200 if ready else 503)

    async def _ping_database(self) -> str:
        engine = self.core.services.db.engine

        def ping() -> None:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(asyncio.to_thread(ping), DB_PING_SECONDS)
        except Exception as exc:  # any failure means "not ready"; the reason is logged
            log.warning("database ping failed: %r", exc)
            return "unavailable"
        return "ok"

    async def metrics_page(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})


async def when_reachable(step: Callable[[], Awaitable[object]], stop: asyncio.Event) -> bool:
    """`step()` again, PAUSES apart, while Telegram cannot be reached (a network or proxy still
    coming up; each call has had its own retries): the bot starts as soon as it can instead of
    exiting on a traceback. False when told to stop first. A rejected token is not retried
    (InvalidToken); only start-up steps, which post no message, are repeated this way."""
    failures = 0
    while True:
        try:
            await step()
            return True
        except BadRequest:
            raise
        except NetworkError as exc:
            delay = PAUSES[min(failures, len(PAUSES) - 1)]
            failures += 1
            log.warning("Telegram Bot API unreachable (%s): retrying in %.0f s", exc, delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return False
        except TimeoutError:
            pass


async def initialize(application: InstrumentedApplication) -> None:
    """initialize() (getMe) and post_init, which PTB calls only inside run_polling/run_webhook."""
    await application.initialize()
    if application.post_init:
        await application.post_init(application)


def telegram_inbox(application: InstrumentedApplication, db: Database,
                   worker: str) -> Inbox[Update]:
    """Telegram's webhook updates, kept until handled (bot/inbox.py)."""
    return Inbox(
        db, worker, key=lambda update: update.update_id,
        decode=lambda payload: Update.de_json(json.loads(payload), application.bot),
        run=partial(handle, application),
        spawn=lambda coroutine, update: application.create_task(coroutine, update=update),
        on_recovered=application.metrics.recovered_updates.inc)


async def serve(core: Core, settings: Settings, *,
                application: InstrumentedApplication | None = None,
                platforms: Sequence[Platform] = (), stop: asyncio.Event | None = None) -> None:
    """Run every configured platform until SIGINT/SIGTERM (or `stop`), with health and metrics
    on PORT. Telegram: webhook mode when WEBHOOK_URL is set, long polling (bot.polling, which
    acknowledges only handled updates) otherwise; the Application is built without PTB's
    Updater. The other platforms (`platforms`: Feishu's runner…) start after the web server,
    whose POST routes they may take (a callback), and stop before the core.

    PTB calls post_init/post_stop/post_shutdown only inside run_polling/run_webhook, so they are
    called here around initialize(), start(), stop() and shutdown() (they start and stop the
    reminder scheduler; without Telegram this does). In webhook mode the port is bound before
    stored updates are taken up: a second process under the same name (host and port) fails
    there instead of taking updates the first is handling.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    webhook = application is not None and bool(settings.webhook_url)
    db = core.services.db
    inbox = telegram_inbox(application, db, replica_name(settings)) if webhook else None
    routes = BotWebApp(core, settings, application=application, inbox=inbox, platforms=platforms)
    runner = web.AppRunner(routes.build(), access_log=None, handle_signals=False)
    if application is None:
        await core.services.scheduler.start(core)
    elif not await when_reachable(partial(initialize, application), stop):
        return
    await runner.setup()
    try:
        await web.TCPSite(runner, "0.0.0.0", settings.port).start()
    except OSError:
        if webhook or any(platform.routes for platform in platforms):
            raise
        log.warning("port %s is busy: /healthz and /metrics are not served", settings.port)
    for platform in platforms:
        await platform.start()
    polling = None
    if application is not None:
        polling = await _start_telegram(application, settings, inbox, stop)
    await show_recent_counts(core)
    log.info("bot running: platforms=%s mode=%s port=%s", ",".join(sorted(core.channels)),
             "webhook" if webhook else "polling", settings.port)
    try:
        await (polling or stop.wait())
    finally:
        log.info("stopping: finishing the updates already received")
        stop.set()
        if polling is not None and not polling.done():
            await asyncio.wait([polling])  # a failure of its own propagates after the cleanup
        await runner.cleanup()
        for platform in platforms:
            await platform.stop()
        if application is not None:
            await _stop_telegram(application, inbox)
        else:
            await finish(core)
            await db.close()


async def _start_telegram(application: InstrumentedApplication, settings: Settings,
                          inbox: Inbox[Update] | None,
                          stop: asyncio.Event) -> asyncio.Task[None] | None:
    """Telegram's updates flowing: stored webhook updates taken up, or long polling."""
    await application.start()
    bot = application.bot
    if inbox is not None:
        await inbox.start()
        register = partial(bot.set_webhook, settings.webhook_url or "",
                           secret_token=webhook_secret(settings), allowed_updates=ALLOWED_UPDATES)
    else:
        register = bot.delete_webhook
    if await when_reachable(register, stop) and inbox is None:
        return asyncio.create_task(poll(application, ALLOWED_UPDATES, stop))
    return None


async def _stop_telegram(application: InstrumentedApplication,
                         inbox: Inbox[Update] | None) -> None:
    await application.stop()
    if inbox is not None:
        await inbox.stop()
    if application.post_stop:
        await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)

