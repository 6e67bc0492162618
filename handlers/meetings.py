"""After a meeting: /minutes (议题, 决议, 纪要), and photos or files added to its record."""

from __future__ import annotations

import re

from sqlmodel import Session

from bot.channels.base import Event
from bot.core import Command, Flow, OnMessage, StopFlow
from bot.services import UserError, meetings
from bot.services.typed import number
from handlers.common import escape
from handlers.posts import local_zone

CAPTION = re.compile(r"^\s*[/／]minutes(?:@\w+)?(?:\s+(\S+))?\s*(.*)$", re.S)


async def minutes(flow: Flow) -> None:
    """/minutes 活动号 议题：… 决议：… 纪要：… (or as a reply to the meeting's notice)."""
    match = CAPTION.match(flow.text)
    first, rest = (match.group(1), match.group(2)) if match else (None, "")
    actor = await flow.actor()
    services = flow.services
    notice = await _notice(flow)
    if first is not None and number(first) is None:  # no number: all is the text
        first, rest = None, f"{first} {rest}"

    def add(session: Session) -> meetings.MinutesResult:
        activity = meetings.find_meeting(session, actor, first, notice)
        return meetings.add_minutes(session, actor, activity, rest, now=services.clock(),
                                    tz=local_zone(services))

    result = await services.db.run(add)
    await flow.reply(escape(meetings.minutes_reply(result)))


async def on_attachment(flow: Flow) -> None:
    """A photo or file captioned `/minutes 活动号`, or sent by a secretary in reply to a meeting's
    notice, goes into that meeting's record; anything else passes on (a plan upload)."""
    attachment = flow.event.attachment
    assert attachment is not None  # the route's condition
    match = CAPTION.match(flow.text)
    to = flow.event.reply_to
    if match is None and (to is None or not to.by_bot):
        return
    actor = await flow.actor()
    services = flow.services
    kind, name = ("photo", "") if attachment.kind == "photo" else ("document", attachment.name)
    file_id, unique, size = attachment.ref, attachment.unique or attachment.ref, attachment.size
    query, caption = (match.group(1), match.group(2)) if match else (None, flow.text)
    notice = await _notice(flow)

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
        await flow.reply(escape(str(exc)))
        raise StopFlow from None
    if result is None:
        return
    await flow.reply(escape(meetings.minutes_reply(result)))
    raise StopFlow


async def _notice(flow: Flow) -> int | None:
    """The meeting notice this message replies to, by our number of it."""
    to = flow.event.reply_to
    return None if to is None else await flow.core.message_number(flow.chat_id, to.message_id)


def _attachment(event: Event) -> bool:
    return event.attachment is not None and not event.is_command


ROUTES = {
    -5: [OnMessage(_attachment, on_attachment)],
    0: [Command("minutes", minutes)],
}
