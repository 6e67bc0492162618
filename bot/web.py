"""The bot as a service: the process lifecycle for long polling and webhook mode, the Telegram
webhook endpoint, and `/healthz`, `/readyz`, `/metrics` for operators.

Webhook requests are checked (secret header in constant time, size, duplicates), answered 200 at
once and handled in the background through `application.update_queue`, so Telegram never waits
on a handler and never re-sends because of one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import signal
import time
from collections import OrderedDict
from functools import partial
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, text
from sqlmodel import select
from telegram import Bot, Update
from telegram.error import BadRequest, NetworkError

from bot.config import Settings
from bot.polling import poll
from bot.telemetry import InstrumentedApplication
from storage.db import Database
from storage.models import Delivery

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # Telegram's updates are a few KB; anything near this is not Telegram
RECENT_UPDATES = 10_000  # update ids remembered to drop Telegram's re-deliveries
DB_PING_SECONDS = 3.0
START_RETRY_MOST = 30.0  # seconds between attempts to reach Telegram at start, at most
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


def decode_update(body: bytes, bot: Bot) -> Update:
    """The Update in a webhook body, or MalformedUpdate for anything Telegram would not send."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("update_id"), int):
            return Update.de_json(data, bot)
    except Exception as exc:  # de_json fails in many ways on what is not an update
        raise MalformedUpdate(repr(exc)) from exc
    raise MalformedUpdate("no update_id")


class RecentIds:
    """The last `size` update ids seen; `add` says whether an id is new."""

    def __init__(self, size: int = RECENT_UPDATES) -> None:
        self.size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    def add(self, update_id: int) -> bool:
        if update_id in self._ids:
            return False
        self._ids[update_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


class BotWebApp:
    """The aiohttp routes of one bot process; the webhook route only in webhook mode."""

    def __init__(self, application: InstrumentedApplication, settings: Settings, *,
                 webhook: bool) -> None:
        self.application = application
        self.settings = settings
        self.webhook = webhook
        self.metrics = application.metrics
        services = application.bot_data["services"]
        self.metrics.count_reminders_with(
            partial(reminders_sent, services.db, services.scheduler.worker))
        self.recent = RecentIds()
        self.started = time.monotonic()
        self._secret = webhook_secret(settings).encode()

    def build(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)
        if self.webhook:
            app.router.add_post(webhook_path(self.settings), self.on_update)
        return app

    async def on_update(self, request: web.Request) -> web.Response:
        """Telegram's POST: verify, drop repeats, queue, answer 200 without waiting."""
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return self._reject("no_secret", 401)
        if not hmac.compare_digest(given.encode(), self._secret):
            return self._reject("bad_secret", 403)
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._reject("too_large", 413)
        try:
            update = decode_update(await request.read(), self.application.bot)
        except web.HTTPRequestEntityTooLarge:
            return self._reject("too_large", 413)
        except MalformedUpdate:
            return self._reject("malformed", 400)
        if not self.recent.add(update.update_id):
            self.metrics.webhook_rejected.labels("duplicate").inc()
            return web.Response(text="duplicate")
        await self.application.update_queue.put(update)
        return web.Response(text="ok")

    def _reject(self, reason: str, status: int) -> web.Response:
        self.metrics.webhook_rejected.labels(reason).inc()
        return web.Response(status=status, text=reason)

    async def healthz(self, _request: web.Request) -> web.Response:
        """Liveness: the process serves requests."""
        return web.json_response({
            "status": "ok", "mode": "webhook" if self.webhook else "polling",
            "uptime_s": round(time.monotonic() - self.started, 1),
        })

    async def readyz(self, _request: web.Request) -> web.Response:
        """Readiness: the Application runs and the database answers."""
        database = await self._ping_database()
        ready = self.application.running and database == "ok"
        return web.json_response(
            {"status": "ready" if ready else "not ready", "database": database,
             "application": "running" if self.application.running else "stopped"},
            status=200 if ready else 503,
        )

    async def _ping_database(self) -> str:
        engine = self.application.bot_data["services"].db.engine

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


async def start_when_reachable(application: InstrumentedApplication,
                               stop: asyncio.Event) -> bool:
    """initialize() (getMe) and post_init, again while Telegram cannot be reached (a network or
    proxy still coming up): the bot starts as soon as it can instead of exiting on a traceback.
    False when told to stop first. A rejected token is not retried (InvalidToken)."""
    delay = 1.0
    while True:
        try:
            await application.initialize()
            if application.post_init:
                await application.post_init(application)
            return True
        except BadRequest:
            raise
        except NetworkError as exc:
            log.warning("Telegram Bot API unreachable (%s): retrying in %.0f s", exc, delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return False
        except TimeoutError:
            delay = min(delay * 2, START_RETRY_MOST)


async def serve(application: InstrumentedApplication, settings: Settings,
                stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop`): webhook mode when WEBHOOK_URL is set, long polling
    (bot.polling, which acknowledges only handled updates) otherwise; health and metrics on PORT
    either way. The Application is built without PTB's Updater.

    PTB calls post_init/post_stop/post_shutdown only inside run_polling/run_webhook, so they are
    called here around initialize(), start(), stop() and shutdown().
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    webhook = bool(settings.webhook_url)
    routes = BotWebApp(application, settings, webhook=webhook)
    runner = web.AppRunner(routes.build(), access_log=None, handle_signals=False)
    if not await start_when_reachable(application, stop):
        return
    await runner.setup()
    try:
        await web.TCPSite(runner, "0.0.0.0", settings.port).start()
    except OSError:
        if webhook:
            raise
        log.warning("port %s is busy: /healthz and /metrics are not served", settings.port)
    await application.start()
    if webhook:
        await application.bot.set_webhook(
            settings.webhook_url or "", secret_token=webhook_secret(settings),
            allowed_updates=ALLOWED_UPDATES,
        )
    polling = None if webhook else asyncio.create_task(poll(application, ALLOWED_UPDATES, stop))
    log.info("bot running: mode=%s port=%s", "webhook" if webhook else "polling", settings.port)
    try:
        await (polling or stop.wait())
    finally:
        log.info("stopping: finishing the updates already received")
        stop.set()
        if polling is not None and not polling.done():
            await asyncio.wait([polling])  # a failure of its own propagates after the cleanup
        await runner.cleanup()
        await application.stop()
        if application.post_stop:
            await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
