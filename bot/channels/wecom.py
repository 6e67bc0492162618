"""WeCom (企业微信) as an AI bot (智能机器人): its callbacks into neutral events, neutral operations
into frames on its long connection (bot/wecom/connection.py). It knows nothing of our tables.

What an AI bot is not given, and how the flows make up for it:

- no member list and no list of a group's admins: 应到 comes from the 名册 or who was seen,
  branches are bound by a global admin with /bind and secretaries granted with /grant
  (`Capabilities.admin_list` and `join_events` False; /help says so);
- no names: callbacks carry a userid only, which stands for the member's @username (so
  `/grant @userid` names them) until the 名册 and /iam give a name;
- no toast for a tap: a refusal (`alert`) goes to the member privately, a plain notice is
  only logged, and the card itself shows the effect;
- a card can be replaced only in answer to a tap, within 5 s, under that tap's req_id
  (`aibot_respond_update_msg`). So a post's counts are updated in the window of the latest
  tap on it; a change with no tap open (a /checkin typed, a /proxy) is left as is and shows
  at the next tap: pushing a new card for each would flood the group.
- a group message reaches the bot only when it is @mentioned.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from Crypto.Cipher import AES

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
    TooLarge,
    Unreachable,
    render,
    sent_at,
)
from bot.http import RateLimited
from bot.http import SendUncertain as HttpUncertain
from bot.wecom.connection import SEND, UPDATE, LongConnection, WeComError
from content.ingest import LIMITS

log = logging.getLogger(__name__)

PLATFORM = "wecom"
TAP_WINDOW = 4.5
"""Seconds after a tap in which its card may still be replaced (WeCom allows 5)."""
MARKDOWN_BYTES = 4000  # WeCom's markdown content is at most 4096 bytes of UTF-8
TITLE_CHARS = 36
UNREACHABLE_CODES = {93006, 93008, 600039, 846609}
"""WeCom's answers for a chat the bot is not in or a user it may not write to."""
LEADING_MENTION = re.compile(r"^\s*@\S+\s*")
FETCHED = 4
"""Files kept after their name was read (the flow downloads them next)."""
LARGEST_FILE = LIMITS.file_bytes
"""The largest file a flow takes (a plan; a 名册 is smaller): the most read of a file whose
name is wanted."""


def as_markdown(text: str) -> str:
    """Our markup as WeCom markdown: mentions as <@userid>, bold and code kept."""
    return render(text, mention=lambda user, _name: f"<@{user}>", bold="**", code="`")


def as_plain(text: str) -> str:
    """Our markup as a card's plain text: mentions as @name."""
    return render(text)


def template_card(content: Content, task_id: str) -> dict[str, Any]:
    """A message with buttons as a button_interaction template card: its first line the title,
    the rest the text, each button's key our button value (what the tap sends back)."""
    plain = as_plain(content.text).strip()
    first, _, rest = plain.partition("\n")
    title = content.title or first
    body = rest if not content.title else plain
    return {
        "card_type": "button_interaction",
        "main_title": {"title": title[:TITLE_CHARS]},
        "sub_title_text": body.strip(),
        "task_id": task_id,
        "button_list": [{"text": b.label, "style": 1 if n == 0 else 2, "key": b.value}
                        for row in content.buttons for n, b in enumerate(row)][:6],
    }


def parts(text: str, limit: int = MARKDOWN_BYTES) -> list[str]:
    """`text` in pieces of at most `limit` UTF-8 bytes, cut between lines where it can be."""
    found: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line.encode()) > limit:  # one line too long: cut it by characters
            head = line.encode()[:limit].decode(errors="ignore")
            if current:
                found.append(current)
                current = ""
            found.append(head)
            line = line[len(head):]
        candidate = f"{current}\n{line}" if current else line
        if current and len(candidate.encode()) > limit:
            found.append(current)
            current = line
        else:
            current = candidate
    if current or not found:
        found.append(current)
    return found


def decrypt(data: bytes, aeskey: str) -> bytes:
    """A downloaded file as WeCom encrypts it: AES-256-CBC, the key base64 in the message
    (padding restored), the IV its first 16 bytes, PKCS#7 padding to 32-byte blocks."""
    key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4))
    if len(data) % AES.block_size:
        raise ValueError("the encrypted file's length is not a whole number of blocks")
    plain = AES.new(key, AES.MODE_CBC, iv=key[:16]).decrypt(data)
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        raise ValueError("the file could not be decrypted (bad padding)")
    return plain[:-pad]


def media_of(message: dict[str, Any]) -> Attachment:
    """The file or image of a message (or of a quoted one): its encrypted URL and key. Its
    name is not given: it comes with the download."""
    kind = message.get("msgtype")
    media = message.get(str(kind)) or {}
    ref = json.dumps({"url": media.get("url", ""), "aeskey": media.get("aeskey", "")})
    return Attachment("file" if kind == "file" else "photo",
                      "image.png" if kind == "image" else "", None, ref,
                      str(media.get("md5") or message.get("msgid", "")))



class WeComChannel:
    """Neutral operations over the AI bot's long connection; its callback frames turned into
    neutral events (`to_event`)."""

    platform = PLATFORM
    capabilities = Capabilities(member_list=False, admin_list=False, join_events=False,
                                edit_interval=1.0, edits_untapped=False, max_text=12000)

    def __init__(self, connection: LongConnection, bot_id: str, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.connection = connection
        self.bot = Person(bot_id, "党建助手", None, True)
        self.clock = clock
        self.fetched: OrderedDict[str, bytes] = OrderedDict()  # file ref -> its plain bytes
        self.cards: Remembered = Remembered()  # task id -> the card's plain text
        self.ours: Remembered = Remembered()  # plain text of our recent messages -> id
        self.taps: dict[str, list[tuple[str, float]]] = {}  # task id -> [(req_id, until)]

    # --- events --------------------------------------------------------------------------

    def tapped(self, task_id: str, request_id: str) -> None:
        """A tap on the card `task_id` arrived: its card may be replaced under `request_id`
        for TAP_WINDOW seconds."""
        now = self.clock()
        open_taps = [tap for tap in self.taps.get(task_id, []) if tap[1] > now]
        if any(rid == request_id for rid, _ in open_taps):  # the same callback again
            return
        self.taps[task_id] = [*open_taps, (request_id, now + TAP_WINDOW)]
        if len(self.taps) > 1000:
            self.taps = {k: v for k, v in self.taps.items() if v and v[-1][1] > now}

    async def to_event(self, frame: dict[str, Any]) -> Event | None:
        """The neutral event of a callback frame, or None for kinds the flows do not take.
        A file's name is not in the callback: it comes with the file, fetched here (and kept
        for the flow's download) so the flows can judge the file by its name."""
        event = self._event(frame)
        if event is None:
            return None
        if event.attachment is not None:
            event = replace(event, attachment=await self._named(event.attachment))
        replied = event.reply_to
        if replied is not None and replied.attachment is not None:
            event = replace(event, reply_to=replace(
                replied, attachment=await self._named(replied.attachment)))
        return event

    async def _named(self, attachment: Attachment) -> Attachment:
        """A file with the name and size its download gives (the bytes kept a while)."""
        if attachment.kind != "file":
            return attachment
        try:
            data, name = await self._fetch(attachment.ref, LARGEST_FILE)
        except TooLarge as too_large:  # the flows refuse it by its size
            return replace(attachment, name=too_large.name or "文件", size=LARGEST_FILE + 1)
        except Exception as exc:  # noqa: BLE001 - the flow's own download says what failed
            log.warning("could not fetch a file to read its name: %r", exc)
            return replace(attachment, name="文件")
        self.fetched[attachment.ref] = data
        while len(self.fetched) > FETCHED:
            self.fetched.popitem(last=False)
        return replace(attachment, name=name or "文件", size=len(data))

    def _event(self, frame: dict[str, Any]) -> Event | None:
        body = frame.get("body") or {}
        sender = str((body.get("from") or {}).get("userid", ""))
        if not sender:
            return None
        group = body.get("chattype") == "group"
        place = Place(str(body.get("chatid", "")), "group") if group else Place(sender, "private")
        common: dict[str, Any] = {
            "platform": PLATFORM, "chat": place, "sender": Person(sender, "", sender),
            "at": sent_at(body.get("create_time")), "event_id": str(body.get("msgid", ""))}
        kind = body.get("msgtype")
        if kind == "event":
            event = body.get("event") or {}
            card = event.get("template_card_event") or {}
            if event.get("eventtype") != "template_card_event" or not card.get("event_key"):
                return None
            task_id = str(card.get("task_id", ""))
            return Event(kind="action", message_id=task_id, action=str(card["event_key"]),
                         action_ref=str((frame.get("headers") or {}).get("req_id", "")),
                         reply_to=Replied(task_id, self.bot, True, self.cards.get(task_id, "")),
                         **common)
        text, attachment = "", None
        if kind in ("text", "voice"):  # a voice message comes transcribed
            text = str((body.get(kind) or {}).get("content", ""))
        elif kind == "mixed":
            text = " ".join(str((item.get("text") or {}).get("content", ""))
                            for item in (body.get("mixed") or {}).get("msg_item", [])
                            if item.get("msgtype") == "text")
        elif kind in ("file", "image"):
            attachment = media_of(body)
        if group:
            text = LEADING_MENTION.sub("", text, count=1)  # the @ that brought the message
        text = " ".join(text.split())
        return Event(kind="message", message_id=str(body.get("msgid", "")), text=text,
                     is_command=text.startswith("/"), mentioned=group,
                     reply_to=self._quoted(body.get("quote")), attachment=attachment,
                     has_other_content=kind not in ("text", "voice", "mixed", "file", "image"),
                     **common)

    def _quoted(self, quote: Any) -> Replied | None:
        """The message a member quoted: ours when its text is one of our recent messages; a
        quoted file (`/roster 导入` quoting the 名册) as its attachment."""
        if not isinstance(quote, dict):
            return None
        text = str((quote.get("text") or {}).get("content", ""))
        ours = self.ours.get(text.strip())
        if ours is not None:
            return Replied(ours, self.bot, True, text)
        attachment = media_of(quote) if quote.get("msgtype") in ("file", "image") else None
        return Replied(str(quote.get("msgid", "")), None, False, text, attachment)

    # --- operations ----------------------------------------------------------------------

    async def send(self, chat: str, content: Content, *, reply_to: str | None = None,
                   quote: bool = False) -> Sent:
        """A push to the chat (a userid for a private chat): a template card when there are
        buttons, else markdown, in pieces when long. No quoting: WeCom's push has none."""
        if content.buttons:
            task_id = f"dj{uuid.uuid4().hex}"
            await self._call(SEND, {"chatid": chat, "msgtype": "template_card",
                                    "template_card": template_card(content, task_id)}, chat)
            self._remember(task_id, content)
            return Sent(task_id)
        message_id = ""
        for piece in parts(as_markdown(content.text)):
            answer = await self._call(SEND, {"chatid": chat, "msgtype": "markdown",
                                             "markdown": {"content": piece}}, chat)
            message_id = str((answer.get("body") or {}).get("msgid")
                             or (answer.get("headers") or {}).get("req_id", ""))
            self.ours.put(piece.strip(), message_id)  # as a quote of it may give it
        self.ours.put(as_plain(content.text).strip(), message_id)
        return Sent(message_id)

    async def edit(self, chat: str, message_id: str, content: Content) -> None:
        """Replace a card in the window of the latest tap on it; else leave it as is."""
        now = self.clock()
        open_taps = [tap for tap in self.taps.get(message_id, []) if tap[1] > now]
        if not open_taps:
            log.info("card %s in %s left as is: no tap on it within %.1f s", message_id, chat,
                     TAP_WINDOW)
            return
        request_id, _ = open_taps[-1]
        self.taps[message_id] = open_taps[:-1]
        try:
            await self._call(UPDATE, {"response_type": "update_template_card",
                                      "template_card": template_card(content, message_id)},
                             chat, request_id=request_id)
        except (WeComError, RateLimited) as exc:  # the window closed on WeCom's side first
            log.warning("card %s in %s left as is: WeCom refused the update (%s)", message_id,
                        chat, exc)
            return
        self._remember(message_id, content)

    async def clear_buttons(self, chat: str, message_id: str) -> None:
        text = self.cards.get(message_id)
        if text is not None:
            await self.edit(chat, message_id, Content(html.escape(text, quote=False)))

    async def answer(self, event: Event, text: str = "", *, alert: bool = False) -> None:
        """No toast on WeCom: a refusal goes to the member privately; a notice is logged (the
        card shows what the tap did)."""
        if not text:
            return
        if not alert:
            log.info("tap %s by %s: %s", event.action_ref, event.sender.id, text)
            return
        try:
            await self.send(event.sender.id, Content(html.escape(text, quote=False)))
        except (Unreachable, SendUncertain):
            log.warning("could not tell %s privately: %s", event.sender.id, text)

    async def send_image(self, chat: str, data: bytes, *, filename: str, caption: str = "",
                         reply_to: str | None = None) -> None:
        await self._send_media(chat, "image", filename, data, caption)

    async def send_file(self, chat: str, data: bytes, *, filename: str,
                        caption: str = "") -> None:
        await self._send_media(chat, "file", filename, data, caption)

    async def _send_media(self, chat: str, kind: str, filename: str, data: bytes,
                          caption: str) -> None:
        media_id = await self.connection.upload(kind, filename, data)  # repeatable
        await self._call(SEND, {"chatid": chat, "msgtype": kind, kind: {"media_id": media_id}},
                         chat)
        if caption:
            await self.send(chat, Content(caption))

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        found = self.fetched.pop(attachment.ref, None)
        if found is not None:
            if len(found) > limit:
                raise TooLarge(limit, attachment.name)
            return found
        data, _name = await self._fetch(attachment.ref, limit)
        return data

    async def _fetch(self, ref: str, limit: int) -> tuple[bytes, str | None]:
        """A callback's file, decrypted, and its name; TooLarge past `limit` (encrypted, it
        is padded by at most a block)."""
        media = json.loads(ref)
        data, name = await self.connection.download(media["url"], limit + 32)
        plain = decrypt(data, media["aeskey"]) if media.get("aeskey") else data
        if len(plain) > limit:
            raise TooLarge(limit, name)
        return plain, name

    async def is_admin(self, chat: str, user: str) -> bool:
        return False  # WeCom does not tell an AI bot who administers a group

    async def admins(self, chat: str) -> list[Person]:
        return []

    async def members(self, chat: str) -> list[Person] | None:
        return None

    def _remember(self, task_id: str, content: Content) -> None:
        plain = as_plain(content.text).strip()
        self.cards.put(task_id, plain)
        self.ours.put(plain, task_id)

    async def _call(self, cmd: str, body: dict[str, Any], chat: str,
                    request_id: str | None = None) -> dict[str, Any]:
        """WeCom's refusals as the core knows them."""
        try:
            return await self.connection.request(cmd, body, request_id=request_id, about=chat)
        except HttpUncertain as exc:
            raise SendUncertain(str(exc)) from exc
        except WeComError as exc:
            if exc.code in UNREACHABLE_CODES:
                raise Unreachable(str(exc)) from exc
            raise
