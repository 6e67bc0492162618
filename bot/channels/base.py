"""The boundary between the conversation core and a messenger: neutral events in, a few
operations out. An adapter translates its platform to these and knows nothing of our tables;
the core and the flows know nothing of any SDK.

Ids here are the platform's own, as strings (Telegram's `-100123`, Feishu's `oc_…`/`ou_…`);
the core maps them to the numbers our tables key on (bot/services/identities.py).

Text is the small markup every adapter renders: HTML-escaped text with `<b>`, `<code>` and
`<a href="mention:USER_ID">name</a>` (a person named so that the platform notifies them).
"""

from __future__ import annotations

import html
import re
from collections import OrderedDict
from collections.abc import AsyncIterable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

ChatKind = Literal["private", "group"]
REMEMBERED = 5000
MENTION = re.compile(r'<a href="mention:([^"]+)">([^<]*)</a>')


def render(text: str, *, mention: Callable[[str, str], str] = lambda _user, name: f"@{name}",
           bold: str = "", code: str = "") -> str:
    """Our markup in a platform's terms: each mention as `mention(user id, name)`, `<b>` and
    `<code>` as the platform's marks (none: plain text), the rest unescaped."""
    text = MENTION.sub(lambda m: mention(m.group(1), m.group(2)), text)
    text = re.sub(r"</?b>", bold, text)
    text = re.sub(r"</?code>", code, text)
    return html.unescape(re.sub(r"</?i>", "", text))


def sent_at(stamp: object) -> datetime:
    """When a platform says something was sent (seconds or milliseconds since the epoch); now
    when it does not say."""
    try:
        value = int(stamp)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, UTC)


@dataclass(frozen=True)
class Person:
    id: str
    name: str = ""
    username: str | None = None
    is_bot: bool = False


@dataclass(frozen=True)
class Place:
    """A chat: a person's private chat with the bot, or a group."""

    id: str
    kind: ChatKind
    title: str = ""


@dataclass(frozen=True)
class Attachment:
    """A file or photo a user sent; `ref` is whatever the adapter needs to download it."""

    kind: Literal["file", "photo"]
    name: str
    size: int | None
    ref: str
    unique: str = ""
    """The same file sent twice has the same `unique` (Telegram's file_unique_id)."""


@dataclass(frozen=True)
class Replied:
    """The message a message answers (or, for a tap, the message the button is on)."""

    message_id: str
    sender: Person | None = None
    by_bot: bool = False
    text: str = ""
    attachment: Attachment | None = None
    reply_to_text: str = ""
    """For the bot's own message: the text of the message it answered (a question, for 更多)."""


@dataclass(frozen=True)
class Event:
    """What happened: a message (text, command, file), a tap on a button, or a membership change."""

    platform: str
    kind: Literal["message", "action", "membership"]
    chat: Place
    sender: Person
    at: datetime
    event_id: str = ""
    message_id: str = ""
    text: str = ""
    """A message's text, or a file's caption."""
    is_command: bool = False
    """The text starts with a command the platform recognised as one (`/checkin`)."""
    mentioned: bool = False
    reply_to: Replied | None = None
    attachment: Attachment | None = None
    has_other_content: bool = False
    """A sticker, voice, location…: something the bot cannot read."""
    action: str | None = None
    """A tapped button's value; the button's message is `reply_to`."""
    action_ref: str = ""
    """What the adapter needs to answer the tap."""
    joined: tuple[Person, ...] = ()
    left: Person | None = None
    bot_joined: bool = False
    """A membership change of the bot itself that added it to the chat."""
    bot_present: bool | None = None
    """For a membership change of the bot itself: whether it is in the chat after it."""


@dataclass(frozen=True)
class Button:
    label: str
    value: str


@dataclass(frozen=True)
class Content:
    """A message as we describe it once: text in the markup above and rows of buttons; each
    adapter renders it (a Telegram message with an inline keyboard, a Feishu card)."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    title: str = ""

    @staticmethod
    def of(text: str, buttons: Sequence[Sequence[tuple[str, str]]] = ()) -> Content:
        return Content(text, tuple(tuple(Button(label, value) for label, value in row)
                                   for row in buttons))

    @staticmethod
    def plain(text: str, buttons: Sequence[Sequence[tuple[str, str]]] = ()) -> Content:
        """Plain text (a post's), escaped into the markup."""
        return Content.of(html.escape(text, quote=False), buttons)


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do, for the flows that differ."""

    member_list: bool = False
    """The chat's members can be listed (else 应到 comes from who was seen, or the 名册)."""
    admin_list: bool = True
    """The platform says who administers a group (else secretaries are granted with /grant)."""
    join_events: bool = True
    """The platform tells the bot it was added to a group (else a global admin binds the
    branch with /bind)."""
    edit_interval: float = 3.0
    """Seconds between two edits of one message that the platform tolerates in a burst."""
    edits_untapped: bool = True
    """A message can be edited at any time (WeCom's cards only within 5 s of a tap on them)."""
    max_text: int = 4096


class Remembered(OrderedDict[Hashable, Any]):
    """A bounded map, for what an adapter remembers of what its platform does not carry: the
    oldest entries go first."""

    def put(self, key: Hashable, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > REMEMBERED:
            self.popitem(last=False)


class Unreachable(Exception):
    """The chat or person cannot be written to (never started the bot, blocked it, removed it)."""


class SendUncertain(Exception):
    """The request may or may not have reached the platform: sending again may duplicate."""


class TooLarge(Exception):
    """A file past the bound its download was given: not read further. `name`: the file's
    name, when the platform gave it before the body."""

    def __init__(self, limit: int, name: str | None = None) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit, self.name = limit, name


async def read_bounded(chunks: AsyncIterable[bytes], limit: int, *,
                       declared: int | None = None, name: str | None = None) -> bytes:
    """A download's body, read no further than `limit` bytes (nor at all when its declared
    length is over): a member's file cannot fill the bot's memory."""
    if declared is not None and declared > limit:
        raise TooLarge(limit, name)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise TooLarge(limit, name)
    return bytes(body)


@dataclass
class Sent:
    message_id: str


class Channel(Protocol):
    """The operations a flow needs from a messenger, by the platform's ids."""

    platform: str
    capabilities: Capabilities
    bot: Person

    async def send(self, chat: str, content: Content, *, reply_to: str | None = None,
                   quote: bool = False) -> Sent: ...

    async def edit(self, chat: str, message_id: str, content: Content) -> None: ...

    async def clear_buttons(self, chat: str, message_id: str) -> None: ...

    async def answer(self, event: Event, text: str = "", *, alert: bool = False) -> None: ...

    async def send_image(self, chat: str, data: bytes, *, filename: str, caption: str = "",
                         reply_to: str | None = None) -> None: ...

    async def send_file(self, chat: str, data: bytes, *, filename: str,
                        caption: str = "") -> None: ...

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        """The file's bytes; TooLarge past `limit` (read no further)."""
        ...

    async def is_admin(self, chat: str, user: str) -> bool: ...

    async def admins(self, chat: str) -> list[Person]: ...

    async def members(self, chat: str) -> list[Person] | None: ...
