"""Local time: display and reporting periods (what people type: tests/content/test_when.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.services.localtime import fmt_when, period_of, zone

TZ = zone("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TZ)


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
