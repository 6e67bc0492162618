"""Local time for people, UTC for storage: display, the few date forms secretaries type, periods.

Stored times are UTC; everything shown or typed is in the configured zone (Asia/Shanghai).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

WEEKDAYS = "一二三四五六日"

_DATE = (
    r"(?:(?P<rel>今天|明天|后天)"
    r"|(?:(?P<y>\d{4})[-/.年])?(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号]?)"
)
_CLOCK = r"(?P<h>\d{1,2})[:：](?P<mi>\d{2})"
_START = re.compile(
    rf"^\s*(?:{_DATE}\s*)?{_CLOCK}(?:\s*[-~～至到]\s*(?P<eh>\d{{1,2}})[:：](?P<emi>\d{{2}}))?\s*"
)
_DUE = re.compile(
    rf"(?:\s*(?:截止|截至)(?:日期)?[:：]?\s*|(?:^|\s+)){_DATE}\s*(?:前|之前|以前)?\s*$"
)
_RELATIVE_DAYS = {"今天": 0, "明天": 1, "后天": 2}


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


def _day_of(match: re.Match[str], today: date, roll_forward: bool) -> date:
    if match.group("rel"):
        return today + timedelta(days=_RELATIVE_DAYS[match.group("rel")])
    year = int(match.group("y") or today.year)
    try:
        day = date(year, int(match.group("m")), int(match.group("d")))
    except ValueError as exc:
        raise ValueError(f"日期不存在：{match.group(0).strip()}") from exc
    if roll_forward and not match.group("y") and day < today:
        day = day.replace(year=year + 1)
    return day


def parse_start(text: str, now: datetime, tz: ZoneInfo) -> tuple[datetime | None, datetime | None, str]:
    """A leading `[日期] HH:MM[-HH:MM]` of /remind: (start, end or None, the rest of the text).

    Without a date the day is today; nothing recognised gives (None, None, text).
    """
    match = _START.match(text)
    if not match:
        return None, None, text
    today = local(now, tz).date()
    day = _day_of(match, today, roll_forward=False) if match.group("m") or match.group("rel") else today
    try:
        start = datetime.combine(day, time(int(match.group("h")), int(match.group("mi"))), tz)
        end = None
        if match.group("eh"):
            end = datetime.combine(day, time(int(match.group("eh")), int(match.group("emi"))), tz)
            if end <= start:
                end += timedelta(days=1)
    except ValueError as exc:
        raise ValueError(f"时间不存在：{match.group(0).strip()}") from exc
    return start, end, text[match.end():]


def parse_due(text: str, now: datetime, tz: ZoneInfo) -> tuple[date | None, str]:
    """A trailing due date of /task (`截止12月31日`, `2026-12-31`, `12-31前`): (date, the rest)."""
    match = _DUE.search(text)
    if not match:
        return None, text
    return _day_of(match, local(now, tz).date(), roll_forward=True), text[: match.start()]


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
