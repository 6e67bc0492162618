"""Which number our tables use for a platform's chat or person.

A branch is a (platform, chat id) pair and a person a (platform, user id) pair, the ids being
the platform's strings. Our tables key on numbers: a Telegram id is its own number (the rows
written before other platforms existed keep their keys), and every other platform's id gets a
number of its own from the `identity` table, far outside Telegram's range (ids of 52 bits at
most), positive for people and negative for groups, as on Telegram. A private chat is keyed
by the person's number, as on Telegram, so "send to this member privately" needs no lookup.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from storage.models import Identity

TELEGRAM = "telegram"
OUTSIDE_TELEGRAM = 1 << 53
"""Numbers from here on belong to other platforms' ids."""


def is_telegram(number: int) -> bool:
    return abs(number) < OUTSIDE_TELEGRAM


def number_of(session: Session, platform: str, external: str, *, group: bool) -> int:
    """Our number for a platform's id, allocated on first sight (two replicas meeting the same
    new id at once agree: the loser of the insert reads the winner's row)."""
    if platform == TELEGRAM:
        return int(external)
    found = session.exec(select(Identity.id).where(
        Identity.platform == platform, Identity.external_id == external)).first()
    if found is not None:
        return found
    for _ in range(5):
        last = session.exec(select(func.max(func.abs(col(Identity.id))))).one() or 0
        number = max(int(last), OUTSIDE_TELEGRAM) + 1
        try:
            with session.begin_nested():
                session.add(Identity(id=-number if group else number, platform=platform,
                                     external_id=external))
            return -number if group else number
        except IntegrityError:
            found = session.exec(select(Identity.id).where(
                Identity.platform == platform, Identity.external_id == external)).first()
            if found is not None:
                return found
    raise RuntimeError(f"could not number {platform}:{external}")


def external_of(session: Session, number: int) -> tuple[str, str]:
    """(platform, the platform's id) of one of our numbers."""
    if is_telegram(number):
        return TELEGRAM, str(number)
    row = session.get(Identity, number)
    if row is None:
        raise LookupError(f"no platform id for {number}")
    return row.platform, row.external_id


def qualified(platform: str, external: str) -> str:
    """`feishu:ou_…` — how settings (DANGJIAN_ADMINS) name a person of another platform."""
    return external if platform == TELEGRAM else f"{platform}:{external}"
