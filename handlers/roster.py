"""Keeps each branch's roster (its 应到), with members' names, from what its group shows: who
speaks, taps a button, joins or leaves, and, where the platform lists a group's members
(Feishu), that list, read again every ten minutes. Runs before every other flow and never stops
them; each member is written once per process, so the check-in path itself does not pay for
it."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot.channels.base import Event, Person
from bot.core import Flow, OnEvent
from bot.services import roster
from bot.services.people import name_member

log = logging.getLogger(__name__)

LIST_EVERY = 600.0
"""Seconds between two readings of a group's member list."""


async def on_group_update(flow: Flow) -> None:
    if flow.channel.capabilities.member_list:
        await _match_member_list(flow)
    event = flow.event
    seen: set[tuple[int, int]] = flow.core.state.setdefault("roster_seen", set())
    people: list[tuple[int, Person]] = []
    for person in event.joined:
        if not person.is_bot:
            people.append((await flow.number(person.id), person))
    if not event.sender.is_bot and (flow.chat_id, flow.user_id) not in seen:
        people.append((flow.user_id, event.sender))
    gone = event.left
    gone_id = await flow.number(gone.id) if gone is not None and not gone.is_bot else None
    if not people and gone_id is None:
        return
    at = event.at if event.kind == "message" else flow.services.clock()
    chat_id = flow.chat_id

    def record(session: Session) -> None:
        for user_id, person in people:  # named too, so the 台账 and lists never show a bare id
            name_member(session, user_id, person.name, person.username, unnamed=person.id)
            roster.join(session, chat_id, user_id, at)
        if gone_id is not None:
            roster.leave(session, chat_id, gone_id, at)

    try:
        await flow.services.db.run(record)
    except OperationalError:  # bookkeeping: the flow that answers reports the outage
        log.warning("roster of chat %s not updated while the database is down", chat_id)
        return
    seen.update((chat_id, user_id) for user_id, _ in people)
    if gone_id is not None:
        seen.discard((chat_id, gone_id))


async def _match_member_list(flow: Flow) -> None:
    read: dict[int, float] = flow.core.state.setdefault("member_lists", {})
    if flow.core.clock() - read.get(flow.chat_id, -1e9) < LIST_EVERY:
        return
    read[flow.chat_id] = flow.core.clock()
    try:
        listed = await flow.channel.members(flow.event.chat.id)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not fail the member's request
        log.warning("could not read the members of chat %s: %r", flow.chat_id, exc)
        return
    if listed is None:
        return
    people = [(await flow.number(person.id), person) for person in listed if not person.is_bot]
    chat_id, at = flow.chat_id, flow.services.clock()

    def record(session: Session) -> None:
        for user_id, person in people:
            name_member(session, user_id, person.name, person.username)
        roster.match_list(session, chat_id, [user_id for user_id, _ in people], at)

    try:
        await flow.services.db.run(record)
    except OperationalError:
        log.warning("member list of chat %s not stored while the database is down", chat_id)
        read.pop(chat_id, None)


def _in_group(event: Event) -> bool:
    return event.chat.kind == "group" and event.kind in ("message", "action")


ROUTES = {-20: [OnEvent(_in_group, on_group_update)]}
