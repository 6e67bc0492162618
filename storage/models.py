"""SQLModel tables. Times are stored in UTC; Telegram ids need 64-bit columns.

Each feature appends its tables in a section of its own below the shared core.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)

# --- knowledge base -------------------------------------------------------------------------

class Document(SQLModel, table=True):
    """One plan document: the organization's (`chat_id` None: answers everyone) or a branch's
    (answers that branch's members). Re-ingesting the same name in the same scope replaces it;
    a branch's document never replaces the organization's."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=255)
    title: str = Field(max_length=255)
    content_hash: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    chat_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    added_by: int | None = Field(default=None, sa_type=BigInteger)

class Passage(SQLModel, table=True):
    """A unit of the plan's own structure (part, subsection, item, clause) with its section path."""

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True, ondelete="CASCADE")
    ordinal: int
    parent_ordinal: int | None = None
    level: str = Field(max_length=16)
    heading: str = Field(sa_column=Column(Text, nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))

# --- people, branches, roles ----------------------------------------------------------------

class Chat(SQLModel, table=True):
    """A Telegram chat; a group is a branch (支部) once a global admin registers it (/bind),
    or always in open mode (no DANGJIAN_ADMINS)."""

    id: int = Field(sa_type=BigInteger, primary_key=True)
    title: str = Field(default="", max_length=255)
    type: str = Field(default="private", max_length=16)
    reachable: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    branch_name: str | None = Field(default=None, max_length=255)
    registered_at: datetime | None = None
    registered_by: int | None = Field(default=None, sa_type=BigInteger)

class Identity(SQLModel, table=True):
    """The number our tables use for another platform's chat or person id (a Telegram id is
    its own number): bot/services/identities.py."""

    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)

class PendingChoice(SQLModel, table=True):
    """What a person was asked to choose about (a private upload's branch), kept in the
    database so that the tap answering it may reach any replica: bot/services/choices.py."""

    __tablename__ = "pending_choice"

    user_id: int = Field(sa_type=BigInteger, primary_key=True,
                         sa_column_kwargs={"autoincrement": False})
    key: str = Field(max_length=32, primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
    held_at: datetime = Field(default_factory=utcnow)

class Member(SQLModel, table=True):
    """A Telegram user who has talked to the bot."""

    id: int = Field(sa_type=BigInteger, primary_key=True)
    display_name: str = Field(default="", max_length=255)
    username: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)

class RoleGrant(SQLModel, table=True):
    """An explicit secretary grant in a branch (group admins are secretaries without one)."""

    __table_args__ = (UniqueConstraint("chat_id", "user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, index=True)
    user_id: int = Field(sa_type=BigInteger, index=True)
    role: str = Field(default="secretary", max_length=32)
    granted_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)

class AuditLog(SQLModel, table=True):
    """Append-only record of every correction and administrative act."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: int | None = Field(default=None, sa_type=BigInteger)
    chat_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    entity_id: str = Field(default="", max_length=64)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))



class RosterEntry(SQLModel, table=True):
    """One name on a branch's 名册, imported by its secretary, and the chat account it belongs
    to once the member (or the secretary) links it. Until then the entry stands for the member
    by the number -id (an attendance row a secretary records for them carries it). An entry
    left out of a later import is kept as removed, so past records still name it."""

    __table_args__ = (
        Index("ix_rosterentry_chat", "chat_id", "ordinal"),
        # one entry per account in a branch
        Index("uq_rosterentry_account", "chat_id", "user_id", unique=True,
              sqlite_where=text("user_id IS NOT NULL"),
              postgresql_where=text("user_id IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    ordinal: int = 0
    name: str = Field(max_length=64)
    party_group: str = Field(default="", max_length=64)
    position: str = Field(default="", max_length=64)
    phone: str = Field(default="", max_length=32)
    user_id: int | None = Field(default=None, sa_type=BigInteger)
    linked_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    removed_at: datetime | None = None

# --- meetings, check-ins and study (attendance) ---------------------------------------------

ACTIVITY_KINDS = ("支部党员大会", "支委会", "党小组会", "党课", "主题党日", "中心组学习", "其他")


class Activity(SQLModel, table=True):
    """A meeting of a branch (三会一课, 主题党日, 中心组学习…) that members check in to.

    The check-in rule: on time from `checkin_opens_at` to `late_after`; after that until
    `ends_at` a check-in is marked late (`late_policy="late"`) or refused (`"refuse"`).
    `source_message_id` is the /remind command's message: a redelivered update opens nothing new.
    """

    __table_args__ = (
        Index("ix_activity_chat_starts", "chat_id", "starts_at"),
        UniqueConstraint("chat_id", "source_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    kind: str = Field(default="其他", max_length=16)
    title: str = Field(max_length=255)
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    starts_at: datetime
    ends_at: datetime
    place: str = Field(default="", max_length=255)
    host: str = Field(default="", max_length=64)
    recorder: str = Field(default="", max_length=64)
    # the members the 主持人 and 记录人 named in the notice are (None: a name matching no member)
    host_id: int | None = Field(default=None, sa_type=BigInteger)
    recorder_id: int | None = Field(default=None, sa_type=BigInteger)
    # planned | held (someone checked in) | closed (the secretary closed it) | cancelled;
    # its phase (待召开, 进行中, 已召开) follows from these and the clock: see bot/services/meetings.py
    status: str = Field(default="planned", max_length=16)
    checkin_opens_at: datetime
    late_after: datetime
    late_policy: str = Field(default="late", max_length=8)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    source_message_id: int | None = Field(default=None, sa_type=BigInteger)
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    # 补录: entered after it was held, with the reason why (empty for a meeting announced ahead)
    backfill_reason: str = Field(default="", max_length=255)
    # what the secretary adds after it (/minutes): 议题, 决议, 纪要
    topics: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    decisions: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    minutes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class MeetingFile(SQLModel, table=True):
    """A photo or file added to a meeting's record (its minutes, a sign-in sheet…): Telegram
    keeps the bytes, the ledger names it; the same file added twice is one row."""

    __table_args__ = (UniqueConstraint("activity_id", "file_unique_id"),)

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # photo | document
    file_id: str = Field(max_length=255)
    file_unique_id: str = Field(max_length=128)
    name: str = Field(max_length=255)
    size: int | None = None
    added_by: int = Field(sa_type=BigInteger)
    added_at: datetime = Field(default_factory=utcnow)


class Attendance(SQLModel, table=True):
    """One member's response to one activity; the unique key makes repeats harmless."""

    __table_args__ = (UniqueConstraint("activity_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", ondelete="CASCADE")
    user_id: int = Field(sa_type=BigInteger, index=True)
    status: str = Field(max_length=8)
    method: str = Field(default="self", max_length=8)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    recorded_by: int = Field(sa_type=BigInteger)
    recorded_at: datetime = Field(default_factory=utcnow, index=True)  # start-up recount
    message_at: datetime


class BranchMembership(SQLModel, table=True):
    """One stay of a member in a branch (seen in its group): from `joined_at` until `left_at`,
    open while they are still there. A member who leaves and comes back has a row per stay, so
    the 应到 of a meeting and the 应学 of a task count exactly those present at the time."""

    __table_args__ = (
        Index("ix_branchmembership_chat_user", "chat_id", "user_id"),
        # at most one open stay per branch and member (two replicas seeing a join at once)
        Index("uq_branchmembership_open", "chat_id", "user_id", unique=True,
              sqlite_where=text("left_at IS NULL"), postgresql_where=text("left_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    user_id: int = Field(sa_type=BigInteger, index=True)
    joined_at: datetime
    left_at: datetime | None = None


class LeaveRequest(SQLModel, table=True):
    """A 请假 tap waiting for its reason, which the user's next message in `chat_id` gives."""

    user_id: int = Field(sa_type=BigInteger, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", ondelete="CASCADE")
    prompt_message_id: int | None = Field(default=None, sa_type=BigInteger)
    asked_at: datetime = Field(default_factory=utcnow)


class StudyTask(SQLModel, table=True):
    """A study assignment posted to a branch with an [已学习] button (one per /task message)."""

    __table_args__ = (
        Index("ix_studytask_chat_created", "chat_id", "created_at"),
        UniqueConstraint("chat_id", "source_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    content: str = Field(sa_column=Column(Text, nullable=False))
    due_date: date | None = None
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    source_message_id: int | None = Field(default=None, sa_type=BigInteger)
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class StudyRecord(SQLModel, table=True):
    """A member's completion of a task (one per task) or a free self-study entry.

    Commands also carry their source message, so a redelivered update adds nothing.
    """

    __table_args__ = (
        UniqueConstraint("task_id", "user_id"),
        UniqueConstraint("user_id", "source_chat_id", "source_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int | None = Field(default=None, foreign_key="studytask.id", ondelete="CASCADE")
    user_id: int = Field(sa_type=BigInteger, index=True)
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    source_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    source_message_id: int | None = Field(default=None, sa_type=BigInteger)
    recorded_at: datetime = Field(default_factory=utcnow, index=True)  # start-up recount
    message_at: datetime

# --- reminders and the duty calendar --------------------------------------------------------
# Rules and every delivery are rows: APScheduler only computes fire times and is rebuilt from
# these at start, so a restart or a replica taking over loses nothing and sends nothing twice.

class Reminder(SQLModel, table=True):
    """A scheduled reminder: a rule (`spec`, parsed once) and what to post, in one chat or many.
    Its /schedule message is kept, so a redelivered update schedules nothing twice. `number` is
    what people see and type (#1, #2… in each chat); system reminders have none."""

    __table_args__ = (UniqueConstraint("chat_id", "source_message_id"),
                      UniqueConstraint("chat_id", "number"))

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, index=True)
    scope: str = Field(default="chat", max_length=16)  # chat | branches | duties
    kind: str = Field(default="notice", max_length=16)  # notice | meeting | study | duty
    text: str = Field(sa_column=Column(Text, nullable=False))
    rule: str = Field(max_length=255)
    spec: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = Field(default=True, index=True)
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    last_fire_at: datetime | None = None  # the newest fire time fully handled
    next_fire_at: datetime | None = None  # the rule's next fire after that (kept for fast rebuilds)
    system_key: str | None = Field(default=None, max_length=32, unique=True)
    source_message_id: int | None = Field(default=None, sa_type=BigInteger)
    number: int | None = None


class Delivery(SQLModel, table=True):
    """One reminder fire in one chat; the unique key makes a second send impossible."""

    __table_args__ = (UniqueConstraint("reminder_id", "fire_time", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    reminder_id: int = Field(foreign_key="reminder.id", index=True, ondelete="CASCADE")
    fire_time: datetime
    chat_id: int = Field(sa_type=BigInteger)
    # pending -> sending -> sent | unreachable | failed; missed (too late, reported);
    # uncertain (a send cut off by a crash: never repeated, reported)
    status: str = Field(default="pending", max_length=16, index=True)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    activity_id: int | None = None
    worker: str = Field(default="", max_length=64)
    error: str = Field(default="", max_length=255)
    updated_at: datetime = Field(default_factory=utcnow)


class SchedulerLease(SQLModel, table=True):
    """Which replica runs the scheduler, until when; renewed while it lives."""

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(default="", max_length=64)
    expires_at: datetime


class DutySetting(SQLModel, table=True):
    """A branch's own cadence for a duty, or its switching the duty off."""

    __table_args__ = (UniqueConstraint("chat_id", "duty_id"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, index=True)
    duty_id: str = Field(max_length=16)
    enabled: bool = True
    period: str | None = Field(default=None, max_length=16)
    times: int | None = None
    updated_by: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow)


class DutyCompletion(SQLModel, table=True):
    """A duty done once in a branch, counted against its period; one per command message."""

    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, index=True)
    duty_id: str = Field(max_length=16, index=True)
    period_key: str = Field(max_length=16)
    done_by: int | None = Field(default=None, sa_type=BigInteger)
    done_at: datetime = Field(default_factory=utcnow)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    note: str = Field(default="", max_length=255)

# --- updates received by webhook ------------------------------------------------------------
# Stored before Telegram is answered 200, so a crash loses none; the key drops a repeat
# whichever replica it reaches.

PENDING = "status = 'pending'"


class InboundUpdate(SQLModel, table=True):
    """One Telegram update as received (its JSON), handled by the replica holding its claim;
    kept a day after handling so a late repeat of its id is still recognised."""

    __table_args__ = (  # the few not yet handled, for the replicas' rounds
        Index("ix_inboundupdate_pending", "update_id", sqlite_where=text(PENDING),
              postgresql_where=text(PENDING)),
    )

    update_id: int = Field(sa_type=BigInteger, primary_key=True,
                           sa_column_kwargs={"autoincrement": False})
    payload: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow)
    # pending (stored, not yet handled) -> done; failed (given up after crashing its handlers)
    status: str = Field(default="pending", max_length=16)
    claimed_by: str = Field(default="", max_length=64)
    claimed_until: datetime | None = None
    attempts: int = 1  # times a replica took it up; a crash during handling adds one
