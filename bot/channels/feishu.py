"""Feishu (飞书), on lark-oapi: its events into neutral events, neutral operations into Open API
calls (bot/feishu/api.py). It knows nothing of our tables.

What Feishu does not carry, the channel remembers for a while (per process; across replicas a
tap may miss it and the flow says so): which chats are private, members' names (the message
event has none: they come from the chat's member list), the bot's own recent messages (to know
that a message replies to the bot) and the question a card answered (for 更多).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from bot.channels.base import (
    Attachment,
    Capabilities,
    Content,
    Event,
    Person,
    Place,
    Remembered,
    Replied,
    SendUncertain,
    Sent,
    Unreachable,
    render,
    sent_at,
)
from bot.feishu.api import FeishuApi, FeishuError
from bot.http import SendUncertain as HttpUncertain

log = logging.getLogger(__name__)

PLATFORM = "feishu"
NAMES_FOR_SECONDS = 600.0
ADMINS_FOR_SECONDS = 300.0
UNREACHABLE_CODES = {230002, 230006, 230013, 230027, 232011, 99992361, 230001}
"""Feishu's answers for a chat the bot is not in or may not write to, a user who never used the
app, a message that is gone."""


def as_text(text: str) -> str:
    """Our markup as a Feishu text message: mentions as <at>, everything else plain."""
    return render(text, mention=lambda user, name: f'<at user_id="{user}">{name}</at>')


def as_markdown(text: str) -> str:
    """Our markup as a card's lark_md."""
    return render(text, mention=lambda user, _name: f"<at id={user}></at>", bold="**",
                  code="`")


def card(content: Content) -> dict[str, Any]:
    """A message with buttons as an interactive card, rendered from our own tables each time
    (the card is never the record). `update_multi`: everyone sees the update."""
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {
        "tag": "lark_md", "content": as_markdown(content.text)}}]
    for row in content.buttons:
        elements.append({"tag": "action", "actions": [
            {"tag": "button", "text": {"tag": "plain_text", "content": b.label},
             "type": "primary" if n == 0 else "default", "value": {"v": b.value}}
            for n, b in enumerate(row)]})
    found: dict[str, Any] = {"config": {"wide_screen_mode": True, "update_multi": True},
                             "elements": elements}
    if content.title:
        found["header"] = {"title": {"tag": "plain_text", "content": content.title}}
    return found



class FeishuChannel:
    """Neutral operations on the Open API; events decoded from the long connection or the
    HTTP callback turned into neutral events (`to_event`)."""

    platform = PLATFORM
    capabilities = Capabilities(member_list=True, admin_list=True, edit_interval=1.0,
                                max_text=4000)

    def __init__(self, api: FeishuApi, clock: Any = time.monotonic) -> None:
        self.api = api
        self.bot = Person("", "党建助手", None, True)
        self.clock = clock
        self.private: Remembered = Remembered()  # chat id -> the person's open_id
        self.modes: Remembered = Remembered()  # chat id -> p2p or group
        self.names: Remembered = Remembered()  # open_id -> name
        self._names_of: dict[str, float] = {}  # chat id -> when its members were read
        self.ours: Remembered = Remembered()  # message id -> its text (the bot's own)
        self.texts: Remembered = Remembered()  # message id -> text (members' messages)
        self.asked: Remembered = Remembered()  # the bot's message id -> what it answered
        self.toasts: dict[str, asyncio.Future[tuple[str, bool]]] = {}
        self.admins_of: dict[str, tuple[float, set[str]]] = {}

    async def start(self) -> None:
        info = await self.api.bot_info()
        self.bot = Person(info.open_id, info.name or "党建助手", None, True)

    # --- events --------------------------------------------------------------------------

    async def to_event(self, envelope: dict[str, Any]) -> Event | None:
        """The neutral event of a decoded Feishu event (schema 2.0), or None for kinds the
        flows do not take."""
        header = envelope.get("header") or {}
        kind = header.get("event_type", "")
        body = envelope.get("event") or {}
        event_id = str(header.get("event_id", ""))
        if kind == "im.message.receive_v1":
            return await self._message(body, event_id)
        if kind == "card.action.trigger":
            return await self._action(body, event_id)
        if kind in ("im.chat.member.bot.added_v1", "im.chat.member.bot.deleted_v1"):
            added = kind.endswith("added_v1")
            operator = (body.get("operator_id") or {}).get("open_id", "")
            return Event(platform=PLATFORM, kind="membership", event_id=event_id,
                         chat=Place(body.get("chat_id", ""), "group", body.get("name", "")),
                         sender=Person(operator, self.names.get(operator, "")),
                         at=sent_at(header.get("create_time")), bot_joined=added, bot_present=added)
        if kind in ("im.chat.member.user.added_v1", "im.chat.member.user.deleted_v1"):
            users = [Person((u.get("user_id") or {}).get("open_id", ""), u.get("name", ""))
                     for u in body.get("users") or []]
            operator = (body.get("operator_id") or {}).get("open_id", "")
            place = Place(body.get("chat_id", ""), "group", body.get("name", ""))
            joined = kind.endswith("added_v1")
            return Event(platform=PLATFORM, kind="message", event_id=event_id, chat=place,
                         sender=Person(operator, self.names.get(operator, "")),
                         at=sent_at(header.get("create_time")),
                         joined=tuple(users) if joined else (),
                         left=users[0] if users and not joined else None)
        return None

    async def _message(self, body: dict[str, Any], event_id: str) -> Event | None:
        message = body.get("message") or {}
        sender = ((body.get("sender") or {}).get("sender_id") or {}).get("open_id", "")
        if (body.get("sender") or {}).get("sender_type") not in (None, "user") or not sender:
            return None
        message_id, chat_id = message.get("message_id", ""), message.get("chat_id", "")
        private = message.get("chat_type") == "p2p"
        if private:
            self.private.put(chat_id, sender)
        else:
            await self._learn_names(chat_id)
        try:
            content = json.loads(message.get("content") or "{}")
        except json.JSONDecodeError:
            content = {}
        kind = message.get("message_type")
        text, mentioned, attachment = "", False, None
        if kind == "text":
            text, mentioned = self._text(content.get("text", ""), message.get("mentions") or [])
        elif kind == "file":
            attachment = Attachment("file", content.get("file_name") or "upload.txt", None,
                                    f"{message_id}/{content.get('file_key', '')}",
                                    content.get("file_key", ""))
        elif kind == "image":
            attachment = Attachment("photo", "image.png", None,
                                    f"{message_id}/{content.get('image_key', '')}",
                                    content.get("image_key", ""))
        self.texts.put(message_id, text)
        parent = message.get("parent_id") or ""
        replied = None
        if parent:
            by_bot = parent in self.ours
            replied = Replied(parent, self.bot if by_bot else None, by_bot,
                              self.ours.get(parent) or self.texts.get(parent, ""),
                              reply_to_text=self.asked.get(parent, ""))
        place = (Place(sender, "private") if private
                 else Place(chat_id, "group", ""))
        return Event(platform=PLATFORM, kind="message", chat=place,
                     sender=Person(sender, self.names.get(sender, "")),
                     at=sent_at(message.get("create_time")), event_id=event_id,
                     message_id=message_id, text=text, is_command=text.startswith("/"),
                     mentioned=mentioned, reply_to=replied, attachment=attachment,
                     has_other_content=kind not in ("text", "file", "image"))

    def _text(self, text: str, mentions: list[dict[str, Any]]) -> tuple[str, bool]:
        """The text with the bot's @mention taken out (and whether there was one), others'
        mentions as @name."""
        mentioned = False
        for mention in mentions:
            key = mention.get("key", "")
            person = (mention.get("id") or {}).get("open_id", "")
            if person and person == self.bot.id:
                mentioned = True
                text = text.replace(key, " ")
            else:
                text = text.replace(key, f"@{mention.get('name', '')}")
        return " ".join(text.split()), mentioned

    async def _action(self, body: dict[str, Any], event_id: str) -> Event | None:
        operator = (body.get("operator") or {}).get("open_id", "")
        value = ((body.get("action") or {}).get("value") or {})
        context = body.get("context") or {}
        message_id, chat_id = context.get("open_message_id", ""), context.get("open_chat_id", "")
        if not operator or not isinstance(value, dict) or "v" not in value:
            return None
        private = await self._is_private(chat_id, operator)
        place = Place(operator, "private") if private else Place(chat_id, "group", "")
        return Event(platform=PLATFORM, kind="action", chat=place,
                     sender=Person(operator, self.names.get(operator, "")),
                     at=datetime.now(UTC), event_id=event_id, message_id=message_id,
                     action=str(value["v"]), action_ref=event_id,
                     reply_to=Replied(message_id, self.bot, True, self.ours.get(message_id, ""),
                                      reply_to_text=self.asked.get(message_id, "")))

    async def _is_private(self, chat_id: str, operator: str) -> bool:
        if chat_id in self.private:
            return True
        if chat_id not in self.modes:
            try:
                self.modes.put(chat_id, await self.api.chat_mode(chat_id))
            except (FeishuError, HttpUncertain):
                return False
        if self.modes[chat_id] == "p2p":
            self.private.put(chat_id, operator)
        return self.modes[chat_id] == "p2p"

    async def _learn_names(self, chat_id: str) -> None:
        """Members' names from the chat's list, read at most every ten minutes."""
        if self.clock() - self._names_of.get(chat_id, -1e9) < NAMES_FOR_SECONDS:
            return
        self._names_of[chat_id] = self.clock()
        try:
            for open_id, name in await self.api.chat_members(chat_id):
                self.names.put(open_id, name)
        except (FeishuError, HttpUncertain) as exc:
            log.warning("could not read the members of %s: %s", chat_id, exc)

    # --- operations ----------------------------------------------------------------------

    async def send(self, chat: str, content: Content, *, reply_to: str | None = None,
                   quote: bool = False) -> Sent:
        async def sending() -> str:
            if content.buttons:
                return await self.api.send_card(chat, card(content))
            if reply_to and quote:
                return await self.api.reply_text(reply_to, as_text(content.text))
            return await self.api.send_text(chat, as_text(content.text))

        message_id = await self._call(sending())
        self.ours.put(message_id, as_text(content.text))
        if reply_to:
            self.asked.put(message_id, self.texts.get(reply_to, ""))
        return Sent(message_id)

    async def edit(self, chat: str, message_id: str, content: Content) -> None:
        await self._call(self.api.update_card(message_id, card(content)))
        self.ours.put(message_id, as_text(content.text))

    async def clear_buttons(self, chat: str, message_id: str) -> None:
        text = self.ours.get(message_id)
        if text is not None:
            await self.edit(chat, message_id, Content(html.escape(text, quote=False)))

    async def answer(self, event: Event, text: str = "", *, alert: bool = False) -> None:
        """A tap is answered in the callback's own reply (a toast), which the runner waits
        for a moment; later, there is nothing to answer any more."""
        future = self.toasts.get(event.action_ref)
        if future is not None and not future.done():
            future.set_result((text, alert))
        elif text:
            log.info("tap %s answered too late for its toast: %s", event.action_ref, text)

    async def send_image(self, chat: str, data: bytes, *, filename: str, caption: str = "",
                         reply_to: str | None = None) -> None:
        key = await self._call(self.api.upload_image(data))
        await self._call(self.api.send_image(chat, key))
        if caption:
            await self._call(self.api.send_text(chat, caption))

    async def send_file(self, chat: str, data: bytes, *, filename: str,
                        caption: str = "") -> None:
        key = await self._call(self.api.upload_file(filename, data))
        await self._call(self.api.send_file(chat, key))
        if caption:
            await self._call(self.api.send_text(chat, caption))

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        message_id, _, key = attachment.ref.partition("/")
        kind = "image" if attachment.kind == "photo" else "file"
        return await self._call(self.api.download(message_id, key, kind, limit=limit))

    async def is_admin(self, chat: str, user: str) -> bool:
        return user in await self._admins(chat)

    async def admins(self, chat: str) -> list[Person]:
        return [Person(open_id, self.names.get(open_id, ""))
                for open_id in sorted(await self._admins(chat))]

    async def _admins(self, chat: str) -> set[str]:
        """A group's owner and managers, asked once per chat every five minutes (not once per
        member: a storm of first taps would be a storm of chat reads)."""
        read = self.admins_of.get(chat)
        if read is None or self.clock() - read[0] >= ADMINS_FOR_SECONDS:
            read = self.admins_of[chat] = (
                self.clock(), await self._call(self.api.chat_owner_and_managers(chat)))
        return read[1]

    async def members(self, chat: str) -> list[Person] | None:
        found = await self._call(self.api.chat_members(chat))
        for open_id, name in found:
            self.names.put(open_id, name)
        return [Person(open_id, name) for open_id, name in found]

    @staticmethod
    async def _call(call: Any) -> Any:
        """Feishu's refusals as the core knows them."""
        try:
            return await call
        except HttpUncertain as exc:
            raise SendUncertain(str(exc)) from exc
        except FeishuError as exc:
            if exc.code in UNREACHABLE_CODES:
                raise Unreachable(str(exc)) from exc
            raise
