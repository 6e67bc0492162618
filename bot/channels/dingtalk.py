"""DingTalk (钉钉), in Stream mode: its robot messages and card taps into neutral events, neutral
operations into robot API calls (bot/dingtalk/api.py). It knows nothing of our tables.

How a message with buttons is shown: an interactive card of DingTalk's built-in StandardCard
template (no template to make in the console), whose buttons are `request` buttons: a tap
comes back over Stream on the card callback topic with the button's id, which is our button
value (`att:in:12`). The card's id (its cardBizId) is ours, and carries the chat it was posted
to, so a tap is placed after a restart too; counts are shown by updating the card in place.
Robot text messages cannot be edited: an edit of one posts the new text.

What DingTalk does not give, the channel remembers (per process): who administers a group (the
`isAdmin` flag each message carries, per chat and person), members' names (`senderNick`), the
bot's cards' texts and the question a card answered (for 更多). A tap has no toast on DingTalk:
its answer goes to the member privately.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import uuid
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
from bot.dingtalk.api import DingTalkApi, DingTalkError, file_type, is_group
from bot.http import RateLimited
from bot.http import SendUncertain as HttpUncertain

log = logging.getLogger(__name__)

PLATFORM = "dingtalk"
MESSAGE_TOPIC = "/v1.0/im/bot/messages/get"  # dingtalk_stream's ChatbotMessage.TOPIC
CARD_TOPIC = "/v1.0/card/instances/callback"  # its CallbackHandler.TOPIC_CARD_CALLBACK
CARD = "djc"
"""How our card ids begin: `djc<random>.<the chat, base64url>`."""
UNREACHABLE_CODES = {"invalidStaffId", "resource.not.found", "robot.not.in.group",
                     "chatbot.not.exist", "InvalidParameter.OpenConversationId"}
"""DingTalk's answers for a person not in the organization, a group the robot is not in."""


def as_text(text: str) -> str:
    """Our markup as a plain robot text message (the robot APIs cannot @ someone)."""
    return render(text)


def as_markdown(text: str) -> str:
    """Our markup as a card's markdown."""
    return render(text, bold="**", code="`").replace("\n", "  \n")


def card(content: Content) -> dict[str, Any]:
    """A StandardCard's data: the text as markdown, each row of buttons an action block whose
    buttons send their value back (`request`), rendered from our tables each time."""
    contents: list[dict[str, Any]] = [{"type": "markdown", "text": as_markdown(content.text),
                                       "id": "text"}]
    for r, row in enumerate(content.buttons):
        contents.append({"type": "action", "id": f"action_{r}", "actions": [
            {"type": "button", "actionType": "request", "id": b.value,
             "status": "primary" if n == 0 else "normal",
             "label": {"type": "text", "text": b.label, "id": f"label_{r}_{n}"}}
            for n, b in enumerate(row)]})
    found: dict[str, Any] = {"config": {"autoLayout": True, "enableForward": False},
                             "contents": contents}
    if content.title:
        found["header"] = {"title": {"type": "text", "text": content.title}}
    return found


def card_id(chat: str) -> str:
    encoded = base64.urlsafe_b64encode(chat.encode()).decode().rstrip("=")
    return f"{CARD}{uuid.uuid4().hex[:16]}.{encoded}"


def chat_of_card(card: str) -> str | None:
    """The chat a card of ours was posted to, from its id; None for any other id."""
    if not card.startswith(CARD) or "." not in card:
        return None
    encoded = card.split(".", 1)[1]
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def tapped(content: Any) -> str | None:
    """The tapped button's value in a card callback's `content`: the button's id, which
    DingTalk sends back in `cardPrivateData.actionIds`."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return None
    if not isinstance(content, dict):
        return None
    private = content.get("cardPrivateData") or {}
    ids = private.get("actionIds") or []
    return str(ids[0]) if ids else None



class DingTalkChannel:
    """Neutral operations on the robot APIs; Stream payloads turned into neutral events."""

    platform = PLATFORM
    capabilities = Capabilities(member_list=False, admin_list=True, edit_interval=1.0,
                                max_text=5000)

    def __init__(self, api: DingTalkApi) -> None:
        self.api = api
        self.bot = Person(api.robot_code, "党建助手", None, True)
        self.admin: Remembered = Remembered()  # (chat, user) -> the isAdmin flag last seen
        self.names: Remembered = Remembered()  # staffId -> nick
        self.ours: Remembered = Remembered()  # our card id -> its text
        self.texts: Remembered = Remembered()  # msgId -> text (members' messages)
        self.asked: Remembered = Remembered()  # our card id -> the question it answered
        self._answering: set[asyncio.Task[None]] = set()  # taps' answers, held against GC

    # --- events --------------------------------------------------------------------------

    def to_event(self, topic: str, data: dict[str, Any], key: str = "") -> Event | None:
        """The neutral event of a Stream callback: a robot message
        (/v1.0/im/bot/messages/get) or a card tap (/v1.0/card/instances/callback)."""
        if topic == MESSAGE_TOPIC:
            return self._message(data)
        if topic == CARD_TOPIC:
            return self._tap(data, key)
        return None

    def _message(self, data: dict[str, Any]) -> Event | None:
        sender = str(data.get("senderStaffId") or data.get("senderId") or "")
        if not sender:
            return None
        name = str(data.get("senderNick") or "")
        if name:
            self.names.put(sender, name)
        group = str(data.get("conversationType")) == "2"
        chat = str(data.get("conversationId") or "")
        if group:
            self.admin.put((chat, sender), bool(data.get("isAdmin")))
        kind = data.get("msgtype")
        content = data.get("content") or {}
        text, attachment = "", None
        if kind == "text":
            text = " ".join(str((data.get("text") or {}).get("content", "")).split())
        elif kind == "richText" and isinstance(content, dict):  # text with pictures: its text
            text = " ".join(" ".join(str(part.get("text", "")) for part in
                                     content.get("richText") or [] if isinstance(part, dict)
                                     ).split())
        elif kind == "file" and isinstance(content, dict):
            attachment = Attachment("file", str(content.get("fileName") or "upload.txt"), None,
                                    str(content.get("downloadCode", "")),
                                    str(content.get("fileId") or content.get("downloadCode", "")))
        elif kind == "picture" and isinstance(content, dict):
            code = str(content.get("downloadCode") or content.get("pictureDownloadCode") or "")
            attachment = Attachment("photo", "image.png", None, code, code)
        message_id = str(data.get("msgId") or "")
        self.texts.put(message_id, text)
        place = (Place(chat, "group", str(data.get("conversationTitle") or "")) if group
                 else Place(sender, "private"))
        return Event(platform=PLATFORM, kind="message", chat=place, sender=Person(sender, name),
                     at=sent_at(data.get("createAt")), event_id=message_id, message_id=message_id,
                     text=text, is_command=text.startswith("/"),
                     mentioned=group and bool(data.get("isInAtList")), attachment=attachment,
                     has_other_content=not text and attachment is None)

    def _tap(self, data: dict[str, Any], key: str) -> Event | None:
        user = str(data.get("userId") or "")
        card = str(data.get("outTrackId") or "")
        chat = chat_of_card(card)
        value = tapped(data.get("content"))
        if not user or chat is None or value is None:
            return None
        place = Place(chat, "group") if is_group(chat) else Place(user, "private")
        return Event(platform=PLATFORM, kind="action", chat=place,
                     sender=Person(user, self.names.get(user, "")), at=datetime.now(UTC),
                     event_id=key, message_id=card, action=value, action_ref=key,
                     reply_to=Replied(card, self.bot, True, self.ours.get(card, ""),
                                      reply_to_text=self.asked.get(card, "")))

    # --- operations ----------------------------------------------------------------------

    async def send(self, chat: str, content: Content, *, reply_to: str | None = None,
                   quote: bool = False) -> Sent:
        if content.buttons:
            found = card_id(chat)
            await self._call(self.api.send_card(chat, found, card(content)))
            self.ours.put(found, as_text(content.text))
            if reply_to:
                self.asked.put(found, self.texts.get(reply_to, ""))
            return Sent(found)
        text = as_text(content.text)
        if content.title:
            text = f"{content.title}\n{text}"
        return Sent(await self._call(self.api.send_message(chat, "sampleText",
                                                           {"content": text})))

    async def edit(self, chat: str, message_id: str, content: Content) -> None:
        """A card is updated in place; a robot text message cannot be, so the text is posted
        anew."""
        if chat_of_card(message_id) is None:
            log.info("DingTalk cannot edit robot message %s: posting the new text", message_id)
            await self.send(chat, content)
            return
        await self._call(self.api.update_card(message_id, card(content)))
        self.ours.put(message_id, as_text(content.text))

    async def clear_buttons(self, chat: str, message_id: str) -> None:
        text = self.ours.get(message_id)
        if text is not None:
            await self.edit(chat, message_id, Content(html.escape(text, quote=False)))

    async def answer(self, event: Event, text: str = "", *, alert: bool = False) -> None:
        """A tap has no toast on DingTalk: its answer goes to the member privately, in the
        background with the other answers of a storm (twenty people a call), or not at all when
        that fails (unreachable, rate-limited: the card's counts show the tap too, and a failed
        answer must not become a second failure to tell). The tap waits for none of it: it is
        recorded, and one whose answer was still waiting when the process died shows on the
        card all the same."""
        if not text or event.kind != "action":
            return
        task = asyncio.create_task(self._notify(event.sender.id, as_text(
            html.escape(text, quote=False))))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _notify(self, person: str, text: str) -> None:
        try:
            await self._call(self.api.send_notice(person, text))
        except (Unreachable, SendUncertain, RateLimited, DingTalkError) as exc:
            log.info("the answer to a tap by %s was not delivered: %s", person, exc)

    async def drain(self) -> None:
        """Wait for the answers under way (before the API client closes)."""
        while self._answering:
            await asyncio.gather(*self._answering)

    async def send_image(self, chat: str, data: bytes, *, filename: str, caption: str = "",
                         reply_to: str | None = None) -> None:
        media = await self._call(self.api.upload("image", filename, data))
        await self._call(self.api.send_message(chat, "sampleImageMsg", {"photoURL": media}))
        if caption:
            await self.send(chat, Content(caption))

    async def send_file(self, chat: str, data: bytes, *, filename: str,
                        caption: str = "") -> None:
        media = await self._call(self.api.upload("file", filename, data))
        await self._call(self.api.send_message(chat, "sampleFile", {
            "mediaId": media, "fileName": filename, "fileType": file_type(filename)}))
        if caption:
            await self.send(chat, Content(caption))

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        return await self._call(self.api.download(attachment.ref, limit=limit))

    async def is_admin(self, chat: str, user: str) -> bool:
        """The isAdmin flag of the person's last message in the group (False if none seen)."""
        return bool(self.admin.get((chat, user), False))

    async def admins(self, chat: str) -> list[Person]:
        """The group's admins the bot has seen post there: DingTalk lists them nowhere else
        for a robot."""
        found = sorted(user for (group, user), flag in self.admin.items()
                       if flag and group == chat)
        return [Person(user, self.names.get(user, "")) for user in found]

    async def members(self, chat: str) -> list[Person] | None:
        """None: a robot cannot list an ordinary group's members (应到 comes from the 名册)."""
        return None

    @staticmethod
    async def _call(call: Any) -> Any:
        """DingTalk's refusals as the core knows them."""
        try:
            return await call
        except HttpUncertain as exc:
            raise SendUncertain(str(exc)) from exc
        except DingTalkError as exc:
            if exc.code in UNREACHABLE_CODES:
                raise Unreachable(str(exc)) from exc
            raise
