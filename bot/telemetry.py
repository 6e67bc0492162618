"""What operators see of a running bot: one log line per update and Prometheus figures.

Private messages never reach the logs: a line names the chat, the user, the command (never its
arguments or any text), the outcome and the time taken.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import OperationalError
from telegram import Update
from telegram.ext import Application

from bot.services.errors import RetryLater, UserError

log = logging.getLogger("dangjian.updates")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The process's Prometheus figures, on a registry of its own (one per Application)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "dangjian_updates", "Updates handled, by kind and outcome", ["kind", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "dangjian_errors", "Updates whose handling failed unexpectedly",
            registry=self.registry,
        )
        self.latency = Histogram(
            "dangjian_handler_seconds", "Time to handle one update, all handlers included",
            ["kind"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.webhook_rejected = Counter(
            "dangjian_webhook_rejected", "Webhook requests refused, by reason", ["reason"],
            registry=self.registry,
        )
        self.uncertain_sends = Counter(
            "dangjian_uncertain_sends", "Messages posted without an answer saying whether "
            "Telegram delivered them (a timeout, 5xx or dropped connection): never repeated",
            ["method"], registry=self.registry,
        )
        self.recovered_updates = Counter(
            "dangjian_updates_recovered", "Stored webhook updates taken up again because the "
            "process that received them stopped before handling them", registry=self.registry,
        )

    def count_reminders_with(self, read: Callable[[], float]) -> None:
        """Report dangjian_reminders_sent_total as `read()` says at each scrape (the delivery
        rows are the record, so the engine needs no hook)."""
        self.registry.register(_Reading(
            "dangjian_reminders_sent", "Reminder messages this process delivered", read))

    def render(self) -> bytes:
        """The Prometheus text exposition of every figure."""
        return generate_latest(self.registry)


class _Reading(Collector):
    """A counter read at scrape time; left out of the page while it cannot be read."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def collect(self) -> Iterator[CounterMetricFamily]:
        try:
            value = self.read()
        except Exception as exc:  # e.g. the database is away: the other figures still matter
            log.warning("metric %s unavailable: %r", self.name, exc)
            return
        yield CounterMetricFamily(self.name, self.documentation, value=value)


@dataclass
class _Trace:
    error: Exception | None = None


_current: ContextVar[_Trace | None] = ContextVar("dangjian_update_trace", default=None)


class InstrumentedApplication(Application):  # type: ignore[type-arg]
    """An Application that times every update, logs it on one line and counts it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = Metrics()
        self._commands: frozenset[str] | None = None

    async def process_update(self, update: object) -> None:
        trace, started = _Trace(), time.perf_counter()
        token = _current.set(trace)
        try:
            await super().process_update(update)
        finally:
            _current.reset(token)
            if isinstance(update, Update):
                self._account(update, trace.error, time.perf_counter() - started)

    async def process_error(self, update: object | None, error: Exception, job: Any = None,
                            coroutine: Any = None) -> bool:
        self.note_failure(error)
        return await super().process_error(update, error, job, coroutine)

    @staticmethod
    def note_failure(error: Exception) -> None:
        """How the update being handled ended, for its log line and metrics."""
        trace = _current.get()
        if trace is not None and trace.error is None:
            trace.error = error

    def _account(self, update: Update, error: Exception | None, seconds: float) -> None:
        command, kind = self._describe(update)
        outcome = outcome_of(error)
        self.metrics.updates.labels(kind, outcome).inc()
        self.metrics.latency.labels(kind).observe(seconds)
        if outcome in ("error", "db_unavailable"):
            self.metrics.errors.inc()
        chat, user = update.effective_chat, update.effective_user
        log.info(
            "update id=%s chat=%s chat_type=%s user=%s command=%s outcome=%s ms=%.1f",
            update.update_id, chat.id if chat else "-", chat.type if chat else "-",
            user.id if user else "-", command, outcome, seconds * 1000,
        )

    def _describe(self, update: Update) -> tuple[str, str]:
        """(what the log shows, the bounded metrics label) for an update; never its text."""
        if update.callback_query is not None:
            data = update.callback_query.data or ""
            return "cb:" + ":".join(re.findall(r"[A-Za-z_]+", data)[:2])[:32], "callback"
        message = update.effective_message
        if update.message is not None and message is not None:
            text = message.text or ""
            match = re.match(r"/([A-Za-z0-9_]+)", text)
            if match:
                name = match.group(1).lower()
                known = name in self._known_commands()
                return ("/" + name if known else "/unknown"), ("/" + name if known else "/unknown")
            if message.document is not None:
                return "document", "document"
            return ("text", "text") if message.text is not None else ("other", "other")
        if update.my_chat_member is not None:
            return "membership", "membership"
        return "other", "other"

    def _known_commands(self) -> frozenset[str]:
        if self._commands is None:
            self._commands = frozenset(self.bot_data["core"].commands)
        return self._commands


def outcome_of(error: Exception | None) -> str:
    """How handling ended: ok, a user's mistake or refusal, the database away, or a bug."""
    if error is None:
        return "ok"
    if isinstance(error, (RetryLater, OperationalError)):
        return "db_unavailable"
    if isinstance(error, UserError):
        return "refused"
    return "error"

