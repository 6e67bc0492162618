"""Local time: the date forms secretaries type, display, and reporting periods."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.services.localtime import fmt_when, parse_due, parse_start, period_of, zone

TZ = zone("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TZ)


@pytest.mark.parametrize(
    ("text", "start", "end", "rest"),
    [
        ("15:00 主题党日", at(2026, 11, 20, 15, 0), None, "主题党日"),
        ("明天 9:30-11:00 支委会", at(2026, 11, 21, 9, 30), at(2026, 11, 21, 11, 0), "支委会"),
        ("12月1日 09:00 党课", at(2026, 12, 1, 9, 0), None, "党课"),
        ("2027-01-05 14：30~16:00 x", at(2027, 1, 5, 14, 30), at(2027, 1, 5, 16, 0), "x"),
        ("23:00-01:00 夜", at(2026, 11, 20, 23, 0), at(2026, 11, 21, 1, 0), "夜"),
        ("主题党日 15:00", None, None, "主题党日 15:00"),
        ("2026年度总结", None, None, "2026年度总结"),
    ],
)
def test_parse_start(text, start, end, rest) -> None:
    assert parse_start(text, NOW, TZ) == (start, end, rest)


def test_parse_start_rejects_impossible_times() -> None:
    with pytest.raises(ValueError, match="时间不存在"):
        parse_start("25:00 会", NOW, TZ)


@pytest.mark.parametrize(
    ("text", "due", "rest"),
    [
        ("学习党章 12月31日", date(2026, 12, 31), "学习党章"),
        ("学习党章 截止12-31前", date(2026, 12, 31), "学习党章"),
        ("学习党章 1月5日", date(2027, 1, 5), "学习党章"),
        ("学习党章 2026/11/25", date(2026, 11, 25), "学习党章"),
        ("学习党章 明天", date(2026, 11, 21), "学习党章"),
        ("学习第1.2节", None, "学习第1.2节"),
        ("学习党章", None, "学习党章"),
    ],
)
def test_parse_due(text, due, rest) -> None:
    assert parse_due(text, NOW, TZ) == (due, rest)


@pytest.mark.parametrize(
    ("name", "first", "after"),
    [
        ("本月", date(2026, 11, 1), date(2026, 12, 1)),
        ("本季度", date(2026, 10, 1), date(2027, 1, 1)),
        ("本年", date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_periods_follow_the_local_calendar(name, first, after) -> None:
    period = period_of(name, NOW, TZ)
    assert period.start == datetime.combine(first, datetime.min.time(), TZ)
    assert period.end == datetime.combine(after, datetime.min.time(), TZ)
    assert period.start.tzinfo == UTC


def test_month_period_just_after_local_midnight() -> None:
    """00:30 on 1 December in Beijing is still 30 November in UTC, but it is December here."""
    period = period_of("本月", datetime(2026, 11, 30, 16, 30, tzinfo=UTC), TZ)
    assert period.start == at(2026, 12, 1, 0, 0)


def test_display_is_local() -> None:
    assert fmt_when(NOW, TZ) == "11月20日（周五）10:00"
