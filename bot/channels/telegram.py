"""Telegram, on python-telegram-bot: updates into neutral events, neutral operations into Bot
API calls. It knows nothing of our tables; what reaches the flows is bot/channels/base.py."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError, TimedOut

from bot.channels.base import (
    MENTION,
    Attachment,
    Capabilities,
    Content,
    Event,
    Person,
    Place,
    Replied,
    SendUncertain,
    Sent,
    TooLarge,
    Unreachable,
)

PLATFORM = "telegram"
ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
PRESENT = {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER,
           ChatMemberStatus.RESTRICTED}
GONE = ("chat not found", "bot was kicked", "bot is not a member", "group chat was deactivated",
        "have no rights to send", "not enough rights", "user is deactivated", "peer_id_invalid",
        "bot was blocked", "bot can't initiate", "can't initiate conversation", "user not found")
"""What Telegram says when a chat cannot be written to any more."""


def person(user: User) -> Person:
    return Person(str(user.id), user.full_name or str(user.id), user.username, user.is_bot)


def _attachment(message: Message) -> Attachment | None:
    if message.document is not None:
        return Attachment("file", message.document.file_name or "upload.txt",
                          message.document.file_size, message.document.file_id,
                          message.document.file_unique_id)
    if message.photo:
        photo = message.photo[-1]
        return Attachment("photo", f"photo_{photo.file_unique_id}.jpg", photo.file_size,
                          photo.file_id, photo.file_unique_id)
    return None


def _replied(message: Message | None, bot_id: int) -> Replied | None:
    if message is None:
        return None
    sender = message.from_user
    asked = message.reply_to_message
    return Replied(
        message_id=str(message.message_id),
        sender=person(sender) if sender else None,
        by_bot=sender is not None and sender.id == bot_id,
        text=message.text or message.caption or "",
        attachment=_attachment(message),
        reply_to_text=(asked.text or "") if asked is not None else "",
    )


def to_event(update: Update, bot: Bot) -> Event | None:
    """The neutral event of an update, or None for kinds the flows do not take."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None:
        return None
    place = Place(str(chat.id), "private" if chat.type == "private" else "group",
                  chat.title or "")
    common = {"platform": PLATFORM, "chat": place, "sender": person(user),
              "event_id": str(update.update_id)}
    if update.callback_query is not None:
        query = update.callback_query
        shown = query.message if isinstance(query.message, Message) else None
        return Event(kind="action", at=shown.date if shown else datetime.now(UTC),
                     message_id=str(shown.message_id) if shown else "",
                     action=query.data or "", action_ref=query.id,
                     reply_to=_replied(shown, bot.id), **common)
    if update.my_chat_member is not None:
        change = update.my_chat_member
        present = change.new_chat_member.status in PRESENT
        return Event(kind="membership", at=change.date, bot_present=present,
                     bot_joined=present and change.old_chat_member.status not in PRESENT,
                     **common)
    message = update.message
    if message is None:
        return None
    text = message.text or message.caption or ""
    entities = message.entities or ()
    is_command = message.text is not None and any(
        e.type == MessageEntity.BOT_COMMAND and e.offset == 0 for e in entities)
    username = (bot.username or "").lower()
    mentioned = bool(username) and f"@{username}" in text.lower()
    status = bool(message.new_chat_members or message.left_chat_member)
    return Event(
        kind="message", at=message.date, message_id=str(message.message_id), text=text,
        is_command=is_command, mentioned=mentioned,
        reply_to=_replied(message.reply_to_message, bot.id),
        attachment=_attachment(message),
        has_other_content=message.text is None and _attachment(message) is None and not status,
        joined=tuple(person(u) for u in message.new_chat_members or ()),
        left=person(message.left_chat_member) if message.left_chat_member else None,
        **common,
    )


def to_html(text: str) -> str:
    """Our markup is Telegram's HTML but for mentions."""
    return MENTION.sub(
        lambda m: f'<a href="tg://user?id={html.escape(m.group(1))}">{m.group(2)}</a>', text)


def markup(content: Content) -> InlineKeyboardMarkup | None:
    if not content.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.value)
                                  for b in row] for row in content.buttons])


def _translated(error: TelegramError) -> Exception:
    if isinstance(error, TimedOut):
        return SendUncertain(str(error))
    if isinstance(error, Forbidden | ChatMigrated):
        return Unreachable(str(error))
    if isinstance(error, BadRequest) and any(g in str(error).lower() for g in GONE):
        return Unreachable(str(error))
    return error


class TelegramChannel:
    """Neutral operations on the Bot API (the bot's own HTTP stack does retries and limits)."""

    platform = PLATFORM
    capabilities = Capabilities(member_list=False, admin_list=True, edit_interval=3.0,
                                max_text=4096)

    def __init__(self, bot: Bot) -> None:
        self.tg = bot

    @property
    def bot(self) -> Person:  # type: ignore[override]
        return Person(str(self.tg.id), self.tg.first_name, self.tg.username, True)

    async def send(self, chat: str, content: Content, *, reply_to: str | None = None,
                   quote: bool = False) -> Sent:
        try:
            message = await self.tg.send_message(
                int(chat), to_html(content.text), parse_mode=ParseMode.HTML,
                reply_markup=markup(content),
                reply_to_message_id=int(reply_to) if reply_to and quote else None,
            )
        except TelegramError as error:
            raise _translated(error) from error
        return Sent(str(message.message_id))

    async def edit(self, chat: str, message_id: str, content: Content) -> None:
        try:
            await self.tg.edit_message_text(to_html(content.text), chat_id=int(chat),
                                            message_id=int(message_id),
                                            parse_mode=ParseMode.HTML,
                                            reply_markup=markup(content))
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise _translated(error) from error
        except TelegramError as error:
            raise _translated(error) from error

    async def clear_buttons(self, chat: str, message_id: str) -> None:
        try:
            await self.tg.edit_message_reply_markup(chat_id=int(chat), message_id=int(message_id),
                                                    reply_markup=None)
        except TelegramError as error:
            raise _translated(error) from error

    async def answer(self, event: Event, text: str = "", *, alert: bool = False) -> None:
        try:
            await self.tg.answer_callback_query(event.action_ref, text or None,
                                                show_alert=alert)
        except TelegramError as error:
            raise _translated(error) from error

    async def send_image(self, chat: str, data: bytes, *, filename: str, caption: str = "",
                         reply_to: str | None = None) -> None:
        try:
            await self.tg.send_photo(int(chat), data, caption=caption or None,
                                     filename=filename,
                                     reply_to_message_id=int(reply_to) if reply_to else None)
        except TelegramError as error:
            raise _translated(error) from error

    async def send_file(self, chat: str, data: bytes, *, filename: str,
                        caption: str = "") -> None:
        try:
            await self.tg.send_document(int(chat), data, filename=filename,
                                        caption=caption or None)
        except TelegramError as error:
            raise _translated(error) from error

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        """Telegram states every file's size (and serves bots 20 MB at most): a larger one is
        not fetched."""
        if (attachment.size or 0) > limit:
            raise TooLarge(limit, attachment.name)
        file = await self.tg.get_file(attachment.ref)
        if (file.file_size or 0) > limit:
            raise TooLarge(limit, attachment.name)
        return bytes(await file.download_as_bytearray())

    async def is_admin(self, chat: str, user: str) -> bool:
        try:
            member = await self.tg.get_chat_member(int(chat), int(user))
        except TelegramError as error:
            raise Unreachable(str(error)) from error
        return member.status in ADMIN_STATUSES

    async def admins(self, chat: str) -> list[Person]:
        try:
            found = await self.tg.get_chat_administrators(int(chat))
        except TelegramError as error:
            raise _translated(error) from error
        return [person(member.user) for member in found]

    async def members(self, chat: str) -> list[Person] | None:
        return None  # the Bot API lists admins only
