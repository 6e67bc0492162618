"""A small world for reminder and duty tests: a branch group, its secretary (who talks to the bot
privately), a member, a recording Sender and the services wired on a given database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from attendance_bot import Clock
from real_plans import PLANS

from bot.services.duties import DutyService
from bot.services.people import Actor
from bot.services.posts import Post
from bot.services.reminders import ChatUnreachable, ReminderService, SendUncertain
from content.ingest import ParsedPlan, parse_plan, read_document
from storage.db import Database
from storage.models import Chat, Member

TZ = ZoneInfo("Asia/Shanghai")
BRANCH = -100500
SECRETARY = 501
MEMBER = 502
ADMIN = 900
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai

__all__ = ["ADMIN", "BRANCH", "MEMBER", "NOW", "SECRETARY", "TZ", "Clock", "FakeSender",
           "World", "actor", "secretary"]


def actor(user_id: int, chat_id: int = BRANCH, *, admin: bool = False,
          global_admin: bool = False) -> Actor:
    return Actor(user_id=user_id, name=f"用户{user_id}", chat_id=chat_id,
                 chat_type="supergroup" if chat_id < 0 else "private", chat_title="第一支部",
                 is_chat_admin=admin, is_global_admin=global_admin)


def secretary(chat_id: int = BRANCH) -> Actor:
    return actor(SECRETARY, chat_id, admin=True)


@dataclass
class FakeSender:
    """Records sends; chats can be made unreachable, sends cut off, or held: a held send waits
    until `release` is set (for ever when it never is, as in a process about to be killed)."""

    admins: dict[int, list[int]] = field(default_factory=lambda: {BRANCH: [SECRETARY]})
    unreachable: set[int] = field(default_factory=set)
    cut_off: set[int] = field(default_factory=set)
    delay: float = 0.0
    """Each send awaits this long, so concurrent workers interleave."""
    hold_after: int | None = None
    """Sends after this many completed ones are held."""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[tuple[int, Post]] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    """The chats whose send is (or was) held."""

    async def send(self, chat_id: int, post: Post) -> int:
        if chat_id in self.unreachable:
            raise ChatUnreachable("Forbidden: bot was kicked from the supergroup chat")
        if self.hold_after is not None and len(self.sent) >= self.hold_after:
            self.held.append(chat_id)
            await self.release.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if chat_id in self.cut_off:
            raise SendUncertain("Timed out")
        self.sent.append((chat_id, post))
        return len(self.sent)

    async def chat_admins(self, chat_id: int) -> list[int]:
        return list(self.admins.get(chat_id, []))

    def to(self, chat_id: int) -> list[Post]:
        return [post for chat, post in self.sent if chat == chat_id]


class World:
    """The services under test on `db`, with the real plans (when here) and a settable clock."""

    def __init__(self, db: Database, now: datetime = NOW,
                 plans: list[ParsedPlan] | None = None) -> None:
        self.db = db
        self.clock = Clock(now)
        # the real plans' duties when they are beside the project, else the built-in cadence
        if plans is None:
            plans = [parse_plan(p.name, read_document(p)) for p in sorted(PLANS.glob("*.txt"))]
        self.duties = DutyService(lambda: plans, TZ)
        self.reminders = ReminderService(db, TZ, self.duties, self.clock)
        self.sender = FakeSender()
        with db.session() as session:
            session.add(Chat(id=BRANCH, title="第一支部", type="supergroup",
                             created_at=datetime(2026, 1, 1, tzinfo=UTC)))
            session.add(Chat(id=SECRETARY, title="", type="private"))
            session.add(Chat(id=ADMIN, title="", type="private"))
            for user in (SECRETARY, MEMBER, ADMIN):
                session.add(Member(id=user, display_name=f"用户{user}"))

    def schedule(self, text: str, who: Actor | None = None) -> int:
        with self.db.session() as session:
            reminder, _ = self.reminders.schedule(session, who or secretary(), text,
                                                  now=self.clock())
            return reminder.id or 0

    async def fire(self, reminder_id: int, fire_time: datetime, worker: str = "w1",
                   sender: FakeSender | None = None) -> None:
        await self.reminders.fire(reminder_id, fire_time, sender or self.sender, worker=worker)
