"""Statistics on SQLite and PostgreSQL: 应到/实到/请假/缺席 from the roster, completion rates,
who may see what, the private non-responder list and the chart."""

from __future__ import annotations

import warnings

import pytest
from attendance_world import (
    ADMIN,
    AFTER,
    BRANCH,
    OTHER,
    OTHER_SECRETARY,
    TZ,
    actor,
    other_secretary,
    scenario,
    secretary,
)

from bot.services import UserError, stats
from storage.db import Database


@pytest.fixture
def world(db: Database) -> tuple[Database, dict[str, int]]:
    return db, scenario(db)


def test_per_activity_figures_follow_roster_and_responses(world) -> None:
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
    assert (task.expected, task.done, round(task.rate, 3)) == (12, 2, 0.167)
    assert report.branch == "第1支部"


def test_report_text_has_figures_but_no_names(world) -> None:
    db, ids = world
    with db.session() as session:
        report = stats.stats(session, secretary(), [], now=AFTER, tz=TZ)
    text = stats.render_report(report, TZ)
    assert text.splitlines() == [
        "📊 第1支部 本月统计（11月1日（周日）—11月30日（周一））",
        "",
        "活动 1 次，总体出席率 27%（实到/应到）",
        "• 11-20 【主题党日】主题党日 学习党章：应到 11，实到 3（迟到 1，补签 1），请假 1，缺席 7",
        "",
        "学习任务 1 项，总体完成率 17%",
        f"• #{ids['task']} 学习《中国共产党章程》总纲：已学习 2/12（17%）",
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
        "党员1、党员10、党员11、党员12、党员4、党员5、党员6、党员7、党员8、党员9",
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
        warnings.simplefilter("error")
        plain = stats.chart(report, TZ, font=None)
    assert plain is not None and plain.startswith(b"\x89PNG")
    if stats.cjk_font() is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chinese = stats.chart(report, TZ)
    assert chinese is not None and chinese.startswith(b"\x89PNG")


def test_no_chart_without_data(db: Database) -> None:
    with db.session() as session:
        report = stats.report(session, [BRANCH], stats.period_of("本月", AFTER, TZ), AFTER)
    assert stats.chart(report, TZ) is None
    assert "本期没有活动记录" in stats.render_report(report, TZ)
