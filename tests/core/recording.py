"""A channel that records what the core asks of a messenger: the flows tested once, for every
platform. Its platform is not Telegram, so ids are strings numbered by the identity table."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.channels.base import (
    Attachment,
    Capabilities,
    Content,
    Event,
    Person,
    Place,
    Replied,
    Sent,
    TooLarge,
    Unreachable,
)
from bot.core import Core


@dataclass
class Op:
    name: str
    chat: str
    content: Content | None = None
    message_id: str = ""
    text: str = ""
    alert: bool = False
    data: bytes = b""
    filename: str = ""


@dataclass
class RecordingChannel:
    platform: str = "rec"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(member_list=True))
    bot: Person = field(default_factory=lambda: Person("bot_1", "党建助手", "dangjian_bot", True))
    ops: list[Op] = field(default_factory=list)
    admins_of: dict[str, set[str]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    """Private chats that cannot be written to (never opened the bot)."""
    files: dict[str, bytes] = field(default_factory=dict)
    messages: dict[str, Content] = field(default_factory=dict)
    listed: dict[str, list[Person]] = field(default_factory=dict)
    """Groups whose member list the platform gives."""
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def send(self, chat: str, content: Content, *, reply_to: str | None = None,
                   quote: bool = False) -> Sent:
        if chat in self.closed:
            raise Unreachable(f"{chat} never opened the bot")
        message_id = f"om_{next(self._ids)}"
        self.messages[message_id] = content
        self.ops.append(Op("send", chat, content, message_id))
        return Sent(message_id)

    async def edit(self, chat: str, message_id: str, content: Content) -> None:
        self.messages[message_id] = content
        self.ops.append(Op("edit", chat, content, message_id))

    async def clear_buttons(self, chat: str, message_id: str) -> None:
        self.ops.append(Op("clear_buttons", chat, message_id=message_id))

    async def answer(self, event: Event, text: str = "", *, alert: bool = False) -> None:
        self.ops.append(Op("answer", event.chat.id, text=text, alert=alert))

    async def send_image(self, chat: str, data: bytes, *, filename: str, caption: str = "",
                         reply_to: str | None = None) -> None:
        if chat in self.closed:
            raise Unreachable(chat)
        self.ops.append(Op("image", chat, text=caption, data=data, filename=filename))

    async def send_file(self, chat: str, data: bytes, *, filename: str,
                        caption: str = "") -> None:
        if chat in self.closed:
            raise Unreachable(chat)
        self.ops.append(Op("file", chat, text=caption, data=data, filename=filename))

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        if len(self.files[attachment.ref]) > limit:
            raise TooLarge(limit)
        return self.files[attachment.ref]

    async def is_admin(self, chat: str, user: str) -> bool:
        return user in self.admins_of.get(chat, set())

    async def admins(self, chat: str) -> list[Person]:
        return [Person(user) for user in sorted(self.admins_of.get(chat, set()))]

    async def members(self, chat: str) -> list[Person] | None:
        return self.listed.get(chat)

    def sent(self, chat: str | None = None) -> list[Op]:
        return [op for op in self.ops if op.name == "send" and chat in (None, op.chat)]

    def answers(self) -> list[str]:
        return [op.text for op in self.ops if op.name == "answer"]


class Talk:
    """Events as a person of the recording platform makes them."""

    def __init__(self, core: Core, channel: RecordingChannel) -> None:
        self.core, self.channel = core, channel
        self._ids = itertools.count(1)

    async def say(self, text: str, *, user: str, chat: str | None = None,
                  attachment: Attachment | None = None, reply_to: str | None = None,
                  name: str = "") -> list[Op]:
        place = Place(chat, "group", "第一支部群") if chat else Place(user, "private")
        event = Event(platform="rec", kind="message", chat=place,
                      sender=Person(user, name or f"成员{user}"), at=datetime.now(UTC),
                      event_id=f"ev_{next(self._ids)}", message_id=f"in_{next(self._ids)}",
                      text=text, is_command=text.startswith("/"),
                      mentioned="@dangjian_bot" in text, attachment=attachment)
        return await self._handle(event)

    async def tap(self, message: Op, label: str, *, user: str, name: str | None = None
                  ) -> list[Op]:
        """`name`: what the tap says of its sender ("": nothing, as on DingTalk)."""
        assert message.content is not None
        value = next(b.value for row in message.content.buttons for b in row if b.label == label)
        place = Place(message.chat, "group" if message.chat.startswith("oc_") else "private")
        sender = Person(user, f"成员{user}" if name is None else name)
        event = Event(platform="rec", kind="action", chat=place, sender=sender,
                      at=datetime.now(UTC), event_id=f"ev_{next(self._ids)}",
                      message_id=message.message_id, action=value, action_ref=value,
                      reply_to=Replied(message.message_id, self.channel.bot, True,
                                       message.content.text))
        return await self._handle(event)

    async def _handle(self, event: Event) -> list[Op]:
        before = len(self.channel.ops)
        await self.core.handle(self.channel, event)
        return self.channel.ops[before:]
