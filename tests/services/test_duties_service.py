"""A branch's duty calendar on SQLite and PostgreSQL: /done per period, a branch's own cadence or
switching a duty off, what is due soon, and the digest's 7-day, 1-day and overdue lines."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from real_plans import needs_real_plans
from reminder_world import BRANCH, MEMBER, NOW, SECRETARY, TZ, World, actor, secretary
from sqlmodel import select

from bot.services import UserError
from bot.services.duties import DutyService
from content.ingest import parse_plan
from storage.db import Database
from storage.models import AuditLog, Chat, DutyCompletion, DutySetting

BRANCH_MEETING = "83e743"  # 支部委员会会议一般每月召开1次 (built in)
LIAISON = "e1a82f"  # 每年到联系点检查指导工作不少于2次 (plan 000)


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


def state(world: World, duty_id: str, day: date):  # type: ignore[no-untyped-def]
    with world.db.session() as session:
        return next(i for i in world.duties.branch(session, BRANCH, day) if i.duty.id == duty_id)


def done(world: World, duty_id: str, message_id: int, who=None, now: datetime = NOW):  # type: ignore[no-untyped-def]
    with world.db.session() as session:
        return world.duties.mark_done(session, who or secretary(), duty_id, now=now,
                                      note="已召开", message_id=message_id)


def test_done_completes_the_period_and_moves_the_deadline(world: World) -> None:
    """One /done fulfils a monthly duty: the open deadline becomes next month's; a repeated
    update adds nothing; the act is audited."""
    today = NOW.astimezone(TZ).date()
    assert state(world, BRANCH_MEETING, today).due == date(2026, 11, 30)
    item, added = done(world, BRANCH_MEETING, 7)
    assert added and item.complete and item.done == 1
    assert item.due == date(2026, 12, 31)
    again, added_again = done(world, BRANCH_MEETING, 7)
    assert not added_again and again.done == 1
    with world.db.session() as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "duty_done")).one()
    assert (audit.entity_id, audit.detail) == (BRANCH_MEETING, "2026-11 已召开")


@needs_real_plans
def test_a_duty_asked_twice_a_year_needs_two(world: World) -> None:
    """不少于2次: one completion leaves it open."""
    item, _ = done(world, LIAISON, 1)
    assert (item.done, item.complete, item.due) == (1, False, date(2026, 12, 31))
    item, _ = done(world, LIAISON, 2)
    assert item.complete and item.due == date(2027, 12, 31)


def test_only_a_secretary_in_the_group_marks_done(world: World) -> None:
    """Members are refused; a private chat is not a branch; an unknown number is explained."""
    with pytest.raises(UserError, match="仅限"):
        done(world, BRANCH_MEETING, 1, who=actor(MEMBER))
    with pytest.raises(UserError, match="支部群"):
        done(world, BRANCH_MEETING, 1, who=actor(SECRETARY, SECRETARY))
    with pytest.raises(UserError, match="没有编号为 zzz"):
        done(world, "zzz", 1)


def test_a_branch_adjusts_or_switches_off_a_duty(world: World) -> None:
    """停用 takes it out of /duties and /done; a cadence of its own; 恢复 goes back to the plan."""
    today = NOW.astimezone(TZ).date()
    with world.db.session() as session:
        item = world.duties.configure(session, secretary(), BRANCH_MEETING, "停用", now=NOW)
        assert not item.enabled
        own, off = world.duties.own(session, BRANCH, today)
        assert BRANCH_MEETING not in [i.duty.id for i in own] and off == 1
    with pytest.raises(UserError, match="已在本支部停用"):
        done(world, BRANCH_MEETING, 3)
    with world.db.session() as session:
        world.duties.configure(session, secretary(), BRANCH_MEETING, "启用", now=NOW)
        item = world.duties.configure(session, secretary(), BRANCH_MEETING, "每两周一次", now=NOW)
        assert (item.duty.period, item.duty.times, item.adjusted) == ("month", 2, True)
        item = world.duties.configure(session, secretary(), BRANCH_MEETING, "恢复", now=NOW)
        assert (item.duty.period, item.duty.times, item.adjusted) == ("month", 1, False)
        with pytest.raises(UserError, match="用法"):
            world.duties.configure(session, secretary(), BRANCH_MEETING, "偶尔", now=NOW)
        with pytest.raises(UserError, match="仅限"):
            world.duties.configure(session, actor(MEMBER), BRANCH_MEETING, "停用", now=NOW)


def test_own_lists_the_branch_s_duties_overdue_first_then_by_deadline(world: World) -> None:
    """Last month's undone meetings come first, then the deadlines in order; the duties of the
    党委 or 班子成员 are not the branch's own."""
    today = NOW.astimezone(TZ).date()
    with world.db.session() as session:
        items, _ = world.duties.own(session, BRANCH, today)
    overdue = [i.overdue_since for i in items if i.overdue_since]
    assert overdue and items[0].overdue_since == min(overdue)
    assert date(2026, 10, 31) in overdue  # October's 支委会 was never marked done
    dues = [i.due for i in items if i.overdue_since is None]
    assert dues == sorted(dues, key=lambda due: due or date.max)
    assert {i.duty.audience for i in items} <= {"支部", "支部书记、党务工作者", "预备党员"}
    assert LIAISON not in [i.duty.id for i in items]


def joined(world: World, day: date) -> World:
    """The bot has known the branch since `day`."""
    with world.db.session() as session:
        chat = session.get(Chat, BRANCH)
        chat.created_at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        session.add(chat)
    return world


def test_a_new_branch_is_not_told_it_is_overdue_before_it_joined(db: Database) -> None:
    """Deadlines before the bot knew the branch are not counted against it."""
    world = joined(World(db), date(2026, 11, 15))
    assert state(world, BRANCH_MEETING, date(2026, 11, 20)).overdue_since is None
    assert state(world, BRANCH_MEETING, date(2026, 12, 2)).overdue_since == date(2026, 11, 30)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 23), "还有7天截止"),
        (date(2026, 11, 29), "还有1天截止"),
        (date(2026, 11, 24), None),
        (date(2026, 12, 1), "已逾期1天"),
        (date(2026, 12, 2), None),
        (date(2026, 12, 8), "已逾期8天"),
    ],
)
def test_digest_days(db: Database, day: date, expected: str | None) -> None:
    """The digest names a monthly duty 7 and 1 days ahead, the day after it lapsed and weekly."""
    world = joined(World(db), date(2026, 11, 1))
    with db.session() as session:
        lines = [line for line in world.duties.digest(session, BRANCH, day)
                 if BRANCH_MEETING in line]
    if expected is None:
        assert lines == []
    else:
        assert len(lines) == 1 and expected in lines[0]


def test_digest_groups_overdue_duties_by_kind(db: Database) -> None:
    """Overdue duties of one kind are one line, naming each; other kinds have their own."""
    plan = parse_plan("p.txt", "2026年工作要点\n一、组织\n1.会议。党支部每月召开支部委员会会议1次，"
                      "每月召开支委会扩大会议1次。\n")
    world = joined(World(db, plans=[plan]), date(2026, 10, 1))
    with db.session() as session:
        lines = [line for line in world.duties.digest(session, BRANCH, date(2026, 12, 1))
                 if "已逾期" in line]
    assert len(lines) == 3  # 支委会 (the built-in and the plan's second meeting), 党小组会, 主题党日
    meetings = next(line for line in lines if "（支委会）" in line)
    assert meetings.count("[") == 2 and "召开支部委员会会议" in meetings


def test_settings_and_completions_follow_a_duty_s_former_id(db: Database) -> None:
    """Rows stored under the id a duty had before (the hash of its sentence) count for it."""
    world = World(db)
    duty = world.duties.find(BRANCH_MEETING)
    former = duty.former_ids[0]
    assert world.duties.find(former) is duty
    with db.session() as session:
        session.add(DutyCompletion(chat_id=BRANCH, duty_id=former, period_key="2026-11",
                                   message_id=1))
        session.add(DutySetting(chat_id=BRANCH, duty_id=former, period="month", times=2))
    with db.session() as session:
        item = next(i for i in world.duties.branch(session, BRANCH, date(2026, 11, 20))
                    if i.duty.id == BRANCH_MEETING)
        assert (item.done, item.duty.times, item.adjusted) == (1, 2, True)
        assert session.exec(select(DutyCompletion.duty_id)).all() == [BRANCH_MEETING]


def test_digest_stops_once_done(db: Database) -> None:
    """Marked done: no more warnings for the period."""
    world = joined(World(db), date(2026, 11, 1))
    done(world, BRANCH_MEETING, 9)
    with world.db.session() as session:
        lines = world.duties.digest(session, BRANCH, date(2026, 11, 29))
    assert not any(BRANCH_MEETING in line for line in lines)


def test_a_newly_ingested_plan_brings_its_duties() -> None:
    """The calendar follows the plans: a new one adds its own duties."""
    plans = [parse_plan("a.txt", "一、组织\n1.会议。支部每月召开一次委员会。")]
    service = DutyService(lambda: plans, TZ)
    before = {d.id for d in service.calendar()}
    plans.append(parse_plan("b.txt", "一、宣传\n1.宣传。每季度评选一次优秀通讯员。"))
    after = service.calendar()
    new = [d for d in after if d.id not in before]
    assert [(d.title, d.period) for d in new] == [("评选优秀通讯员", "quarter")]
