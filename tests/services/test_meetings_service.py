"""Meetings that count, on SQLite and PostgreSQL: only held meetings in the figures, the 主持人
and 记录人 present, a held 三会一课 ticking its duty, 补录 and the minutes in the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from attendance_world import (
    AFTER,
    BRANCH,
    START,
    TZ,
    actor,
    meeting,
    populate,
    secretary,
)
from sqlmodel import select

from bot.services import UserError, attendance, ledger, meetings, stats
from bot.services.duties import DutyService, describe
from bot.services.localtime import period_of
from content.duties import builtin_duties
from content.meetings import is_held, phase
from storage.db import Database
from storage.models import Activity, Attendance, AuditLog, MeetingFile

BEFORE = START - timedelta(hours=3)
PARTY_CONGRESS = next(d.id for d in builtin_duties() if d.title == "召开党员大会")  # built in


def rows(db: Database, activity_id: int) -> dict[int, tuple[str, str, str]]:
    with db.session() as session:
        return {r.user_id: (r.status, r.method, r.reason) for r in session.exec(
            select(Attendance).where(Attendance.activity_id == activity_id))}


def remind(db: Database, text: str, now=BEFORE) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        populate(session)
        return attendance.remind(session, secretary(), text, now=now, tz=TZ).id or 0


def test_a_future_meeting_is_listed_as_pending_and_owes_no_absences(db: Database) -> None:
    """/stats the day after a meeting counts it, while next week's is 待召开: not in 应到, 出席率
    or the non-responder list."""
    with db.session() as session:
        populate(session)
        held = meeting(session)
        coming = meeting(session, starts=START + timedelta(days=7), title="支部大会 选举支委")
        attendance.check_in(session, actor(2), held.id, at=START, now=START, tz=TZ)
    with db.session() as session:
        result = stats.report(session, [BRANCH], period_of("本月", AFTER, TZ), AFTER)
        text = stats.render_report(result, TZ)
        missing = stats.render_missing(session, result, TZ)
    assert [t.activity.id for t in result.activities] == [held.id]
    assert [a.id for a in result.upcoming] == [coming.id]
    assert "活动 1 次，总体出席率 9%（实到/应到；应到依据：群内成员）" in text
    assert "11-27 【支部党员大会】支部大会 选举支委：待召开" in text
    assert f"#{coming.id}" not in missing and f"#{held.id}" in missing
    with db.session() as session:  # before the first one starts, nothing is counted at all
        early = stats.report(session, [BRANCH], period_of("本月", BEFORE, TZ), BEFORE)
    assert early.activities == [] and len(early.upcoming) == 2
    assert "本期还没有已召开的活动。" in stats.render_report(early, TZ)


def test_phase_follows_the_clock(db: Database) -> None:
    """待召开, then 签到中 from check-in, 进行中 from the start, 已结束 after the end; a
    cancelled meeting is 已取消 and never held."""
    with db.session() as session:
        populate(session)
        activity = meeting(session)
        phases = [phase(activity, START + timedelta(minutes=m))
                  for m in (-60, -10, 10, 200)]
        held = [is_held(activity, START + timedelta(minutes=m)) for m in (-10, 0)]
        attendance.cancel_activity(session, secretary(), activity.id, now=START)
        assert phase(activity, AFTER) == "已取消"
        assert not is_held(activity, AFTER)
    assert phases == ["待召开", "签到中", "进行中", "已结束"] and held == [False, True]


def test_host_and_recorder_named_in_the_notice_are_present(db: Database) -> None:
    """主持人 by name and 记录人 by @username are members recorded present; the secretary who
    posted is then an ordinary member; the host may still ask leave."""
    activity_id = remind(db, "15:00 党小组会 主持人：党员3 记录人：@user4")
    assert rows(db, activity_id) == {3: ("present", "role", "主持人"),
                                     4: ("present", "role", "记录人")}
    with db.session() as session:
        stored = session.get(Activity, activity_id)
        assert (stored.host_id, stored.recorder_id) == (3, 4)  # type: ignore[union-attr]
        attendance.record_leave(session, actor(3), activity_id, "临时出差", at=BEFORE,
                                now=BEFORE, tz=TZ)
    assert rows(db, activity_id)[3] == ("leave", "self", "临时出差")


def test_the_poster_hosts_when_no_host_is_named_and_unknown_names_stay_text(
        db: Database) -> None:
    """No 主持人: the secretary who posted hosts and is not absent; 主持人：王书记 matching no
    member keeps the text and records nobody."""
    activity_id = remind(db, "15:00 主题党日 学习党章")
    assert rows(db, activity_id) == {1: ("present", "role", "主持人")}
    with db.session() as session:
        [tally] = stats.tally_activities(session, [session.get(Activity, activity_id)])
        named = attendance.remind(session, secretary(), "16:00 党课 主持人：王书记",
                                  now=BEFORE, tz=TZ, source_message_id=5)
        assert (named.host, named.host_id) == ("王书记", None)
    assert tally.present == 1 and 1 not in tally.missing
    assert rows(db, named.id or 0) == {}


def test_a_held_branch_congress_ticks_its_duty_with_the_link(db: Database) -> None:
    """A 支部大会 counts for 党员大会每季度1次 from its day on, shown with its number; a
    cancelled one and another kind do not."""
    duties = DutyService(lambda: [], TZ)
    with db.session() as session:
        populate(session)
        congress = meeting(session, title="支部大会 选举支委")
        dropped = meeting(session, title="全体党员大会", starts=START + timedelta(days=1))
        attendance.cancel_activity(session, secretary(), dropped.id, now=START)
        meeting(session, title="主题党日", starts=START - timedelta(days=1))

    def congress_duty(day):  # type: ignore[no-untyped-def]
        with db.session() as session:
            return next(i for i in duties.branch(session, BRANCH, day)
                        if i.duty.id == PARTY_CONGRESS)

    before = congress_duty((START - timedelta(days=1)).astimezone(TZ).date())
    after = congress_duty(AFTER.astimezone(TZ).date())
    assert (before.done, before.meetings) == (0, ())
    assert (after.done, after.complete, after.meetings) == (1, True, (congress.id,))
    assert f"（会议 #{congress.id}）" in describe(after)


def test_backfill_is_marked_audited_and_posted_nowhere(db: Database) -> None:
    """/remind 补录 enters a past meeting with its reason, audited once even when the command
    comes twice; its attendance is then recorded by /proxy."""
    with db.session() as session:
        populate(session)
        first = meetings.backfill(session, secretary(), "补录 11月1日 15:00 支委会 原因：系统未上线",
                                  now=AFTER, tz=TZ, source_message_id=9)
        again = meetings.backfill(session, secretary(), "补录 11月1日 15:00 支委会 原因：系统未上线",
                                  now=AFTER, tz=TZ, source_message_id=9)
        attendance.proxy(session, secretary(), first.id, 2, "present", "补录", now=AFTER)
        audit = session.exec(select(AuditLog).where(AuditLog.action == "activity.backfill")).all()
        reply = meetings.backfill_reply(first, TZ)
    assert again.id == first.id and first.message_id is None
    assert (first.kind, first.backfill_reason) == ("支委会", "系统未上线")
    assert first.starts_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M") == "2026-11-01 15:00"
    assert len(audit) == 1 and "原因：系统未上线" in audit[0].detail
    assert "补录" in audit[0].detail and "（补录）" in reply
    assert rows(db, first.id or 0) == {1: ("present", "role", "主持人"),
                                       2: ("present", "proxy", "补录")}


def test_backfill_in_january_of_a_december_date_is_last_year(db: Database) -> None:
    """补录 12月1日 sent on 10 January means the December just past, not the one to come."""
    january = datetime(2027, 1, 10, 2, 0, tzinfo=UTC)
    with db.session() as session:
        populate(session)
        entered = meetings.backfill(session, secretary(), "补录 12月1日 15:00 支委会 原因：系统未上线",
                                    now=january, tz=TZ)
    assert entered.starts_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M") == "2026-12-01 15:00"


@pytest.mark.parametrize(("text", "error"), [
    ("补录 11月1日 15:00 支委会", "请写明补录原因"),
    ("补录 12月1日 15:00 支委会 原因：提前登记", "还没有到，补录只用于已召开的会议"),
    ("补录 支委会 原因：忘了", "请在内容前写明活动时间"),
])
def test_backfill_asks_for_what_is_missing(db: Database, text: str, error: str) -> None:
    """No reason, a date still to come, or no date: a clear message and nothing stored."""
    with db.session() as session:
        populate(session)
        with pytest.raises(UserError, match=error):
            meetings.backfill(session, secretary(), text, now=AFTER, tz=TZ)
        assert session.exec(select(Activity)).all() == []


def test_minutes_and_files_go_into_the_meeting_record(db: Database) -> None:
    """议题/决议/纪要 are stored (a later one replaces its field, audited), a photo is kept once,
    and meeting_record returns them with the counts, absences and reasons."""
    with db.session() as session:
        populate(session)
        held = meeting(session, title="支委会 研究发展党员", place="三楼会议室", host="党员2",
                       recorder="记录员")
        attendance.check_in(session, actor(3), held.id, at=START, now=START, tz=TZ)
        attendance.record_leave(session, actor(4), held.id, "出差", at=BEFORE, now=BEFORE, tz=TZ)
        attendance.proxy(session, secretary(), held.id, 5, "absent", "无故缺席", now=AFTER)
        found = meetings.find_meeting(session, secretary(), str(held.id), None)
        first = meetings.add_minutes(session, secretary(), found,
                                     "议题：1.研究发展党员 决议：同意张三为发展对象 纪要：会议由党员2主持",
                                     now=AFTER, tz=TZ)
        second = meetings.add_minutes(session, secretary(), found, "决议：同意张三、李四为发展对象",
                                      now=AFTER, tz=TZ)
        for _ in range(2):
            photo = meetings.add_file(session, secretary(), found, kind="photo", file_id="F1",
                                      file_unique_id="U1", name="", size=1000, caption="",
                                      now=AFTER, tz=TZ)
        record = meetings.meeting_record(session, held.id or 0)
        audit = session.exec(select(AuditLog.detail).where(
            AuditLog.action.in_(("activity.minutes", "activity.file")))).all()  # type: ignore[attr-defined]
        files = session.exec(select(MeetingFile)).all()
    assert first.changed == ("topics", "decisions", "minutes") and second.changed == ("decisions",)
    assert photo.file_added is False and len(files) == 1 and files[0].name == "照片1"
    assert (record.topics, record.decisions, record.minutes) == (
        "1.研究发展党员", "同意张三、李四为发展对象", "会议由党员2主持")
    assert (record.place, record.host, record.recorder, record.attachments) == (
        "三楼会议室", "党员2", "记录员", ("照片1",))
    assert (record.expected, record.present, record.leave) == (11, 2, 1)
    assert record.absent[:2] == (("党员5", "无故缺席"), ("党员4", "请假：出差"))
    assert ("党员6", "未响应") in record.absent and not record.backfilled
    assert record.counts_for == "支委会"
    assert len(audit) == 5 and any("决议：更新" in d for d in audit)


def test_minutes_are_refused_before_the_meeting_and_when_too_long(db: Database) -> None:
    """A meeting still to come takes no minutes; an over-long 纪要 is refused whole; members
    cannot write them."""
    with db.session() as session:
        populate(session)
        coming = meeting(session)
        with pytest.raises(UserError, match="尚未召开"):
            meetings.add_minutes(session, secretary(), coming, "纪要：提前写", now=BEFORE, tz=TZ)
        with pytest.raises(UserError, match="超过 4000 字"):
            meetings.add_minutes(session, secretary(), coming, "纪要：" + "字" * 4001,
                                 now=AFTER, tz=TZ)
        with pytest.raises(UserError, match="仅限"):
            meetings.find_meeting(session, actor(2), str(coming.id), None)
        assert (coming.minutes, coming.topics) == ("", "")


def test_minutes_text_without_labels_is_the_minutes() -> None:
    """Unlabelled text is the 纪要; 会议记录 is another name for it."""
    assert meetings.parse_minutes("大家学习了党章") == {"minutes": "大家学习了党章"}
    assert meetings.parse_minutes("议题：学习党章；会议记录：学习并讨论") == {
        "topics": "学习党章", "minutes": "学习并讨论"}


def test_backfill_is_marked_in_the_ledger(db: Database, tmp_path: Path) -> None:
    """The ledger's meeting row says 补录 with the reason, and its 更正记录 names the act."""
    with db.session() as session:
        populate(session)
        meetings.backfill(session, secretary(), "补录 11月1日 15:00 支部大会 原因：系统未上线",
                          now=AFTER, tz=TZ)
    [path] = ledger.export(db, tmp_path / "ledger.xlsx", ledger.Scope([BRANCH], TZ, AFTER))
    workbook = openpyxl.load_workbook(path, read_only=True)
    first = ledger.TITLE_ROWS + 2  # below the title block and the header
    [row] = list(workbook["支部党员大会"].iter_rows(min_row=first, values_only=True))
    [record] = list(workbook["三会一课记录"].iter_rows(min_row=first, values_only=True))
    audit = list(workbook["更正记录"].iter_rows(min_row=first, values_only=True))
    assert row[8].startswith("（补录，原因：系统未上线）支部大会")
    assert record[2].startswith("（补录，原因：系统未上线）支部大会")
    assert [r[3] for r in audit] == [f"补录会议：支部党员大会 #{record[13]}"]
    assert "系统未上线" in audit[0][4] and not audit[0][4].startswith("#")
