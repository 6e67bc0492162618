"""After a meeting: /minutes (议题, 决议, 纪要), and photos or files added to its record."""

from __future__ import annotations

import re

from sqlmodel import Session
from telegram import Update
from telegram.ext import ApplicationHandlerStop, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from bot.services import UserError, meetings
from bot.services.typed import number
from handlers.common import actor_of, escape, reply
from handlers.posts import local_zone

CAPTION = re.compile(r"^\s*[/／]minutes(?:@\w+)?(?:\s+(\S+))?\s*(.*)$", re.S)


async def minutes(update: Update, context: BotContext) -> None:
    """/minutes 活动号 议题：… 决议：… 纪要：… (or as a reply to the meeting's notice)."""
    message = update.effective_message
    assert message is not None
    match = CAPTION.match(message.text or "")
    first, rest = (match.group(1), match.group(2)) if match else (None, "")
    actor = await actor_of(update, context)
    services = context.services
    notice = message.reply_to_message.message_id if message.reply_to_message else None
    if first is not None and number(first) is None:  # no number: all is the text
        first, rest = None, f"{first} {rest}"

    def add(session: Session) -> meetings.MinutesResult:
        activity = meetings.find_meeting(session, actor, first, notice)
        return meetings.add_minutes(session, actor, activity, rest, now=services.clock(),
                                    tz=local_zone(services))

    result = await services.db.run(add)
    await reply(update, escape(meetings.minutes_reply(result)))


async def on_attachment(update: Update, context: BotContext) -> None:
    """A photo or file captioned `/minutes 活动号`, or sent by a secretary in reply to a meeting's
    notice, goes into that meeting's record; anything else passes on (a plan upload)."""
    message = update.effective_message
    if message is None:
        return
    match = CAPTION.match(message.caption or "")
    to = message.reply_to_message
    if match is None and (to is None or to.from_user is None or to.from_user.id != context.bot.id):
        return
    actor = await actor_of(update, context)
    services = context.services
    if message.photo:
        photo = message.photo[-1]
        kind, file_id, unique, name, size = ("photo", photo.file_id, photo.file_unique_id, "",
                                             photo.file_size)
    else:
        document = message.document
        assert document is not None  # the handler's filter
        kind, file_id, unique, name, size = ("document", document.file_id,
                                             document.file_unique_id, document.file_name or "",
                                             document.file_size)
    query, caption = (match.group(1), match.group(2)) if match else (None, message.caption or "")
    notice = to.message_id if to is not None else None

    def add(session: Session) -> meetings.MinutesResult | None:
        if match is None:  # a reply: only to a meeting's notice, and only a secretary's
            try:
                activity = meetings.find_meeting(session, actor, None, notice)
            except UserError:
                return None
        else:
            activity = meetings.find_meeting(session, actor, query, notice)
        return meetings.add_file(session, actor, activity, kind=kind, file_id=file_id,
                                 file_unique_id=unique, name=name, size=size, caption=caption,
                                 now=services.clock(), tz=local_zone(services))

    try:
        result = await services.db.run(add)
    except UserError as exc:  # answered here: the file is not a plan upload either
        await reply(update, escape(str(exc)))
        raise ApplicationHandlerStop from None
    if result is None:
        return
    await reply(update, escape(meetings.minutes_reply(result)))
    raise ApplicationHandlerStop


HANDLERS = {
    -5: [MessageHandler((filters.PHOTO | filters.Document.ALL) & ~filters.COMMAND, on_attachment)],
    0: [CommandHandler("minutes", minutes)],
}
