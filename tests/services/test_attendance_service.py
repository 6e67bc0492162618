"""Meetings and check-ins on SQLite and PostgreSQL: windows, repeats, leave, corrections, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from attendance_world import (
    ADMIN,
    AFTER,
    BRANCH,
    MEMBERS,
    OTHER,
    START,
    TZ,
    actor,
    meeting,
    other_secretary,
    populate,
    secretary,
)
from sqlalchemy import event
from sqlmodel import select

from bot.services import UserError, attendance
from storage.db import Database
from storage.models import Activity, Attendance, AuditLog, LeaveRequest

MEMBER = actor(MEMBERS[0])
ON_TIME = START - timedelta(minutes=5)


@pytest.fixture
def world(db: Database) -> Database:
    with db.session() as session:
        populate(session)
    return db


def rows(db: Database, activity_id: int) -> list[Attendance]:
    with db.session() as session:
        return list(session.exec(
            select(Attendance).where(Attendance.activity_id == activity_id)
            .order_by(Attendance.user_id)
        ))


def audits(db: Database) -> list[AuditLog]:
    with db.session() as session:
        return list(session.exec(select(AuditLog).order_by(AuditLog.id)))


def open_meeting(db: Database, **options: object) -> int:
    with db.session() as session:
        return meeting(session, **options).id  # type: ignore[arg-type,return-value]


def test_remind_parses_time_place_people_and_rule(world: Database) -> None:
    """/remind text gives the start, end, type, place, host, recorder and late rule."""
    now = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    text = "15:00-17:30 支部党员大会 选举支委 地点：三楼会议室 主持人：张三 记录人：李四 迟到：不予签到"
    with world.session() as session:
        activity = attendance.remind(session, secretary(), text, now=now, tz=TZ)
    assert activity.kind == "支部党员大会"
    assert activity.title == "支部党员大会 选举支委"
    assert (activity.place, activity.host, activity.recorder) == ("三楼会议室", "张三", "李四")
    assert activity.starts_at == START
    assert activity.ends_at == START + timedelta(hours=2, minutes=30)
    assert activity.checkin_opens_at == START - attendance.EARLY
    assert activity.late_after == START + attendance.GRACE
    assert activity.late_policy == "refuse"
    assert activity.created_by == 1


def test_a_redelivered_remind_opens_one_activity(world: Database) -> None:
    """The same /remind message handled twice (Telegram redelivery) opens one activity."""
    with world.session() as session:
        first = attendance.remind(session, secretary(), "现在 主题党日", now=ON_TIME, tz=TZ,
                                  source_message_id=42)
    with world.session() as session:
        again = attendance.remind(session, secretary(), "现在 主题党日", now=ON_TIME, tz=TZ,
                                  source_message_id=42)
        other = attendance.remind(session, secretary(), "现在 主题党日", now=ON_TIME, tz=TZ,
                                  source_message_id=43)
        assert len(session.exec(select(Activity)).all()) == 2
    assert again.id == first.id != other.id


def test_remind_asks_for_a_time_and_rejects_a_time_long_gone(world: Database) -> None:
    """Without a time (or with a day but no hour) /remind asks instead of posting for now;
    现在 is how a meeting starts now."""
    now = START + timedelta(hours=5)
    with world.session() as session:
        for text, reason in (("党课 学习党史", "写明活动时间"), ("明天 党课", "具体时间"),
                             ("周五上午15点 党课", "上午没有15点"), ("09:00 党课", "已经过去"),
                             ("  ", "用法")):
            with pytest.raises(UserError, match=reason):
                attendance.remind(session, secretary(), text, now=now, tz=TZ)
        activity = attendance.remind(session, secretary(), "现在 党课 学习党史", now=now, tz=TZ)
        assert (activity.starts_at, activity.kind, activity.title) == (now, "党课", "党课 学习党史")
    with world.session() as session:
        assert len(session.exec(select(Activity)).all()) == 1


def test_remind_reads_the_times_secretaries_write(world: Database) -> None:
    """明天下午3点, 明晚7点半, 下周三下午 …: the meeting opens then, never at the time of posting."""
    now = datetime(2026, 12, 5, 11, 34, tzinfo=UTC)  # Saturday 19:34 in Beijing
    text = "明天下午3点 主题党日：学习二十大报告 地点：三楼会议室 主持人：王书记"
    with world.session() as session:
        activity = attendance.remind(session, secretary(), text, now=now, tz=TZ)
        assert activity.starts_at == datetime(2026, 12, 6, 15, 0, tzinfo=TZ)
        assert activity.ends_at == activity.starts_at + attendance.LENGTH
        assert (activity.title, activity.place, activity.host) == (
            "主题党日：学习二十大报告", "三楼会议室", "王书记")
        ranged = attendance.remind(session, secretary(), "下周三下午2点到4点半 党课", now=now, tz=TZ)
        assert (ranged.starts_at, ranged.ends_at) == (datetime(2026, 12, 9, 14, 0, tzinfo=TZ),
                                                      datetime(2026, 12, 9, 16, 30, tzinfo=TZ))


def test_a_meeting_on_a_rest_day_says_how_to_move_it(world: Database) -> None:
    """A Sunday meeting gets a note with the /remind commands that move it to the working day
    before or after, and each, sent back, opens the same meeting on that day; a working day
    already past is not offered."""
    text = "明天上午9点到11点 主题党日 学习党章 地点：三楼会议室 主持人：张三 迟到：不予签到"
    thursday = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    saturday = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    with world.session() as session:
        sunday = attendance.remind(session, secretary(), "大后天上午9点到11点 主题党日 学习党章"
                                   " 地点：三楼会议室 主持人：张三 迟到：不予签到", now=thursday, tz=TZ)
        note = attendance.rest_day_note(sunday, thursday, TZ)
        assert "12月6日（周日）09:00 不是工作日" in note and f"/activities 取消 {sunday.id}" in note
        commands = [part.split("（")[0] for part in note.split("再发送 ")[1].split(" 或 ")]
        moved = [attendance.remind(session, secretary(), command.removeprefix("/remind "),
                                   now=thursday, tz=TZ) for command in commands]
        assert [m.starts_at for m in moved] == [datetime(2026, 12, day, 9, 0, tzinfo=TZ)
                                                for day in (4, 7)]
        for copy in moved:
            assert (copy.title, copy.place, copy.host, copy.late_policy) == (
                sunday.title, sunday.place, sunday.host, "refuse")
            assert copy.ends_at - copy.starts_at == timedelta(hours=2)
        assert attendance.rest_day_note(moved[1], thursday, TZ) == ""
        late = attendance.rest_day_note(
            attendance.remind(session, secretary(), text, now=saturday, tz=TZ), saturday, TZ)
        assert "（顺延）" in late and "（提前）" not in late
        started = attendance.remind(session, secretary(), "现在 临时支委会", now=saturday, tz=TZ)
        assert attendance.rest_day_note(started, saturday, TZ) == ""


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        (MEMBER, False),
        (secretary(), True),
        (other_secretary(), False),
        (actor(ADMIN), True),
    ],
    ids=["member", "secretary-here", "secretary-elsewhere", "global-admin"],
)
def test_only_this_branchs_secretaries_open_activities(world: Database, who, allowed) -> None:
    with world.session() as session:
        if allowed:
            assert attendance.remind(session, who, "现在 主题党日", now=ON_TIME, tz=TZ).id
        else:
            with pytest.raises(UserError, match="仅限本支部书记"):
                attendance.remind(session, who, "现在 主题党日", now=ON_TIME, tz=TZ)


def test_double_tap_and_redelivered_update_make_one_row(world: Database) -> None:
    """The second check-in answers 已签到 and changes nothing."""
    activity_id = open_meeting(world)
    with world.session() as session:
        first = attendance.check_in(session, MEMBER, activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
    with world.session() as session:
        again = attendance.check_in(session, MEMBER, activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
    assert (first.text, first.changed) == ("签到成功！", True)
    assert "已签到" in again.text and not again.changed
    [row] = rows(world, activity_id)
    assert (row.status, row.method, row.user_id) == ("present", "self", MEMBER.user_id)
    with world.session() as session:
        assert session.get(Activity, activity_id).status == "held"  # type: ignore[union-attr]


def test_two_sessions_racing_insert_one_row(world: Database) -> None:
    """Idempotent by constraint: two open transactions for the same tap still yield one row."""
    activity_id = open_meeting(world)
    with world.session() as first, world.session() as second:
        a = attendance.check_in(first, MEMBER, activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
        first.commit()
        b = attendance.check_in(second, MEMBER, activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
    assert a.changed and not b.changed
    assert len(rows(world, activity_id)) == 1


def test_a_tap_recorded_elsewhere_between_read_and_insert(postgres_url: str) -> None:
    """A member's status comes with the activity in one read; when another replica records the
    same tap after that read, the insert does nothing and this one answers 已签到."""
    db = Database(postgres_url)
    db.migrate()
    with db.session() as session:
        populate(session)
    activity_id = open_meeting(db)
    elsewhere: list[attendance.Outcome] = []

    def other_replica_first(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO attendance") and not raced:
            raced.append(True)
            with db.session() as other:
                elsewhere.append(attendance.check_in(other, MEMBER, activity_id, at=ON_TIME,
                                                     now=ON_TIME, tz=TZ))

    raced: list[bool] = []
    event.listen(db.engine, "before_cursor_execute", other_replica_first)
    with db.session() as session:
        here = attendance.check_in(session, MEMBER, activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
    event.remove(db.engine, "before_cursor_execute", other_replica_first)
    assert [o.changed for o in elsewhere] == [True]
    assert (here.text, here.changed) == ("您已签到，无需重复签到。", False)
    assert len(rows(db, activity_id)) == 1
    db.dispose()


@pytest.mark.parametrize(
    ("offset", "policy", "expected"),
    [
        (timedelta(minutes=-31), "late", "尚未开始"),
        (timedelta(minutes=-30), "late", "self"),
        (timedelta(minutes=15), "late", "self"),
        (timedelta(minutes=16), "late", "late"),
        (timedelta(hours=2), "late", "late"),
        (timedelta(hours=2, seconds=1), "late", "已截止"),
        (timedelta(minutes=16), "refuse", "已截止"),
    ],
)
def test_check_in_window_is_judged_by_the_message_time(world: Database, offset, policy,
                                                       expected) -> None:
    """Opens 30 min early, late after 15 min, closes at the end; `now` (processing) is hours later
    and does not matter, so a backlog after downtime is recorded as it happened."""
    activity_id = open_meeting(world, late_policy=policy)
    processed = START + timedelta(days=1)
    with world.session() as session:
        if expected in ("self", "late"):
            attendance.check_in(session, MEMBER, activity_id, at=START + offset, now=processed,
                                tz=TZ)
        else:
            with pytest.raises(UserError, match=expected):
                attendance.check_in(session, MEMBER, activity_id, at=START + offset,
                                    now=processed, tz=TZ)
    if expected in ("self", "late"):
        [row] = rows(world, activity_id)
        assert row.method == expected
        assert row.message_at == START + offset
        assert row.recorded_at == processed


def test_members_act_only_on_their_own_branch(world: Database) -> None:
    activity_id = open_meeting(world)
    outsider_in_other_group = actor(60, OTHER)
    with world.session() as session:
        with pytest.raises(UserError, match="不属于本群"):
            attendance.check_in(session, outsider_in_other_group, activity_id, at=ON_TIME,
                                now=ON_TIME, tz=TZ)
        with pytest.raises(UserError, match="不在该活动所属的支部"):
            attendance.check_in(session, actor(60, 60), activity_id, at=ON_TIME, now=ON_TIME,
                                tz=TZ)
        privately = attendance.check_in(session, actor(MEMBER.user_id, MEMBER.user_id),
                                        activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
    assert privately.changed


def test_resolve_activity_by_number_words_or_the_open_one(world: Database) -> None:
    with world.session() as session:
        first = meeting(session)
        second = meeting(session, title="支委会 研究发展党员", starts=START + timedelta(minutes=10))
        meeting(session, chat_id=OTHER)
    at = START
    with world.session() as session:
        assert attendance.resolve_activity(session, MEMBER, str(first.id), at=at) == first.id
        assert attendance.resolve_activity(session, MEMBER, "支委会", at=at) == second.id
        with pytest.raises(UserError, match=f"#{first.id}.*#{second.id}"):
            attendance.resolve_activity(session, MEMBER, "", at=at)
        with pytest.raises(UserError, match="没有正在签到"):
            attendance.resolve_activity(session, MEMBER, "", at=at + timedelta(days=1))
        private = actor(MEMBER.user_id, MEMBER.user_id)
        assert attendance.resolve_activity(session, private, "党章", at=at) == first.id


def test_leave_by_tap_then_private_reason(world: Database) -> None:
    """[请假] waits for the reason; a double tap does not ask twice; the reason records leave."""
    activity_id = open_meeting(world)
    now = START - timedelta(hours=3)
    with world.session() as session:
        activity, waiting = attendance.prepare_leave(session, MEMBER, activity_id, at=now, now=now)
        assert not waiting
        attendance.expect_leave_reason(session, MEMBER.user_id, MEMBER.user_id, activity_id,
                                       None, now)
    with world.session() as session:
        assert attendance.prepare_leave(session, MEMBER, activity_id, at=now, now=now)[1]
    private = actor(MEMBER.user_id, MEMBER.user_id)
    with world.session() as session:
        outcome = attendance.take_leave_reason(session, private, "  出差 在外 ", None, at=now,
                                               now=now, tz=TZ)
    assert outcome is not None and outcome.changed and "出差 在外" in outcome.text
    [row] = rows(world, activity_id)
    assert (row.status, row.reason) == ("leave", "出差 在外")
    with world.session() as session:
        assert session.exec(select(LeaveRequest)).all() == []
        assert attendance.take_leave_reason(session, private, "下一句话", None, at=now, now=now,
                                            tz=TZ) is None


def test_group_reason_must_reply_to_the_prompt_and_expires(world: Database) -> None:
    activity_id = open_meeting(world)
    now = START - timedelta(hours=1)
    with world.session() as session:
        attendance.expect_leave_reason(session, MEMBER.user_id, BRANCH, activity_id, 777, now)
    with world.session() as session:
        assert attendance.take_leave_reason(session, MEMBER, "闲聊", None, at=now, now=now,
                                            tz=TZ) is None
        assert attendance.take_leave_reason(session, MEMBER, "闲聊", 5, at=now, now=now,
                                            tz=TZ) is None
        outcome = attendance.take_leave_reason(session, MEMBER, "身体不适", 777, at=now, now=now,
                                               tz=TZ)
    assert outcome is not None and rows(world, activity_id)[0].reason == "身体不适"
    with world.session() as session:
        attendance.expect_leave_reason(session, 3, BRANCH, activity_id, 778, now)
    late = now + attendance.LEAVE_REASON_TTL + timedelta(seconds=1)
    with world.session() as session:
        assert attendance.take_leave_reason(session, actor(3), "迟到的原因", 778, at=late, now=late,
                                            tz=TZ) is None
    with world.session() as session:
        assert session.exec(select(LeaveRequest)).all() == []


def test_cancelling_a_leave_request(world: Database) -> None:
    activity_id = open_meeting(world)
    private = actor(MEMBER.user_id, MEMBER.user_id)
    with world.session() as session:
        attendance.expect_leave_reason(session, MEMBER.user_id, MEMBER.user_id, activity_id,
                                       None, START)
    with world.session() as session:
        outcome = attendance.take_leave_reason(session, private, "取消", None, at=START,
                                               now=START, tz=TZ)
    assert outcome is not None and outcome.text == "已取消请假。"
    assert rows(world, activity_id) == []


def test_leave_and_check_in_interplay(world: Database) -> None:
    """Coming after all replaces the leave; after checking in, leave is refused."""
    activity_id = open_meeting(world)
    with world.session() as session:
        attendance.record_leave(session, MEMBER, activity_id, "出差", at=ON_TIME, now=ON_TIME,
                                tz=TZ)
        again = attendance.record_leave(session, MEMBER, activity_id, "出差改期", at=ON_TIME,
                                        now=ON_TIME, tz=TZ)
        assert not again.changed
        came = attendance.check_in(session, MEMBER, activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
        assert came.text == "已由请假改为签到。"
        with pytest.raises(UserError, match="已签到"):
            attendance.record_leave(session, MEMBER, activity_id, "又不来了", at=ON_TIME,
                                    now=ON_TIME, tz=TZ)
        with pytest.raises(UserError, match="已签到"):
            attendance.prepare_leave(session, MEMBER, activity_id, at=ON_TIME, now=ON_TIME)
        with pytest.raises(UserError, match="已结束"):
            attendance.record_leave(session, actor(3), activity_id, "原因",
                                    at=START + timedelta(hours=3), now=ON_TIME, tz=TZ)
    [row] = rows(world, activity_id)
    assert (row.status, row.reason) == ("present", "")


def test_leave_command_with_or_without_number(world: Database) -> None:
    activity_id = open_meeting(world)
    early = START - timedelta(days=1)
    with world.session() as session:
        attendance.leave(session, MEMBER, f"{activity_id} 出差在外", at=early, now=early, tz=TZ)
        attendance.leave(session, actor(3), "家中有事", at=early, now=early, tz=TZ)
        with pytest.raises(UserError, match="请说明请假原因"):
            attendance.leave(session, actor(4), str(activity_id), at=early, now=early, tz=TZ)
    assert [(r.user_id, r.reason) for r in rows(world, activity_id)] == [
        (MEMBERS[0], "出差在外"), (3, "家中有事")
    ]


def test_proxy_is_audited_with_reason_and_repeats_log_nothing(world: Database) -> None:
    activity_id = open_meeting(world)
    after = START + timedelta(days=1)
    with world.session() as session:
        attendance.record_leave(session, MEMBER, activity_id, "出差", at=ON_TIME, now=ON_TIME,
                                tz=TZ)
    with world.session() as session:
        first = attendance.proxy(session, secretary(), activity_id, MEMBER.user_id, "present",
                                 "实际到会，手机没电", now=after)
        repeat = attendance.proxy(session, secretary(), activity_id, MEMBER.user_id, "present",
                                  "实际到会，手机没电", now=after)
        attendance.proxy(session, secretary(), activity_id, 3, "absent", "无故缺席", now=after)
    assert first.changed and not repeat.changed
    got = {r.user_id: (r.status, r.method, r.reason, r.recorded_by) for r in rows(world, activity_id)}
    assert got == {
        MEMBER.user_id: ("present", "proxy", "实际到会，手机没电", 1),
        3: ("absent", "proxy", "无故缺席", 1),
    }
    logged = audits(world)
    assert [(a.action, a.entity_id, a.actor_id, a.chat_id) for a in logged] == [
        ("attendance.proxy", f"{activity_id}:{MEMBER.user_id}", 1, BRANCH),
        ("attendance.proxy", f"{activity_id}:3", 1, BRANCH),
    ]
    assert logged[0].detail == "党员2：请假（本人签到） → 出席；原因：实际到会，手机没电"
    with world.session() as session, pytest.raises(UserError, match="原因"):
        attendance.proxy(session, secretary(), activity_id, 4, "present", " ", now=after)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(MEMBER, False), (secretary(), True), (other_secretary(), False),
     (other_secretary(OTHER), False), (actor(ADMIN, ADMIN), True),
     (actor(1, 1), False)],
    ids=["member", "secretary-here", "secretary-elsewhere-in-this-group",
         "secretary-elsewhere-in-own-group", "global-admin-private", "admin-here-but-private"],
)
def test_proxy_authorization(world: Database, who, allowed) -> None:
    """Only a secretary of the activity's branch (or a global admin) corrects records; a group
    admin is one only inside the group, where Telegram vouches for it."""
    activity_id = open_meeting(world)
    with world.session() as session:
        if allowed:
            assert attendance.proxy(session, who, activity_id, 5, "present", "补签", now=START).changed
        else:
            with pytest.raises(UserError, match="仅限"):
                attendance.proxy(session, who, activity_id, 5, "present", "补签", now=START)
    assert len(audits(world)) == (1 if allowed else 0)


def test_proxy_command_names_the_member_by_username_id_or_reply(world: Database) -> None:
    activity_id = open_meeting(world)
    with world.session() as session:
        attendance.proxy_command(session, secretary(), [f"#{activity_id}", "@USER3", "请假", "外出",
                                                        "培训"], None, now=START)
        attendance.proxy_command(session, secretary(), [str(activity_id), "4", "补签"], None,
                                 now=START)
        attendance.proxy_command(session, secretary(), [str(activity_id), "缺席", "未请假"], 5,
                                 now=START)
        with pytest.raises(UserError, match="找不到成员“@nobody”"):
            attendance.proxy_command(session, secretary(), [str(activity_id), "@nobody", "x"],
                                     None, now=START)
        with pytest.raises(UserError, match="用法"):
            attendance.proxy_command(session, secretary(), ["abc"], None, now=START)
        with pytest.raises(UserError, match="仅限"):
            attendance.proxy_command(session, MEMBER, [str(activity_id), "@nobody", "x"], None,
                                     now=START)
    got = {r.user_id: (r.status, r.reason) for r in rows(world, activity_id)}
    assert got == {3: ("leave", "外出 培训"), 4: ("present", "补签"), 5: ("absent", "未请假")}


def test_cancelled_activity_takes_no_check_ins_and_its_post_has_no_buttons(world: Database) -> None:
    activity_id = open_meeting(world)
    with world.session() as session:
        with pytest.raises(UserError, match="仅限"):
            attendance.cancel_activity(session, MEMBER, activity_id, now=START)
        attendance.cancel_activity(session, secretary(), activity_id, now=START)
        attendance.cancel_activity(session, secretary(), activity_id, now=START)
    with world.session() as session:
        with pytest.raises(UserError, match="已取消"):
            attendance.check_in(session, MEMBER, activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
        post = attendance.activity_post(session, activity_id, TZ)
    assert post.buttons == () and "已取消" in post.text
    assert [a.action for a in audits(world)] == ["activity.cancel"]


def test_activity_post_shows_details_rule_and_live_counts(world: Database) -> None:
    activity_id = open_meeting(world, place="三楼会议室", host="张三")
    with world.session() as session:
        attendance.check_in(session, MEMBER, activity_id, at=ON_TIME, now=ON_TIME, tz=TZ)
        attendance.record_leave(session, actor(3), activity_id, "出差", at=ON_TIME, now=ON_TIME,
                                tz=TZ)
        post = attendance.activity_post(session, activity_id, TZ)
    assert post.text.splitlines() == [
        "📢 主题党日 学习党章",
        "时间：11月20日（周五）15:00–17:00",
        "地点：三楼会议室",
        "主持人：张三",
        "签到：14:30 起，15:15 后记为迟到，17:00 截止",
        f"活动号：#{activity_id}（也可发送 /checkin {activity_id}）",
        "已签到 1 / 请假 1",
    ]
    assert post.buttons == (
        (("签到", f"att:in:{activity_id}"), ("请假", f"att:leave:{activity_id}")),
    )


def test_recent_activities_for_secretaries_only(world: Database) -> None:
    activity_id = open_meeting(world)
    with world.session() as session:
        text = attendance.recent_activities(session, secretary(), TZ, now=AFTER)
        assert f"#{activity_id} 11月20日（周五）15:00 【主题党日】主题党日 学习党章（已结束）：" in text
        with pytest.raises(UserError, match="仅限"):
            attendance.recent_activities(session, MEMBER, TZ, now=AFTER)
