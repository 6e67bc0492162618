"""Chinese time rules for reminders, and the APScheduler triggers they become.

`parse_rule("每月最后一个周五 15:00 主题党日", now, tz)` -> (rule, "主题党日"). A rule is a single
moment (`2026-12-01 09:00`, `明天 15:00`, `下周一 8:30`, `周五下午三点`) or a recurrence (`每天 08:00`,
`每周一 08:30`, `每月15日`, `每月最后一个周五`, `每月第二个周三`, `每季度末`, `工作日 …`). `工作日`
follows China's official holiday and make-up working-day calendar (chinese-calendar); a rule can
ask that a date falling on a holiday move to the previous working day.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

import chinese_calendar
import cn2an
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger(__name__)

EXAMPLES = (
    "2026-12-01 09:00｜明天 15:00｜下周一 8:30｜周五下午三点｜每天 08:00｜每周一 08:30｜"
    "每月15日 09:00｜每月最后一个周五 15:00｜每月第二个周三｜每季度末 10:00｜工作日 08:30"
    "（可加“遇节假日提前”）"
)
DEFAULT_TIME = time(9, 0)
WEEKDAY_NAMES = "一二三四五六日"
CRON_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Statutory holidays on fixed solar dates (《全国年节及纪念日放假办法》), for years chinese-calendar
# does not know yet; lunar holidays and make-up days are then unknown.
FIXED_HOLIDAYS = {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)}
MAX_SCAN = 800
_HALF_WIDTH = str.maketrans("０１２３４５６７８９：", "0123456789:")

CN = r"[零〇一二两三四五六七八九十]"
NUM = rf"(?:\d{{1,2}}|{CN}{{1,3}})"
WD = r"(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"

_DATE_FORMS: list[tuple[str, re.Pattern[str]]] = [
    ("ymd", re.compile(r"(?P<y>\d{4})\s*[-/.年]\s*(?P<mo>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?")),
    ("md", re.compile(rf"(?P<mo>{NUM})\s*月\s*(?P<d>{NUM})\s*[日号]")),
    ("rel", re.compile(r"(?P<rel>大后天|后天|明天|明日|今天|今日)")),
    ("weekday", re.compile(rf"(?P<wk>下下|下个?|本|这个?)?{WD}")),
    ("daily", re.compile(r"每天|每日|天天")),
    ("workday", re.compile(r"(?:每个?)?工作日")),
    ("weekly", re.compile(
        r"每个?(?:周|星期|礼拜)(?P<wds>[一二三四五六日天1-7](?:[、,，和及]?(?:周|星期)?[一二三四五六日天1-7])*)")),
    ("month_last_wd", re.compile(rf"每个?月的?(?:最后一个?|倒数第一个){WD}")),
    ("month_nth_wd", re.compile(rf"每个?月的?第(?P<n>[一二三四五1-5])个?{WD}")),
    ("month_last", re.compile(r"每个?月的?(?:最后一天|月末|月底|末|底)")),
    ("month_day", re.compile(rf"每个?月的?(?P<d>{NUM})\s*[日号]")),
    ("quarter_last_wd", re.compile(rf"每个?季度?的?(?:最后一个?|倒数第一个){WD}")),
    ("quarter_end", re.compile(r"每个?季度?的?(?:末|最后一天|底)")),
    ("quarter_start", re.compile(r"每个?季度?的?(?:初|第一天|首日)")),
    ("yearly", re.compile(rf"每年的?(?P<mo>{NUM})\s*月\s*(?P<d>{NUM})\s*[日号]")),
]
_TIME = re.compile(
    r"(?P<ap>上午|早上|早晨|早|中午|下午|傍晚|晚上|晚|凌晨)?\s*"
    rf"(?P<h>\d{{1,2}}|{CN}{{1,3}})\s*(?:[:：]\s*(?P<mi>\d{{2}})(?!\d)"
    rf"|[点时](?:(?P<half>半)|(?P<mi2>\d{{1,2}}|{CN}{{1,3}})分?|整)?)"
)
_SHIFT = re.compile(
    r"[（(]?(?:遇|逢)?(?:法定)?(?:节假日|假日|节假|休息日)(?:则|就)?(?:提前|前移)(?:到|至)?(?:前一个?工作日)?[）)]?"
)


class RuleError(ValueError):
    """A time rule that cannot be understood; the message says why, in Chinese."""


def is_workday(day: date) -> bool:
    """China's official working days; for a year not yet published, Monday–Friday minus fixed holidays."""
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
    for _ in range(MAX_SCAN):
        if is_workday(day):
            return day
        day -= timedelta(days=1)
    return day


@dataclass(frozen=True)
class TimeRule:
    """A parsed rule: one moment (UTC) or a cron recurrence in the bot's time zone."""

    kind: str  # "once" | "cron"
    label: str
    at: datetime | None = None
    month: str = "*"
    day: str = "*"
    day_of_week: str = "*"
    hour: int = 9
    minute: int = 0
    workdays: bool = False  # only on China's working days
    shift: bool = False  # a date on a holiday moves to the previous working day

    def to_spec(self) -> dict[str, Any]:
        spec = asdict(self)
        spec["at"] = self.at.isoformat() if self.at else None
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TimeRule:
        at = datetime.fromisoformat(spec["at"]) if spec.get("at") else None
        return cls(**{**spec, "at": at})

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
    if rule.workdays or rule.shift:
        return WorkdayTrigger(cron, shift=rule.shift)
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


class WorkdayTrigger(BaseTrigger):
    """A cron trigger kept to China's working days, or whose holiday dates move earlier."""

    def __init__(self, cron: CronTrigger, shift: bool = False) -> None:
        self.cron = cron
        self.shift = shift

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        if not self.shift:
            fire = self.cron.get_next_fire_time(previous_fire_time, now)
            for _ in range(MAX_SCAN):
                if fire is None or is_workday(fire.date()):
                    return fire
                fire = self.cron.get_next_fire_time(fire, fire)
            return None
        # Shifting never moves a date later, so scan base dates from the floor upwards.
        floor = previous_fire_time or now
        base = (self.cron.get_next_fire_time(floor, floor) if previous_fire_time
                else self.cron.get_next_fire_time(None, now))
        for _ in range(MAX_SCAN):
            if base is None:
                return None
            moved = datetime.combine(previous_workday(base.date()), base.timetz())
            if moved > floor or (previous_fire_time is None and moved == floor):
                return moved
            base = self.cron.get_next_fire_time(base, base)
        return None

    def __str__(self) -> str:
        return f"workdays[{self.cron}]" if not self.shift else f"shifted[{self.cron}]"


# --- parsing ---------------------------------------------------------------------------------

def _int(text: str) -> int:
    return int(text) if text.isdigit() else int(cn2an.cn2an(text, "smart"))


def _weekday(char: str) -> int:
    if char.isdigit():
        return int(char) - 1
    return 6 if char in "日天" else WEEKDAY_NAMES.index(char)


def _clock(match: re.Match[str] | None) -> time:
    if match is None:
        return DEFAULT_TIME
    hour = _int(match.group("h"))
    minute = 30 if match.group("half") else _int(match.group("mi") or match.group("mi2") or "0")
    ap = match.group("ap") or ""
    evening = ap in ("下午", "傍晚", "晚上", "晚") and hour < 12
    if evening or (ap == "中午" and hour < 11):
        hour += 12
    elif ap == "凌晨" and hour == 12:
        hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise RuleError(f"时间不对：{match.group().strip()}（小时 0–23，分钟 0–59）。")
    return time(hour, minute)


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise RuleError(f"日期不存在：{year}年{month}月{day}日。") from None


def _day_label(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日（周{WEEKDAY_NAMES[day.weekday()]}）"


def _clock_label(moment: time) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def parse_rule(text: str, now: datetime, tz: tzinfo) -> tuple[TimeRule, str]:
    """Split '时间规则 内容' into the rule and the content; raises RuleError with the reason."""
    original = text.strip()
    source = original.translate(_HALF_WIDTH)  # same length: positions stay valid in `original`
    local_now = now.astimezone(tz)
    form, match = _match_date(source)
    position = match.end() if match else 0
    clock_match = _TIME.match(source, _skip(source, position))
    if clock_match and _int(clock_match.group("h")) > 24 and not clock_match.group("mi"):
        clock_match = None
    if form is None and clock_match is None:
        raise RuleError(f"无法识别时间规则“{_head(source)}”。示例：{EXAMPLES}")
    moment = _clock(clock_match)
    if clock_match:
        position = clock_match.end()
    shift_match = _SHIFT.match(source, _skip(source, position))
    if shift_match:
        position = shift_match.end()
    content = original[position:].strip(" \t,，、：:;；")
    if not content:
        raise RuleError("请在时间规则后写上提醒内容，例如：/schedule 每周一 08:30 支部学习")
    rule = _build(form or "time", match, moment, local_now, tz, bool(shift_match))
    return rule, content


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t,，、":
        position += 1
    return position


def _head(text: str) -> str:
    return text.split()[0][:20] if text.split() else text[:20]


def _match_date(text: str) -> tuple[str | None, re.Match[str] | None]:
    for form, pattern in _DATE_FORMS:
        match = pattern.match(text)
        if match:
            return form, match
    return None, None


def _build(form: str, match: re.Match[str] | None, moment: time, now: datetime, tz: tzinfo,
           shift: bool) -> TimeRule:
    clock = _clock_label(moment)
    groups = match.groupdict() if match else {}
    cron = TimeRule(kind="cron", label="", hour=moment.hour, minute=moment.minute, shift=shift)
    suffix = "（遇节假日提前到前一工作日）" if shift else ""
    if form == "daily":
        return replace(cron, label=f"每天 {clock}")
    if form == "workday":
        note = "" if calendar_known(now.date() + timedelta(days=1)) else "（当年法定节假日安排未公布前按周一至周五）"
        return replace(cron, workdays=True, shift=False, label=f"工作日 {clock}{note}")
    if form == "weekly":
        days = sorted({_weekday(c) for c in re.sub(r"[^一二三四五六日天1-7]", "", groups["wds"])})
        names = "、".join(f"周{WEEKDAY_NAMES[d]}" for d in days)
        return replace(cron, day_of_week=",".join(CRON_DAYS[d] for d in days),
                       label=f"每{names} {clock}{suffix}")
    if form in ("month_last_wd", "month_nth_wd", "quarter_last_wd"):
        weekday = _weekday(groups["wd"])
        months, unit = ("3,6,9,12", "每季度末月") if form == "quarter_last_wd" else ("*", "每月")
        if form == "month_nth_wd":
            nth = _int(groups["n"])
            ordinal = {1: "1st", 2: "2nd", 3: "3rd"}.get(nth, f"{nth}th")
            return replace(cron, day=f"{ordinal} {CRON_DAYS[weekday]}",
                           label=f"{unit}第{WEEKDAY_NAMES[nth - 1]}个周{WEEKDAY_NAMES[weekday]} {clock}{suffix}")
        return replace(cron, month=months, day=f"last {CRON_DAYS[weekday]}",
                       label=f"{unit}最后一个周{WEEKDAY_NAMES[weekday]} {clock}{suffix}")
    if form == "month_last":
        return replace(cron, day="last", label=f"每月最后一天 {clock}{suffix}")
    if form == "month_day":
        day = _int(groups["d"])
        if not 1 <= day <= 31:
            raise RuleError(f"日期不对：每月{day}日（应为 1–31）。")
        note = "（无此日的月份不提醒）" if day > 28 else ""
        return replace(cron, day=str(day), label=f"每月{day}日 {clock}{suffix}{note}")
    if form == "quarter_end":
        return replace(cron, month="3,6,9,12", day="last", label=f"每季度末 {clock}{suffix}")
    if form == "quarter_start":
        return replace(cron, month="1,4,7,10", day="1", label=f"每季度第一天 {clock}{suffix}")
    if form == "yearly":
        month, day = _int(groups["mo"]), _int(groups["d"])
        _date(2024, month, day)  # 2024 is a leap year: 2月29日 is a valid yearly date
        return replace(cron, month=str(month), day=str(day),
                       label=f"每年{month}月{day}日 {clock}{suffix}")
    return _once(form, groups, moment, now, tz, shift)


def _once(form: str, groups: dict[str, Any], moment: time, now: datetime, tz: tzinfo,
          shift: bool) -> TimeRule:
    today = now.date()
    if form == "ymd":
        day = _date(int(groups["y"]), int(groups["mo"]), int(groups["d"]))
    elif form == "md":
        month, number = _int(groups["mo"]), _int(groups["d"])
        _date(2024, month, number)
        day = _date(today.year, month, number) if (month, number) != (2, 29) else _leap(today, 0)
        if datetime.combine(day, moment, tz) <= now:
            day = _date(day.year + 1, month, number) if (month, number) != (2, 29) else _leap(day, 1)
    elif form == "rel":
        offset = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}[groups["rel"]]
        day = today + timedelta(days=offset)
    elif form == "weekday":
        weekday, week = _weekday(groups["wd"]), groups.get("wk") or ""
        monday = today - timedelta(days=today.weekday())
        if week.startswith("下下"):
            day = monday + timedelta(days=14 + weekday)
        elif week.startswith("下"):
            day = monday + timedelta(days=7 + weekday)
        elif week:
            day = monday + timedelta(days=weekday)
        else:
            day = monday + timedelta(days=weekday)
            if datetime.combine(day, moment, tz) <= now:
                day += timedelta(days=7)
    else:  # a bare time: today, or tomorrow once it has passed
        day = today if datetime.combine(today, moment, tz) > now else today + timedelta(days=1)
    if shift:
        day = previous_workday(day)
    local = datetime.combine(day, moment, tz)
    if local <= now:
        raise RuleError(f"这个时间已经过去了：{_day_label(day)} {_clock_label(moment)}。")
    return TimeRule(kind="once", label=f"{_day_label(day)} {_clock_label(moment)}",
                    at=local.astimezone(UTC), hour=moment.hour, minute=moment.minute,
                    shift=shift)


def _leap(after: date, years: int) -> date:
    year = after.year + years
    while not calendar.isleap(year):
        year += 1
    return date(year, 2, 29)
