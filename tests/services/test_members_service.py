"""The 名册: importing it, linking names to accounts, naming members in commands, and 应到
counted from it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from attendance_world import (
    BRANCH,
    OTHER,
    SECRETARY,
    START,
    TZ,
    actor,
    meeting,
    other_secretary,
    populate,
    secretary,
)
from sqlmodel import Session, select

from bot.services import UserError, attendance, members, roster, stats
from bot.services.localtime import period_of
from bot.services.roster_file import RosterRow
from storage.db import Database
from storage.models import Attendance, AuditLog, RosterEntry

ROWS = [RosterRow("张三", "第一党小组", "支部书记", "13800138000"), RosterRow("李四", "第一党小组"),
        RosterRow("王五", "第二党小组"), RosterRow("赵六", "第二党小组")]


def imported(session: Session, rows: list[RosterRow] = ROWS) -> dict[str, int]:
    members.import_roster(session, secretary(), BRANCH, rows, now=START)
    session.flush()
    return {e.name: e.id for e in members.current(session, BRANCH)}  # type: ignore[misc]


def test_import_then_reimport_keeps_links_and_marks_the_missing_removed(db: Database) -> None:
    """A second import updates the names it shares with the first (their links stay), adds the
    new and marks the left-out removed; each import is in the audit log."""
    with db.session() as session:
        populate(session)
        ids = imported(session)
        members.link(session, actor(2), ids["李四"], 2, now=START)
        result = members.import_roster(
            session, secretary(), BRANCH,
            [RosterRow("李四", "第二党小组"), RosterRow("张三", "第一党小组", "支部书记", "13800138000"),
             RosterRow("孙七")], now=START)
        assert (result.total, result.added, result.updated, result.removed, result.linked) == (
            3, 1, 1, 2, 1)
        listed = members.listing(session, BRANCH)
        assert [(e.name, e.party_group, e.user_id) for e in listed] == [
            ("李四", "第二党小组", 2), ("张三", "第一党小组", None), ("孙七", "", None)]
        assert session.get(RosterEntry, ids["王五"]).removed_at is not None  # type: ignore[union-attr]
        logs = session.exec(select(AuditLog.detail).where(AuditLog.action == "roster.import")).all()
        assert logs[-1] == "导入名册：共3人，新增1，更新1，移除2"


def test_only_a_secretary_imports(db: Database) -> None:
    with db.session() as session:
        populate(session)
        with pytest.raises(UserError, match="仅限"):
            members.import_roster(session, actor(2), BRANCH, ROWS, now=START)
        with pytest.raises(UserError, match="仅限"):  # a secretary of another branch
            members.import_roster(session, other_secretary(), BRANCH, ROWS, now=START)


def test_linking_rules(db: Database) -> None:
    """A member links themself; a name another account holds is refused to a member and taken
    over by a secretary (who is told whose link ended); an account linked elsewhere moves."""
    with db.session() as session:
        populate(session)
        ids = imported(session)
        first = members.link(session, actor(2), ids["张三"], 2, now=START)
        assert (first.name, first.already) == ("张三", False)
        assert members.link(session, actor(2), ids["张三"], 2, now=START).already
        with pytest.raises(UserError, match="已由其他账号绑定"):
            members.link(session, actor(3), ids["张三"], 3, now=START)
        with pytest.raises(UserError, match="仅限"):  # a member cannot link someone else
            members.link(session, actor(3), ids["李四"], 4, now=START)
        taken = members.link(session, secretary(), ids["张三"], 3, now=START)
        assert taken.replaced == "党员2（@user2）"
        moved = members.link(session, actor(3), ids["李四"], 3, now=START)
        assert moved.moved_from == "张三"
        linked = {e.name: e.user_id for e in members.listing(session, BRANCH)}
        assert linked == {"张三": None, "李四": 3, "王五": None, "赵六": None}
        with pytest.raises(UserError, match="名册中没有这个姓名"):  # another branch's entry
            members.link(session, other_secretary(OTHER), ids["王五"], 60, now=START,
                         chat_id=OTHER)


def test_resolver_names_members_every_way(db: Database) -> None:
    """A name (名册 or display name, with or without @), an @username, a user id and 名册N all
    name one member; a shared name asks with each one's handle; an unknown one says so."""
    with db.session() as session:
        populate(session)
        ids = imported(session, [*ROWS, RosterRow("张三", "第二党小组")])
        members.link(session, actor(5), ids["王五"], 5, now=START)
        find = members.find_member
        assert find(session, "王五", [BRANCH]) == 5
        assert find(session, "@王五", [BRANCH]) == 5
        assert find(session, "@user7", [BRANCH]) == 7
        assert find(session, "党员7", [BRANCH]) == 7  # the chat display name
        assert find(session, "7", [BRANCH]) == 7
        assert find(session, "李四", [BRANCH]) == -ids["李四"]  # unlinked: the entry's number
        assert find(session, f"名册{ids['李四']}", [BRANCH]) == -ids["李四"]
        with pytest.raises(UserError) as asked:
            find(session, "张三", [BRANCH])
        assert "有 2 位“张三”" in str(asked.value)
        assert "第一党小组" in str(asked.value) and "第二党小组" in str(asked.value)
        assert "写 名册" in str(asked.value)
        with pytest.raises(UserError, match="找不到成员“钱八”"):
            find(session, "钱八", [BRANCH])
        with pytest.raises(UserError, match="找不到成员“王五”"):  # not in the other branch
            find(session, "王五", [OTHER])
        with pytest.raises(UserError, match="找不到 名册"):
            find(session, f"名册{ids['李四']}", [OTHER])


def test_expected_comes_from_the_roster(db: Database) -> None:
    """With a 名册, 应到 is its names, linked or not (an unlinked one who never responded is
    absent), not who spoke in the group; /stats says which source it used."""
    with db.session() as session:
        populate(session)  # eleven seen in the group
        held = meeting(session)
        period = period_of("本月", START, TZ)
        before = stats.report(session, [BRANCH], period)
        assert (before.activities[0].expected, before.source) == (11, "群内成员")
        ids = imported(session)
        members.link(session, actor(2), ids["张三"], 2, now=START)
    with db.session() as session:
        attendance.check_in(session, actor(2), held.id, at=START, now=START, tz=TZ)
        attendance.proxy_command(session, secretary(), [str(held.id), "李四", "请假", "出差"], None,
                                 now=START)
        after = stats.report(session, [BRANCH], period)
        [tally] = after.activities
        assert after.source == "名册"
        assert (tally.expected, tally.present, tally.leave, tally.absent) == (4, 1, 1, 2)
        assert tally.missing == {-ids["王五"], -ids["赵六"]}
        assert "应到依据：名册" in stats.render_report(after, TZ)
        assert "王五、赵六" in stats.render_missing(session, after, TZ)


def test_linking_moves_records_kept_under_the_name(db: Database) -> None:
    """A 请假 the secretary recorded for an unlinked name becomes the account's when the member
    links it, and /me by name shows it."""
    with db.session() as session:
        populate(session)
        held = meeting(session)
        ids = imported(session)
        attendance.proxy_command(session, secretary(), [str(held.id), "李四", "请假", "出差"], None,
                                 now=START)
        later = START + timedelta(days=1)
        record = stats.my_record(session, secretary(), members.find_member(session, "李四", [BRANCH]),
                                 now=later, tz=TZ)
        assert record.startswith("📋 李四") and "请假 1 次" in record
        members.link(session, actor(3), ids["李四"], 3, now=START)
        rows = session.exec(select(Attendance.user_id, Attendance.status)).all()
        assert rows == [(3, "leave")]
        mine = stats.my_record(session, actor(3), 3, now=later, tz=TZ)
        assert mine.startswith("📋 李四") and "请假 1 次" in mine


def test_records_by_name_are_the_secretary_s_and_names_come_from_the_roster(db: Database) -> None:
    """A member cannot see an unlinked name's record; such a name reads as on the 名册."""
    with db.session() as session:
        populate(session)
        ids = imported(session)
        with pytest.raises(UserError, match="只能查看自己的记录"):
            stats.my_record(session, actor(4), -ids["王五"], now=START, tz=TZ)
        assert roster.names(session, [-ids["王五"], SECRETARY]) == {
            -ids["王五"]: "王五", SECRETARY: "党员1"}
