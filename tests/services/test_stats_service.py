"""Statistics on SQLite and PostgreSQL: 应到/实到/请假/缺席 from the roster, completion rates,
who may see what, the private non-responder list and the chart."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest
from attendance_world import (
    ADMIN,
    AFTER,
    BRANCH,
    JOINED,
    OTHER,
    OTHER_SECRETARY,
    START,
    TZ,
    actor,
    meeting,
    other_secretary,
    scenario,
    secretary,
)

from bot.services import UserError, attendance, roster, stats, study
from bot.services.people import remember
from storage.db import Database


@pytest.fixture
def world(db: Database) -> tuple[Database, dict[str, int]]:
    return db, scenario(db)


def test_per_activity_figures_follow_roster_and_responses(world) -> None:
    """The meeting's 应到 is the roster during it plus who responded; the task's 应学 the roster
    when it was posted (12, who joined the day after, owes it nothing)."""
    db, ids = world
    with db.session() as session:
        report = stats.stats(session, secretary(), ["本月"], now=AFTER, tz=TZ)
    [held] = report.activities
    assert held.activity.id == ids["held"]
    assert (held.expected, held.present, held.late, held.proxied, held.leave, held.absent) == (
        11, 3, 1, 1, 1, 7
    )
    assert held.missing == {1, 7, 8, 9, 10, 11}
    assert held.leave_reasons == ((4, "出差"),)
    [task] = report.tasks
    assert (task.expected, task.done, round(task.rate, 3)) == (11, 2, 0.182)
    assert 12 not in task.missing
    assert report.branch == "第1支部"


def test_report_text_has_figures_but_no_names(world) -> None:
    db, ids = world
    with db.session() as session:
        report = stats.stats(session, secretary(), [], now=AFTER, tz=TZ)
    text = stats.render_report(report, TZ)
    assert text.splitlines() == [
        "📊 第1支部 本月统计（11月1日（周日）—11月30日（周一））",
        "",
        "活动 1 次，总体出席率 27%（实到/应到；应到依据：群内成员）",
        "• 11-20 【主题党日】主题党日 学习党章：应到 11，实到 3（迟到 1，补签 1），请假 1，缺席 7",
        "",
        "学习任务 1 项，总体完成率 18%",
        f"• #{ids['task']} 学习《中国共产党章程》总纲：已学习 2/11（18%）",
    ]
    assert "党员" not in text


def test_missing_list_names_non_responders(world) -> None:
    db, ids = world
    with db.session() as session:
        report = stats.stats(session, secretary(), ["本季度"], now=AFTER, tz=TZ)
        text = stats.render_missing(session, report, TZ)
    assert text.splitlines() == [
        "🔒 第1支部 本季度未响应名单（仅您可见）",
        f"• #{ids['held']} 11-20 主题党日 学习党章：党员1、党员10、党员11、党员7、党员8、党员9",
        f"• 学习任务 #{ids['task']} 学习《中国共产党章程》总纲："
        "党员1、党员10、党员11、党员4、党员5、党员6、党员7、党员8、党员9",
    ]


@pytest.mark.parametrize(
    ("who", "scope"),
    [
        (secretary(), [BRANCH]),
        (actor(ADMIN, BRANCH), [BRANCH]),
        (actor(ADMIN, ADMIN), None),
        (other_secretary(OTHER_SECRETARY), [OTHER]),
        (actor(2), "refused"),
        (other_secretary(), "refused"),
        (actor(2, 2), "refused"),
        (secretary(1), "refused"),
    ],
    ids=["secretary-here", "admin-in-group", "admin-private", "granted-private", "member",
         "secretary-elsewhere", "member-private", "group-admin-private"],
)
def test_who_gets_which_branches(world, who, scope) -> None:
    """Secretaries get their branch; privately, the branches granted to them; a global admin in
    private gets all; members and other branches' secretaries are refused politely."""
    db, _ = world
    with db.session() as session:
        if scope == "refused":
            with pytest.raises(UserError, match="仅限"):
                stats.branch_scope(session, who)
        else:
            assert stats.branch_scope(session, who) == scope


def test_all_branches_for_a_global_admin(world) -> None:
    db, _ = world
    with db.session() as session:
        report = stats.stats(session, actor(ADMIN, ADMIN), ["本年"], now=AFTER, tz=TZ)
    assert report.branch == "全部支部"
    assert len(report.activities) == 2


def test_unknown_period_is_refused_with_usage(world) -> None:
    db, _ = world
    with db.session() as session, pytest.raises(UserError, match="用法"):
        stats.stats(session, secretary(), ["上个月"], now=AFTER, tz=TZ)


def test_my_record_and_who_may_see_it(world) -> None:
    db, _ = world
    with db.session() as session:
        mine = stats.my_record(session, actor(4), 4, now=AFTER, tz=TZ)
        by_secretary = stats.my_record(session, secretary(), 3, now=AFTER, tz=TZ)
        with pytest.raises(UserError, match="只能查看自己的记录"):
            stats.my_record(session, actor(2), 3, now=AFTER, tz=TZ)
        with pytest.raises(UserError, match="只能查看自己的记录"):
            stats.my_record(session, other_secretary(OTHER), 3, now=AFTER, tz=TZ)
    assert mine.splitlines() == [
        "📋 党员4 2026年的记录",
        "参加活动 0 次，请假 1 次，缺席 0 次",
        "学习任务已完成 0/1 项，自学登记 1 次",
        "",
        "最近的活动：",
        "• 11-20 【主题党日】主题党日 学习党章：请假",
    ]
    assert by_secretary.splitlines()[1] == "参加活动 1 次（其中迟到 1 次），请假 0 次，缺席 0 次"


def test_chart_is_a_png_with_or_without_a_chinese_font(world) -> None:
    db, _ = world
    with db.session() as session:
        report = stats.stats(session, secretary(), [], now=AFTER, tz=TZ)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: no boxes for Chinese
        warnings.simplefilter("ignore", DeprecationWarning)  # a library's own, not ours
        plain = stats.chart(report, TZ, font=None)
    assert plain is not None and plain.startswith(b"\x89PNG")
    if stats.cjk_font() is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: no boxes for Chinese
        warnings.simplefilter("ignore", DeprecationWarning)  # a library's own, not ours
        chinese = stats.chart(report, TZ)
    assert chinese is not None and chinese.startswith(b"\x89PNG")


def test_no_chart_without_data(db: Database) -> None:
    with db.session() as session:
        report = stats.report(session, [BRANCH], stats.period_of("本月", AFTER, TZ))
    assert stats.chart(report, TZ) is None
    assert "本期没有活动记录" in stats.render_report(report, TZ)


def test_a_member_who_left_and_came_back_counts_only_while_there(world) -> None:
    """14 belonged, left for three weeks and came back: the meeting and the task of those weeks
    do not count them absent, the ones after their return do, and /me lists only those."""
    db, ids = world
    gap = START - timedelta(days=10)
    with db.session() as session:
        remember(session, actor(14))
        roster.join(session, BRANCH, 14, JOINED)
        roster.leave(session, BRANCH, 14, START - timedelta(days=20))
        roster.join(session, BRANCH, 14, START - timedelta(days=25))  # said before leaving
        roster.join(session, BRANCH, 14, START - timedelta(days=2))  # back
        roster.join(session, BRANCH, 14, START - timedelta(days=1))  # already back
        while_out = meeting(session, starts=gap, title="党课 廉政教育")
        task_while_out = study.post_task(session, secretary(), "学习党纪处分条例",
                                         now=gap, tz=TZ)
    with db.session() as session:
        stays = roster.memberships(session, [BRANCH])[BRANCH]
        report = stats.stats(session, secretary(), ["本月"], now=AFTER, tz=TZ)
        record = stats.my_record(session, actor(14), 14, now=AFTER, tz=TZ)
    assert sorted((m.joined_at, m.left_at) for m in stays if m.user_id == 14) == [
        (JOINED, START - timedelta(days=20)), (START - timedelta(days=2), None)]
    by_activity = {t.activity.id: t for t in report.activities}
    assert by_activity[while_out.id].missing == {1, *range(2, 12), 13}  # 13 left later
    assert by_activity[ids["held"]].missing == {1, 7, 8, 9, 10, 11, 14}
    by_task = {t.task.id: t for t in report.tasks}
    assert 14 not in by_task[task_while_out.id].missing
    assert 14 in by_task[ids["task"]].missing
    assert record.splitlines()[1:3] == ["参加活动 0 次，请假 0 次，缺席 1 次",
                                        "学习任务已完成 0/1 项，自学登记 0 次"]
    assert "廉政教育" not in record and "学习党章：缺席" in record


def test_a_new_member_owes_no_older_task_but_counts_when_they_study_it(world) -> None:
    db, ids = world
    with db.session() as session:
        [before] = stats.stats(session, secretary(), ["本月"], now=AFTER, tz=TZ).tasks
        study.complete_task(session, actor(12), ids["task"], at=AFTER, now=AFTER)
    with db.session() as session:
        [after] = stats.stats(session, secretary(), ["本月"], now=AFTER, tz=TZ).tasks
        record = stats.my_record(session, actor(12), 12, now=AFTER, tz=TZ)
    assert (before.expected, before.done, 12 in before.missing) == (11, 2, False)
    assert (after.expected, after.done, 12 in after.missing) == (12, 3, False)
    assert "学习任务已完成 1/1 项" in record


def test_a_secretary_sees_only_their_own_branches_of_a_member(world) -> None:
    """60 belongs to both branches: BRANCH's secretary sees BRANCH's meeting only, OTHER's
    secretary OTHER's only, a global admin and 60 themself both."""
    db, ids = world
    with db.session() as session:
        roster.join(session, BRANCH, 60, JOINED)
        attendance.check_in(session, actor(60), ids["held"], at=START, now=START, tz=TZ)
    with db.session() as session:
        records = {
            name: stats.my_record(session, who, 60, now=AFTER, tz=TZ)
            for name, who in (("here", secretary()), ("there", other_secretary(OTHER)),
                              ("admin", actor(ADMIN, ADMIN)), ("self", actor(60, 60)))
        }
    assert records["here"].splitlines()[:2] == ["📋 党员60 2026年在第1支部的记录",
                                                "参加活动 1 次，请假 0 次，缺席 0 次"]
    assert records["there"].splitlines()[:2] == ["📋 党员60 2026年在第2支部的记录",
                                                 "参加活动 1 次，请假 0 次，缺席 0 次"]
    for name in ("admin", "self"):
        assert records[name].splitlines()[1] == "参加活动 2 次，请假 0 次，缺席 0 次", name


def test_my_record_lists_the_leaves_for_meetings_not_yet_held(world) -> None:
    """/me confirms a leave for tomorrow (with its reason), soonest first; a leave for a
    meeting already held, a cancelled one, or another member's leave is not listed, and a
    secretary looking up the member sees only their own branches' leaves."""
    db, _ = world
    tomorrow, later = AFTER + timedelta(days=1), AFTER + timedelta(days=5)
    with db.session() as session:
        first = meeting(session, starts=later, title="支委会 研究发展党员")
        second = meeting(session, starts=tomorrow, title="党课 学习《中国共产党支部工作条例（试行）》")
        dropped = meeting(session, starts=tomorrow, title="党小组会")
        elsewhere = meeting(session, OTHER, starts=tomorrow, title="主题党日 参观")
        roster.join(session, OTHER, 4, JOINED)
        for activity, reason in ((first, "出差"), (second, "培训"), (dropped, "休假"),
                                 (elsewhere, "值班")):
            attendance.record_leave(session, actor(4, activity.chat_id), activity.id, reason,
                                    at=AFTER, now=AFTER, tz=TZ)
        attendance.record_leave(session, actor(5), first.id, "生病", at=AFTER, now=AFTER, tz=TZ)
        attendance.cancel_activity(session, secretary(), dropped.id, now=AFTER)
        mine = stats.my_record(session, actor(4), 4, now=AFTER, tz=TZ).splitlines()
        by_secretary = stats.my_record(session, secretary(), 4, now=AFTER, tz=TZ).splitlines()
        nothing = stats.my_record(session, actor(4), 4, now=later + timedelta(days=1), tz=TZ)
    assert mine[mine.index("已请假（尚未召开）："):] == [
        "已请假（尚未召开）：",
        "• 11月22日（周日）15:00 【党课】党课 学习《中国共产党支部工作条例（试行）》（原因：培训）",
        "• 11月22日（周日）15:00 【主题党日】主题党日 参观（原因：值班）",
        "• 11月26日（周四）15:00 【支委会】支委会 研究发展党员（原因：出差）",
    ]
    assert by_secretary[-2:] == [mine[-3], mine[-1]]  # not OTHER's
    assert "尚未召开" not in nothing
