"""Which number our tables use for a platform's chat or person.

A branch is a (platform, chat id) pair and a person a (platform, user id) pair, the ids being
the platform's strings. Our tables key on numbers: a Telegram id is its own number (the rows
written before other platforms existed keep their keys), and every other platform's id gets a
number of its own in the `identity` table, far outside Telegram's range (ids of 52 bits at
most), positive for people and negative for groups, as on Telegram. A private chat is keyed
by the person's number, as on Telegram, so "send to this member privately" needs no lookup.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import Identity, utcnow
from storage.upsert import upsert

TELEGRAM = "telegram"
OUTSIDE_TELEGRAM = 1 << 53
"""Numbers from here on belong to other platforms' ids."""


def is_telegram(number: int) -> bool:
    return abs(number) < OUTSIDE_TELEGRAM


def number_of(session: Session, platform: str, external: str, *, group: bool) -> int:
    """Our number for a platform's id: derived from the id itself (so replicas meeting a new
    id at once agree without a round of reads), stored on first sight. Two ids whose numbers
    would clash (a 1 in 10^16 chance a pair) are told apart by the next free number."""
    if platform == TELEGRAM:
        return int(external)
    digest = hashlib.sha256(f"{platform}:{external}".encode()).digest()
    first = OUTSIDE_TELEGRAM + int.from_bytes(digest[:7], "big")
    for number in range(first, first + 8):
        signed = -number if group else number
        try:
            with session.begin_nested():
                if upsert(session, Identity, {"id": signed, "platform": platform,
                                              "external_id": external, "created_at": utcnow()},
                          conflict=("platform", "external_id")):
                    return signed
        except IntegrityError:  # the number is another id's: try the next
            continue
        found = session.exec(select(Identity.id).where(
            Identity.platform == platform, Identity.external_id == external)).one()
        return found
    raise RuntimeError(f"no free number for {platform}:{external}")


def external_of(session: Session, number: int) -> tuple[str, str]:
    """(platform, the platform's id) of one of our numbers."""
    if is_telegram(number):
        return TELEGRAM, str(number)
    row = session.get(Identity, number)
    if row is None:
        raise LookupError(f"no platform id for {number}")
    return row.platform, row.external_id

