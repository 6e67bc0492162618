"""The conversation core: every flow is written once, against neutral events and operations
(bot/channels/base.py), and runs the same on every messenger.

An adapter turns what its platform delivers into an `Event` and calls `Core.handle`; the core
numbers the ids (bot/services/identities.py), finds the flows that take the event, and gives
each a `Flow`: who is acting, the command's words, and the operations to answer with. Feature
modules export `ROUTES`: {group: [route, …]}; groups run in ascending order, in each group the
first route that takes the event runs, and a flow raising `StopFlow` ends the event there.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from bot.channels.base import (
    Attachment,
    Channel,
    Content,
    Event,
    SendUncertain,
    Sent,
    TooLarge,
    Unreachable,
)
from bot.gathered import Gathered
from bot.services import Services, UserError, choices, utc_now
from bot.services.identities import TELEGRAM, external_of, is_telegram, number_of
from bot.services.people import Actor, remember

log = logging.getLogger(__name__)

T = TypeVar("T")
Run = Callable[["Flow"], Awaitable[None]]

ADMIN_CACHE_SECONDS = 300
MESSAGE = "msg:"
"""How a message id is told from a person's in the identity table."""


class StopFlow(Exception):
    """Raised by a flow that consumed the event: no later group sees it."""


@dataclass(frozen=True)
class Command:
    """`/name args…` typed as a command (not a file's caption)."""

    name: str
    run: Run


@dataclass(frozen=True)
class Tap:
    """A button whose value matches `pattern` (every button when None)."""

    pattern: str | None
    run: Run


@dataclass(frozen=True)
class OnMessage:
    """A message `when` accepts (text, file, anything in a group…)."""

    when: Callable[[Event], bool]
    run: Run


@dataclass(frozen=True)
class OnEvent:
    """Every event `when` accepts, of any kind: the organization gate, membership changes."""

    when: Callable[[Event], bool]
    run: Run


Route = Command | Tap | OnMessage | OnEvent


def is_text(event: Event) -> bool:
    """A text message that is not a command."""
    return (event.kind == "message" and event.attachment is None and bool(event.text)
            and not event.is_command and not event.has_other_content)


def command_of(event: Event, bot_username: str) -> tuple[str, list[str]] | None:
    """(name, words) of a command addressed to us: `/name` or `/name@ourname`."""
    if event.kind != "message" or not event.is_command or event.attachment is not None:
        return None
    words = event.text.split()
    if not words:
        return None
    first, *words = words
    name, _, target = first[1:].partition("@")
    if target and target.lower() != bot_username.lower():
        return None
    return name.lower(), words


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def mention(user: str, name: str) -> str:
    """A person named so the platform notifies them (the markup of bot/channels/base.py)."""
    return f'<a href="mention:{escape(user)}">{escape(name)}</a>'


class Flow:
    """One event on its way through the flows: who acts, where, and how to answer."""

    def __init__(self, core: Core, channel: Channel, event: Event, chat_id: int, user_id: int,
                 is_global_admin: bool) -> None:
        self.core, self.channel, self.event = core, channel, event
        self.services = core.services
        self.chat_id, self.user_id = chat_id, user_id
        self.is_global_admin = is_global_admin
        self.args: list[str] = []
        self.match: re.Match[str] | None = None
        self._actor: Actor | None = None

    # --- who and where -------------------------------------------------------------------

    @property
    def in_group(self) -> bool:
        return self.event.chat.kind == "group"

    @property
    def is_tap(self) -> bool:
        return self.event.kind == "action"

    @property
    def bot_username(self) -> str:
        return self.channel.bot.username or ""

    @property
    def text(self) -> str:
        return self.event.text

    async def actor(self) -> Actor:
        """The acting user in this chat; group admin status from the platform, cached."""
        if self._actor is None:
            event = self.event
            is_admin = False
            if self.in_group:
                is_admin = await self.core.is_admin(self.channel, event.chat.id, event.sender.id)
            actor = Actor(
                user_id=self.user_id, name=event.sender.name,
                username=event.sender.username, chat_id=self.chat_id,
                chat_type="supergroup" if self.in_group else "private",
                chat_title=event.chat.title, is_chat_admin=is_admin,
                is_global_admin=self.is_global_admin,
            )
            # an event may carry no name (a DingTalk tap, a Feishu private message): the stored
            # one, never overwritten with a bare id
            self._actor = replace(actor, name=await self.core.remember_once(
                actor, unnamed=event.sender.id))
        return self._actor

    async def number(self, external: str, *, group: bool = False) -> int:
        """Our number for another id of this platform (a replied-to member, say)."""
        return await self.core.number(self.event.platform, external, group=group)

    async def replied_user(self) -> int | None:
        """The person the message replies to (not the bot), for commands naming a member so."""
        replied = self.event.reply_to
        if self.event.kind != "message" or replied is None or replied.sender is None:
            return None
        if replied.by_bot or replied.sender.is_bot:
            return None
        return await self.number(replied.sender.id)

    async def message_number(self) -> int | None:
        """Our number for the message being handled (for a tap, the button's message): a
        redelivered command finds its record."""
        if not self.event.message_id:
            return None
        return await self.core.message_number(self.chat_id, self.event.message_id)

    def button_id(self) -> int:
        """The record number in a tapped button's value, e.g. 12 in `att:in:12`."""
        assert self.match is not None, "a Tap route matched this button"
        return int(self.match.group(1))

    # --- answering -----------------------------------------------------------------------

    async def reply(self, text: str, buttons: Iterable[Iterable[tuple[str, str]]] = (), *,
                    quote: bool | None = None) -> Sent:
        """Answer in this chat (under the user's message in groups), in the markup."""
        content = Content.of(self.core.fit(self.channel, text), [list(r) for r in buttons])
        reply_to = self.event.message_id or None
        return await self.channel.send(self.event.chat.id, content, reply_to=reply_to,
                                       quote=self.in_group if quote is None else quote)

    async def answer(self, text: str = "", *, alert: bool = False) -> None:
        """Answer a tap (a short notice); nothing for a message."""
        if self.is_tap:
            await self.channel.answer(self.event, text[:200], alert=alert)

    async def tell(self, text: str) -> None:
        """A short result: the tap's notice, or a reply to a command."""
        if self.is_tap:
            await self.answer(text)
        else:
            await self.reply(escape(text))

    async def edit(self, text: str, buttons: Iterable[Iterable[tuple[str, str]]] = ()) -> None:
        """Replace the message whose button was tapped."""
        assert self.is_tap and self.event.reply_to is not None
        await self.channel.edit(self.event.chat.id, self.event.reply_to.message_id,
                                Content.of(text, [list(r) for r in buttons]))

    async def clear_buttons(self) -> None:
        """Take the buttons off the message whose button was tapped."""
        assert self.is_tap and self.event.reply_to is not None
        await self.channel.clear_buttons(self.event.chat.id, self.event.reply_to.message_id)

    async def send(self, chat_id: int, text: str,
                   buttons: Iterable[Iterable[tuple[str, str]]] = ()) -> Sent:
        """Send to one of our chats (a member's number is their private chat)."""
        channel, chat = await self.core.route(chat_id)
        return await channel.send(chat, Content.of(self.core.fit(channel, text),
                                                   [list(r) for r in buttons]))

    async def privately(self, text: str) -> None:
        """To the acting user's private chat; one who cannot be reached is told how to fix it,
        and the text never falls back to the group."""
        await self.core.privately(self.send(self.user_id, text))

    async def send_image(self, chat_id: int, data: bytes, *, filename: str,
                         caption: str = "", here: bool = False) -> None:
        channel, chat = await self.core.route(chat_id)
        reply_to = self.event.message_id if here and self.in_group and not self.is_tap else None
        await channel.send_image(chat, data, filename=filename, caption=caption,
                                 reply_to=reply_to)

    async def send_file(self, chat_id: int, data: bytes, *, filename: str,
                        caption: str = "") -> None:
        channel, chat = await self.core.route(chat_id)
        await channel.send_file(chat, data, filename=filename, caption=caption)

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        """The file's bytes, read no further than `limit`: past it the user is told."""
        try:
            return await self.channel.download(attachment, limit)
        except TooLarge as exc:
            raise UserError(f"文件过大（超过 {limit / 2**20:g}MB 的上限），未处理。") from exc

    async def is_admin_of(self, chat_id: int) -> bool:
        """Whether the acting user administers one of our groups, per its platform."""
        channel, chat = await self.core.route(chat_id)
        return await self.core.is_admin(channel, chat, self.event.sender.id)

    async def hold(self, key: str, value: dict[str, Any]) -> None:
        """Keep what the acting user is asked to choose about until they answer (a tap that
        may reach another replica)."""
        await self.services.db.run(
            lambda session: choices.hold(session, self.user_id, key, value, utc_now()))

    async def take(self, key: str) -> dict[str, Any] | None:
        """What `hold` kept for the acting user (None when nothing, or lapsed), forgotten."""
        return await self.services.db.run(
            lambda session: choices.take(session, self.user_id, key, utc_now()))


@dataclass
class Core:
    """Routes events to the flows and holds what they share across events in this process."""

    services: Services
    features: list[ModuleType]
    channels: dict[str, Channel] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    on_failure: Callable[[Exception], None] | None = None
    """Told of every failure the core handles (the adapter's metrics count them)."""

    def __post_init__(self) -> None:
        self.routes: list[tuple[int, list[Route]]] = []
        groups: dict[int, list[Route]] = {}
        for feature in self.features:
            for group, routes in feature.ROUTES.items():
                groups.setdefault(group, []).extend(routes)
        self.routes = sorted(groups.items())
        self._numbers: dict[tuple[str, str], int] = {}
        self._numbering: Gathered[tuple[str, str, bool], int] = Gathered(self._number_all)
        self._externals: dict[int, tuple[str, str]] = {}
        self._admins: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self._remembered: dict[tuple[int, int], tuple[str, str | None, str]] = {}

    @property
    def commands(self) -> set[str]:
        return {route.name for _, routes in self.routes for route in routes
                if isinstance(route, Command)}

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.platform] = channel

    # --- ids -----------------------------------------------------------------------------

    async def number(self, platform: str, external: str, *, group: bool) -> int:
        if platform == TELEGRAM:
            return int(external)
        key = (platform, external)
        if key not in self._numbers:
            number = await self._numbering.submit((platform, external, group))
            self._numbers[key] = number
            self._externals[number] = key
        return self._numbers[key]

    async def _number_all(self, ids: list[tuple[str, str, bool]]) -> list[int]:
        """The numbers of ids first seen together, in one transaction: in a storm of first taps
        one write for the members that arrived meanwhile, not one each."""
        return await self.services.db.run(lambda session: [
            number_of(session, platform, external, group=group)
            for platform, external, group in ids])

    async def _external(self, number: int) -> tuple[str, str]:
        if is_telegram(number):
            return TELEGRAM, str(number)
        if number not in self._externals:
            self._externals[number] = await self.services.db.run(
                lambda session: external_of(session, number))
        return self._externals[number]

    async def route(self, chat_id: int) -> tuple[Channel, str]:
        """The channel and the platform's id to reach one of our chats."""
        platform, external = await self._external(chat_id)
        channel = self.channels.get(platform)
        if channel is None:
            raise Unreachable(f"{platform} is not running in this process")
        return channel, external

    async def message_number(self, chat_id: int, external: str) -> int:
        """Our number for a message the platform names `external` (stored on posts)."""
        channel, _ = await self.route(chat_id)
        if channel.platform == TELEGRAM:
            return int(external)
        return await self.number(channel.platform, MESSAGE + external, group=False)

    def is_global_admin(self, platform: str, user: str) -> bool:
        admins = self.services.settings.admins
        if platform == TELEGRAM:
            return user.lstrip("-").isdigit() and int(user) in admins
        return f"{platform}:{user}" in admins

    async def is_admin(self, channel: Channel, chat: str, user: str) -> bool:
        """The platform's word on who administers a group, asked at most every 5 minutes."""
        key = (channel.platform, chat, user)
        hit = self._admins.get(key)
        if hit and self.clock() - hit[0] < ADMIN_CACHE_SECONDS:
            return hit[1]
        try:
            answer = await channel.is_admin(chat, user)
        except (Unreachable, SendUncertain):
            log.warning("could not ask %s who administers chat %s", channel.platform, chat)
            answer = False
        self._admins[key] = (self.clock(), answer)
        return answer

    def forget_admins(self) -> None:
        self._admins.clear()

    def forget_admin(self, platform: str, chat: str, user: str) -> None:
        """Drop one cached answer: the platform has just said it anew (DingTalk's isAdmin)."""
        self._admins.pop((platform, chat, user), None)

    async def remember_once(self, actor: Actor, *, unnamed: str) -> str:
        """Store the member and chat when first seen or renamed (not on every event: it was
        40% of a tap's work), never failing a request while the database is down; the member's
        name (`unnamed` when the event carries none and none is stored), read with that write,
        not in a round trip of its own."""
        key = (actor.user_id, actor.chat_id)
        known = self._remembered.get(key)
        names = (actor.name or (known[0] if known else ""), actor.username, actor.chat_title)
        if known == names:
            return known[0]
        try:
            name = await self.services.db.run(lambda session: remember(session, actor, unnamed))
        except OperationalError:
            log.warning("could not store member %s of chat %s now", actor.user_id, actor.chat_id)
            return actor.name or unnamed
        self._remembered[key] = (name, actor.username, actor.chat_title)
        return name

    # --- sending -------------------------------------------------------------------------

    @staticmethod
    def fit(channel: Channel, text: str) -> str:
        limit = channel.capabilities.max_text
        return text if len(text) <= limit else text[: limit - 1] + "…"

    async def send(self, chat_id: int, content: Content) -> Sent:
        channel, chat = await self.route(chat_id)
        return await channel.send(chat, replace(content, text=self.fit(channel, content.text)))

    async def edit(self, chat_id: int, message: int, content: Content) -> None:
        """Replace a message we numbered (a post, with its counts)."""
        channel, chat = await self.route(chat_id)
        _, external = await self._external(message)
        await channel.edit(chat, external.removeprefix(MESSAGE), content)

    @staticmethod
    async def privately(sending: Awaitable[T]) -> T:
        try:
            return await sending
        except Unreachable as exc:
            log.info("private delivery failed: %s", exc)
            raise UserError(NOT_REACHABLE) from exc

    # --- handling ------------------------------------------------------------------------

    async def handle(self, channel: Channel, event: Event) -> None:
        """Run the flows that take this event; every failure is logged and told politely."""
        flow: Flow | None = None
        try:
            group = event.chat.kind == "group"
            chat_id = await self.number(event.platform, event.chat.id, group=group)
            user_id = await self.number(event.platform, event.sender.id, group=False)
            if not group:
                chat_id = user_id  # a private chat is keyed by its person
            flow = Flow(self, channel, event, chat_id, user_id,
                        self.is_global_admin(event.platform, event.sender.id))
            await self._run(flow)
        except Exception as error:  # noqa: BLE001 - the one place every failure ends
            await self._report(flow, error)

    async def _run(self, flow: Flow) -> None:
        event = flow.event
        for _group, routes in self.routes:
            for route in routes:
                if not self._takes(route, flow, event):
                    continue
                try:
                    await route.run(flow)
                except StopFlow:
                    return
                break

    def _takes(self, route: Route, flow: Flow, event: Event) -> bool:
        if isinstance(route, Command):
            found = command_of(event, flow.bot_username)
            if found is None or found[0] != route.name:
                return False
            flow.args = found[1]
            return True
        if isinstance(route, Tap):
            if event.kind != "action":
                return False
            if route.pattern is None:
                return True
            flow.match = re.match(route.pattern, event.action or "")
            return flow.match is not None
        if isinstance(route, OnMessage):
            return event.kind == "message" and route.when(event)
        return route.when(event)

    async def _report(self, flow: Flow | None, error: Exception) -> None:
        if self.on_failure is not None:
            self.on_failure(error)
        if isinstance(error, UserError) and flow is not None:
            await self._tell_failure(flow, str(error))
            return
        if isinstance(error, SendUncertain):
            # the request may well have reached the platform: a second answer would duplicate
            log.warning("send may not have reached the platform: %r", error)
            return
        log.error("event failed: %r", error, exc_info=error)
        if flow is None:
            return
        if isinstance(error, OperationalError):
            text = "系统暂时繁忙（数据库不可用），请稍后重试。"
        else:
            text = "抱歉，处理您的请求时出错了，请稍后重试；如多次失败请联系支部书记。"
        await self._tell_failure(flow, text)

    @staticmethod
    async def _tell_failure(flow: Flow, text: str) -> None:
        try:
            if flow.is_tap:
                await flow.answer(text, alert=True)
            else:
                await flow.reply(escape(text))
        except (Unreachable, SendUncertain):
            log.warning("could not tell the user of a failure", exc_info=True)


NOT_REACHABLE = "请先私聊我发送 /start，我才能把结果私信给您（名单和台账只通过私聊发送）。"
