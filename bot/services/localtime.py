"""Local time for people, UTC for storage: display and reporting periods.

Stored times are UTC; everything shown or typed is in the configured zone (Asia/Shanghai);
what people type is read by content/when.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

WEEKDAYS = "一二三四五六日"


@lru_cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def fmt_day(day: date) -> str:
    """`12月31日（周四）`."""
    return f"{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）"


def fmt_when(moment: datetime, tz: ZoneInfo) -> str:
    """`11月20日（周五）15:00` in local time."""
    here = local(moment, tz)
    return f"{fmt_day(here.date())}{here:%H:%M}"


def fmt_stamp(moment: datetime | None, tz: ZoneInfo) -> str:
    """`2026-11-20 15:00` in local time, for ledgers; empty when there is no time."""
    return local(moment, tz).strftime("%Y-%m-%d %H:%M") if moment else ""


@dataclass(frozen=True)
class Period:
    """A reporting period: its Chinese name and [start, end) in UTC."""

    name: str
    start: datetime
    end: datetime


PERIOD_NAMES = ("本月", "本季度", "本年")


def period_of(name: str, now: datetime, tz: ZoneInfo) -> Period:
    """本月 / 本季度 / 本年 around `now`, in local calendar terms."""
    today = local(now, tz).date()
    if name == "本月":
        first = today.replace(day=1)
        months = 1
    elif name == "本季度":
        first = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        months = 3
    elif name == "本年":
        first = date(today.year, 1, 1)
        months = 12
    else:
        raise ValueError(name)
    month_index = first.month - 1 + months
    after = date(first.year + month_index // 12, month_index % 12 + 1, 1)
    return Period(
        name,
        datetime.combine(first, time(), tz).astimezone(UTC),
        datetime.combine(after, time(), tz).astimezone(UTC),
    )
