"""Time rules for reminders, China's working-day calendar, and the APScheduler triggers.

A rule is a single moment or a cron recurrence in the bot's time zone, optionally bent to the
calendar: only China's working days (`工作日`), every second week (`每两周周五`), the first or last
working day of a month, or dates that fall on a holiday moved to the working day before (提前) or
after (顺延). The calendar is China's official holiday and make-up working-day arrangement
(chinese-calendar). content/when.py reads the rules people write into these objects.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

import chinese_calendar
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

# Statutory holidays on fixed solar dates (《全国年节及纪念日放假办法》), for years chinese-calendar
# does not know yet; lunar holidays and make-up days are then unknown.
FIXED_HOLIDAYS = {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)}
MAX_SCAN = 800
POSTPONE_REACH = timedelta(days=16)
"""How far before a floor to look for dates that 顺延 moves past it: longer than any run of rest
days (the longest, Spring Festival, is 9 or 10)."""
MONTH_REACH = timedelta(days=32)
"""The same for the n-th working day of a month, which can lie a month after the month's first."""
SHIFTS = ("", "earlier", "later")


@lru_cache(maxsize=8192)
def is_workday(day: date) -> bool:
    """China's official working days; for a year not yet published, Monday–Friday minus fixed
    holidays."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS


def calendar_known(day: date) -> bool:
    """Whether the official holiday arrangement of `day`'s year is in the package."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def previous_workday(day: date) -> date:
    """`day` itself when it is a working day, else the last working day before it."""
    return _step_to_workday(day, -1)


def next_workday(day: date) -> date:
    """`day` itself when it is a working day, else the first working day after it."""
    return _step_to_workday(day, 1)


def _step_to_workday(day: date, step: int) -> date:
    for _ in range(MAX_SCAN):
        if is_workday(day):
            return day
        day += timedelta(days=step)
    return day


def working_days_around(day: date) -> tuple[date, date]:
    """The nearest working days strictly before and after `day` (提前 and 顺延 of a rest day)."""
    return previous_workday(day - timedelta(days=1)), next_workday(day + timedelta(days=1))


def nth_workday_of_month(day: date, nth: int) -> date | None:
    """The `nth` working day of `day`'s month (-1: the last); None when the month has fewer."""
    last = calendar.monthrange(day.year, day.month)[1]
    workdays = [d for d in (day.replace(day=n) for n in range(1, last + 1)) if is_workday(d)]
    index = nth - 1 if nth > 0 else nth
    return workdays[index] if -len(workdays) <= index < len(workdays) else None


@dataclass(frozen=True)
class TimeRule:
    """A parsed rule: one moment (UTC) or a cron recurrence in the bot's time zone."""

    kind: str  # "once" | "cron"
    label: str
    at: datetime | None = None  # once: the moment; every_weeks > 1: the first fire (the anchor)
    month: str = "*"
    day: str = "*"
    day_of_week: str = "*"
    hour: int = 9
    minute: int = 0
    workdays: bool = False  # only on China's working days
    shift: str = ""  # a date on a rest day moves to the working day "earlier" or "later"
    every_weeks: int = 1  # 2: every second week counted from `at`
    nth_workday: int = 0  # the cron's months on their n-th working day (-1: the last)

    def to_spec(self) -> dict[str, Any]:
        spec = asdict(self)
        spec["at"] = self.at.isoformat() if self.at else None
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TimeRule:
        at = datetime.fromisoformat(spec["at"]) if spec.get("at") else None
        shift = spec.get("shift", "")
        if isinstance(shift, bool):  # rules stored before 顺延 existed: True meant earlier
            shift = "earlier" if shift else ""
        return cls(**{**spec, "at": at, "shift": shift})

    @classmethod
    def from_json(cls, text: str) -> TimeRule:
        """A stored rule; reminders sharing a rule share one parsed object (fast rebuilds)."""
        return _from_json(text)

    def trigger(self, tz: tzinfo) -> BaseTrigger:
        """The APScheduler trigger; triggers hold no state, so equal rules share one."""
        return _trigger(self, tz)

    def next_after(self, moment: datetime, tz: tzinfo) -> datetime | None:
        """The first fire time strictly after `moment` (None when there is none)."""
        if self.kind == "once":
            return self.at if self.at and self.at > moment else None
        fire = self.trigger(tz).get_next_fire_time(moment, moment)
        return fire.astimezone(UTC) if fire else None

    def fires_between(self, start: datetime, end: datetime, tz: tzinfo,
                      limit: int = 50) -> list[datetime]:
        """Fire times in (start, end), at most `limit` (the newest kept)."""
        fires: list[datetime] = []
        moment = start
        while True:
            moment_next = self.next_after(moment, tz)
            if moment_next is None or moment_next >= end:
                return fires[-limit:]
            fires.append(moment_next)
            moment = moment_next
            if len(fires) > 10 * limit:
                fires = fires[-limit:]


@lru_cache(maxsize=4096)
def _from_json(text: str) -> TimeRule:
    return TimeRule.from_spec(json.loads(text))


@lru_cache(maxsize=4096)
def _trigger(rule: TimeRule, tz: tzinfo) -> BaseTrigger:
    if rule.kind == "once":
        assert rule.at is not None
        return DateTrigger(run_date=rule.at, timezone=tz)
    cron = CronTrigger(month=rule.month, day=rule.day, day_of_week=rule.day_of_week,
                       hour=rule.hour, minute=rule.minute, timezone=tz)
    if rule.workdays or rule.shift or rule.every_weeks > 1 or rule.nth_workday:
        anchor = rule.at.astimezone(tz).date() if rule.at else None
        return CalendarTrigger(cron, workdays=rule.workdays, shift=rule.shift,
                               every_weeks=rule.every_weeks, anchor=anchor,
                               nth_workday=rule.nth_workday)
    return cron


class StoredTrigger(BaseTrigger):
    """A stored rule's trigger, built on first use: a rebuild of 10,000 jobs builds none."""

    def __init__(self, spec: str, tz: tzinfo) -> None:
        self.spec = spec
        self.tz = tz

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        rule = TimeRule.from_json(self.spec)
        return rule.trigger(self.tz).get_next_fire_time(previous_fire_time, now)

    def __str__(self) -> str:
        return TimeRule.from_json(self.spec).label


class CalendarTrigger(BaseTrigger):
    """A cron trigger bent to the calendar: each base date the cron gives is kept, dropped or
    moved (working days only, every n-th week from an anchor, the n-th working day of its month,
    off a rest day earlier or later). Placement never reorders dates, so the first base whose
    placed date is after the floor gives the next fire."""

    def __init__(self, cron: CronTrigger, *, workdays: bool = False, shift: str = "",
                 every_weeks: int = 1, anchor: date | None = None, nth_workday: int = 0) -> None:
        if shift not in SHIFTS or (every_weeks > 1 and anchor is None):
            raise ValueError(f"bad calendar rule: shift={shift!r} every_weeks={every_weeks}")
        self.cron = cron
        self.workdays = workdays
        self.shift = shift
        self.every_weeks = every_weeks
        self.anchor = anchor
        self.nth_workday = nth_workday

    def place(self, day: date) -> date | None:
        """Where a base date of the cron fires, or None when it does not."""
        if self.every_weeks > 1:
            assert self.anchor is not None
            if (day - self.anchor).days // 7 % self.every_weeks:
                return None
        placed: date | None = day
        if self.nth_workday:
            placed = nth_workday_of_month(day, self.nth_workday)
        if placed is None or (self.workdays and not is_workday(placed)):
            return None
        if self.shift == "earlier":
            return previous_workday(placed)
        if self.shift == "later":
            return next_workday(placed)
        return placed

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        floor = previous_fire_time or now
        reach = (MONTH_REACH if self.nth_workday
                 else POSTPONE_REACH if self.shift == "later" else timedelta(0))
        base = self.cron.get_next_fire_time(None, floor - reach)
        for _ in range(MAX_SCAN):
            if base is None:
                return None
            day = self.place(base.date())
            if day is not None:
                fire = datetime.combine(day, base.timetz())
                if fire > floor or (previous_fire_time is None and fire == floor):
                    return fire
            base = self.cron.get_next_fire_time(base, base)
        return None

    def __str__(self) -> str:
        return (f"calendar[{self.cron}, workdays={self.workdays}, shift={self.shift!r}, "
                f"every_weeks={self.every_weeks}, nth_workday={self.nth_workday}]")
