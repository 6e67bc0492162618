"""A small world for the attendance, study, statistics and ledger tests: two branches, their
members and secretaries, and one meeting at 15:00 Beijing time on 2026-11-20."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from bot.services import attendance, roster, study
from bot.services.localtime import zone
from bot.services.people import Actor, remember
from content.meetings import meeting_kind
from storage.db import Database
from storage.models import Activity, RoleGrant

TZ = zone("Asia/Shanghai")
BRANCH, OTHER = -1001, -1002
SECRETARY = 1
"""A Telegram admin of BRANCH."""
OTHER_SECRETARY = 50
"""A Telegram admin and granted secretary of OTHER, a plain member nowhere else."""
ADMIN = 900
"""A global admin (DANGJIAN_ADMINS in the `settings` fixture)."""
MEMBERS = tuple(range(2, 12))
START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
JOINED = START - timedelta(days=60)


def actor(user_id: int, chat_id: int = BRANCH, *, admin: bool = False) -> Actor:
    """Someone acting in a group (negative chat id) or privately (their own id)."""
    return Actor(
        user_id=user_id, name=f"党员{user_id}", chat_id=chat_id,
        chat_type="supergroup" if chat_id < 0 else "private",
        chat_title=f"第{-chat_id - 1000}支部" if chat_id < 0 else "",
        username=f"user{user_id}", is_chat_admin=admin, is_global_admin=user_id == ADMIN,
    )


def secretary(chat_id: int = BRANCH) -> Actor:
    return actor(SECRETARY, chat_id, admin=chat_id == BRANCH)


def other_secretary(chat_id: int = BRANCH) -> Actor:
    return actor(OTHER_SECRETARY, chat_id, admin=chat_id == OTHER)


def populate(session: Session) -> None:
    """Both branches with their rosters since JOINED; OTHER's secretary also holds a grant."""
    for chat_id, people in ((BRANCH, (SECRETARY, *MEMBERS)), (OTHER, (OTHER_SECRETARY, 60))):
        for user_id in people:
            remember(session, actor(user_id, chat_id))
            roster.join(session, chat_id, user_id, JOINED)
    remember(session, actor(ADMIN, ADMIN))
    session.add(RoleGrant(chat_id=OTHER, user_id=OTHER_SECRETARY))


def meeting(session: Session, chat_id: int = BRANCH, *, starts: datetime = START,
            title: str = "主题党日 学习党章", **options: object) -> Activity:
    """An activity opened by the branch's scheduled reminder (no actor)."""
    return attendance.open_activity(session, chat_id, title, meeting_kind(title), starts,
                                    **options)  # type: ignore[arg-type]


AFTER = START + timedelta(days=1)
"""When the scenario is looked at: the day after the meeting."""


def scenario(db: Database) -> dict[str, int]:
    """A month of one branch with every kind of response, plus what must stay out of it.

    The meeting at START: 2 on time, 3 late, 4 on leave (出差), 5 补签 by the secretary,
    6 marked absent by the secretary; 1 and 7–11 did not respond. 12 joined the day after,
    13 had left before. A cancelled meeting and OTHER's meeting are not counted.
    A study task, done by 2 (with a note) and 3; a free study entry by 4.
    """
    with db.session() as session:
        populate(session)
        for user_id, joined in ((12, START + timedelta(days=1)), (13, JOINED)):
            remember(session, actor(user_id))
            roster.join(session, BRANCH, user_id, joined)
        roster.leave(session, BRANCH, 13, START - timedelta(days=1))
        held = meeting(session, place="三楼会议室", host="张三", recorder="李四")
        cancelled = meeting(session, title="党课 廉政教育", starts=START + timedelta(hours=3))
        elsewhere = meeting(session, chat_id=OTHER)
        task = study.post_task(session, secretary(), "学习《中国共产党章程》总纲 12月31日",
                               now=START, tz=TZ)
    on_time, late = START - timedelta(minutes=5), START + timedelta(minutes=20)
    with db.session() as session:
        attendance.check_in(session, actor(2), held.id, at=on_time, now=on_time, tz=TZ)
        attendance.check_in(session, actor(3), held.id, at=late, now=late, tz=TZ)
        attendance.record_leave(session, actor(4), held.id, "出差", at=on_time, now=on_time,
                                tz=TZ)
        attendance.proxy(session, secretary(), held.id, 5, "present", "手机没电", now=AFTER)
        attendance.proxy(session, secretary(), held.id, 6, "absent", "无故缺席", now=AFTER)
        attendance.check_in(session, actor(60, OTHER), elsewhere.id, at=on_time, now=on_time,
                            tz=TZ)
        attendance.cancel_activity(session, secretary(), cancelled.id, now=AFTER)
        study.complete_task(session, actor(2), task.id, at=late, now=late, note="深受教育")
        study.complete_task(session, actor(3), task.id, at=late, now=late)
        study.study(session, actor(4), "读《习近平谈治国理政》 心得：收获很大", at=late, now=late,
                    source_message_id=1)
    return {"held": held.id, "cancelled": cancelled.id, "elsewhere": elsewhere.id,
            "task": task.id}
