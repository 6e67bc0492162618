"""One reading of the dates and times people write: /remind, /schedule, /task deadlines, 补录.

`parse_when(text, now, tz, want=...)` reads the time phrase a command starts with (for a task
deadline, the one it ends with) and returns a `When`: what was understood, the rest of the text,
and whether the (first) day is a rest day, with the nearest working days around it for 提前/顺延.
A phrase that is there but cannot be right (2月30日, 25点, 上午15点, 周八, a weekday that does not
match its date) raises `RuleError` with the reason in Chinese: the bot asks instead of guessing.
No phrase at all gives None, so a caller never takes "now" for a time it failed to read.

Conventions (the product's decisions): 上午 alone is 09:00, 早上 08:00, 中午 12:00, 下午 14:30,
晚上 19:30; a bare hour 7–11 is morning, 12 noon, 1–6 afternoon; a time with no day is today;
下周X is day X of the next calendar week (weeks start on Monday); a date or weekday without a
year or 本/下 means the next such day; /schedule without a time fires at 09:00, while /remind
asks. Text is read after folding traditional characters (OpenCC) and full-width forms; Chinese
numerals go through cn2an.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Literal

import cn2an
from opencc import OpenCC

from content.timerules import (
    TimeRule,
    calendar_known,
    is_workday,
    next_workday,
    previous_workday,
    working_days_around,
)

Want = Literal["once", "rule", "date"]

EXAMPLES = (
    "明天下午3点｜周五 15:00｜12月8日14:30｜2026-12-01 09:00｜每天 08:00｜每周一 08:30｜"
    "每两周周五 15:00｜每月15日｜每月最后一个周五 15:00｜每月最后一个工作日 16:00｜"
    "每季度首月10日 09:00｜每季度末｜工作日 08:30（可加“（遇节假日顺延）”或“（遇节假日提前）”）"
)
DEFAULT_TIME = time(9, 0)
PERIOD_TIMES = {
    "上午": time(9, 0), "早上": time(8, 0), "早晨": time(8, 0), "清晨": time(8, 0),
    "中午": time(12, 0), "午间": time(12, 0), "下午": time(14, 30), "傍晚": time(18, 0),
    "晚上": time(19, 30), "晚间": time(19, 30), "夜里": time(19, 30), "夜间": time(19, 30),
}
_MORNING = ("上午", "早上", "早晨", "清晨", "早")
_AFTERNOON = ("下午", "傍晚")
_EVENING = ("晚上", "晚间", "夜里", "夜间", "晚")
WEEKDAY_NAMES = "一二三四五六日"
CRON_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEPARATORS = " \t\r\n\u3000：:，,"
SHIFT_LABELS = {"earlier": "（遇节假日提前到前一工作日）", "later": "（遇节假日顺延到下一工作日）"}


class RuleError(ValueError):
    """A time phrase that is there but cannot be right; the message says why, in Chinese."""


@dataclass(frozen=True)
class When:
    """What a time phrase says, and the text after it (before it, for a deadline).

    once: `start` (and `end`) in the bot's zone. rule: `rule`, and `start` its first fire.
    date: `day`. `day` is always the (first) day; `holiday` says it is not a working day, and
    then `before` / `after` are the nearest working days (提前 / 顺延).
    """

    rest: str
    day: date
    start: datetime | None = None
    end: datetime | None = None
    rule: TimeRule | None = None
    holiday: bool = False
    before: date | None = None
    after: date | None = None


def parse_when(text: str, now: datetime, tz: tzinfo, *, want: Want = "once",
               allow_past: bool = False) -> When | None:
    """Read the time phrase of `text` (see the module's conventions).

    want="once" (/remind): a moment, with an end from `到5点`, `15:00-17:00` or `持续2小时`;
    a day without a time asks. want="rule" (/schedule): a moment or a recurrence; no time is
    09:00. want="date" (/task): the deadline at the end of the text (`12月31日前`, `截止：3月13日`);
    a time in it is dropped. `allow_past` (补录): a date without a year stays in this year and a
    weekday in this week, and a past moment is accepted; otherwise they mean the next such day,
    and a one-off rule or a deadline already past is refused (whether a meeting is over is for
    the caller to judge).
    """
    source = _fold(text)
    local_now = now.astimezone(tz)
    if want == "date":
        return _deadline(text, source, local_now, allow_past)
    phrase = _read(source, 0, deadline=False)
    if phrase is None:
        return None
    rest = text[phrase.end:]
    if not phrase.shift and (tail := _SHIFT_AT_END.search(source, phrase.end)):
        phrase.shift, rest = _shift_of(tail), text[phrase.end:tail.start()]
    rest = rest.lstrip(_SEPARATORS)
    if want == "once":
        return _once(phrase, rest, local_now, tz, allow_past)
    return _rule(phrase, rest, local_now, tz, allow_past)


# --- reading ---------------------------------------------------------------------------------

CN = "零〇一二两三四五六七八九十"
NUM = rf"(?:\d{{1,2}}|[{CN}]{{1,3}})"
YEAR = r"(?:\d{4}|[零〇一二三四五六七八九]{4})"
WEEK = r"(?:周|星期|礼拜)"
WDAY = r"(?P<wd>[一二三四五六七八九日天])"
MONTH_REL = r"(?P<mrel>下下个?月|下个?月|次月|本月|这个?月|上个?月)"
_BOUNDARY = r"(?=$|[\s,、:;.。!?\-~—到至开])"


def _c(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_RECURRENCES: list[tuple[str, re.Pattern[str]]] = [
    ("daily", _c(r"每天|每日|天天|每(?P<pw>晚|早)")),
    ("workday", _c(r"(?:每个?)?工作日")),
    ("biweekly", _c(rf"(?:每两周|每隔一周|隔一周|隔周|每双周|双周)的?{WEEK}{WDAY}")),
    ("weekly", _c(rf"每个?{WEEK}(?P<wds>[一二三四五六七八九日天]"
                  rf"(?:(?:[、,和及与]\s*{WEEK}?|{WEEK})[一二三四五六七八九日天])*)")),
    ("month_last_wd", _c(rf"每个?月的?(?:最后一个?|倒数第一个){WEEK}{WDAY}")),
    ("month_nth_wd", _c(rf"每个?月的?第(?P<n>{NUM})个?{WEEK}{WDAY}")),
    ("month_workday", _c(rf"每个?月的?(?:(?P<last>最后一个?|倒数第一个)|第(?P<n>{NUM})个?)工作日")),
    ("month_last", _c(r"每个?月的?(?:最后一天|月末|月底|末|底)")),
    ("month_day", _c(rf"每个?月的?(?P<d>{NUM})\s*[日号]")),
    ("quarter_day", _c(rf"每个?季度?的?(?:第(?P<qm>[一二三123])个月|(?P<first>首月|头一个月)"
                       rf"|(?P<lastm>末月|最后一个月))的?(?P<d>{NUM})\s*[日号]")),
    ("quarter_last_wd", _c(rf"每个?季度?的?(?:最后一个?|倒数第一个){WEEK}{WDAY}")),
    ("quarter_end", _c(r"每个?季度?的?(?:末|最后一天|底)")),
    ("quarter_start", _c(r"每个?季度?的?(?:初|第一天|首日)")),
    ("half_year", _c(r"每半年的?(?:(?P<hend>末|底|最后一天)|初|第一天)?")),
    ("yearly", _c(rf"每年的?(?P<mo>{NUM})\s*月\s*(?P<d>{NUM})\s*[日号]")),
]
_DAYS: list[tuple[str, re.Pattern[str]]] = [
    ("ymd", _c(rf"(?P<y>{YEAR})\s*[-/.年]\s*(?P<mo>{NUM})\s*[-/.月]\s*(?P<d>{NUM})(?:\s*[日号])?")),
    ("md", _c(rf"(?P<mo>{NUM})\s*月\s*(?P<d>{NUM})\s*[日号]")),
    ("md", _c(r"(?P<mo>\d{1,2})[/-](?P<d>\d{1,2})(?![\d:/-]|\s*[点时])")),
    ("month_end", _c(rf"(?:{MONTH_REL}|(?P<mo>{NUM})\s*月|月)的?[底末]")),
    ("month_rel", _c(rf"{MONTH_REL}的?(?P<d>{NUM})\s*[日号]")),
    ("year_end", _c(r"(?:今年|本年)?年[底末]")),
    ("rel", _c(r"(?P<rel>大后天|后天|明天|明日|明儿|今天|今日|昨天|昨日|前天|明早|明晚|今早|今晚|昨晚)")),
    ("weekday", _c(rf"(?P<wk>上上个?|上个?|下下个?|下个?|本|这个?)?{WEEK}{WDAY}")),
]
_DATE_WEEKDAY = _c(rf"\s*(?P<open>\()?\s*{WEEK}{WDAY}\s*(?(open)\))")
_NOW = _c(r"现在|立即|立刻|马上")
_PERIOD = _c(r"上午|早上|早晨|清晨|中午|午间|下午|傍晚|晚上|晚间|夜里|夜间|凌晨")
_SHORT_PERIOD = _c(rf"[早晚](?=\s*(?:\d|[{CN}]))")
_CLOCK = _c(
    rf"(?P<h>\d{{1,2}}|[{CN}]{{1,3}})\s*(?:(?P<colon>:)\s*(?P<mc>\d{{2}})(?!\d)"
    rf"|[点时](?:(?P<half>半)|(?P<q>[一三])刻|(?P<mf>\d{{1,2}}|[{CN}]{{1,3}})分"
    rf"|(?P<m2>\d{{2}})(?!\d)|(?P<m1>\d|[{CN}]{{1,3}}){_BOUNDARY}|整)?)"
)
_BEGIN = _c(r"\s*开始")
_UNTIL = _c(r"\s*(?:-|~|—|–|到|至)\s*")
_RANGE_HOUR = _c(rf"\d{{1,2}}|[{CN}]{{1,3}}")  # the 9 of 9-11点
_LENGTH = _c(rf"[\s,、]*(?:持续|历时|时长|为期|共)\s*(?P<n>\d{{1,3}}|[{CN}]{{1,3}})?\s*个?\s*"
             r"(?P<half>半)?\s*(?P<unit>小时|钟头|分钟)")
_SHIFT_WORDS = (r"[(]?(?:遇|逢)?(?:法定)?(?:节假日|节日|假日|节假|休息日|周末|非工作日)(?:则|就)?"
                r"(?P<dir>顺延|延后|推迟|后延|往后|提前|前移|往前)(?:到|至)?"
                r"(?:[前后上下]一个?工作日)?[)]?")
_SHIFT = _c(_SHIFT_WORDS)
_SHIFT_AT_END = _c(rf"[\s,]*{_SHIFT_WORDS}[\s。.]*$")
_DEADLINE_HEAD = _c(r"(?:截止|截至)(?:日期|时间)?\s*(?:到|至)?\s*:?\s*")
_DEADLINE_TAIL = _c(r"\s*(?:之前|以前|前|为止)")
_END = _c(r"[\s。.!]*$")
_GAP = " \t\r\n,、"


@dataclass
class _Clock:
    text: str
    hour: int
    minute: int
    period: str  # 上午, 下午, …, "" when none was written
    colon: bool  # 15:00 (taken as written) rather than 3点 (a bare hour follows the convention)


@dataclass
class _Phrase:
    """A time phrase as written, before it is checked against the calendar."""

    end: int = 0
    form: str = ""  # a recurrence or day form; "" when only a time was written
    groups: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    period: str = ""  # a period without a clock (下午), or from the day word (今晚, 每晚)
    clock: _Clock | None = None
    until: _Clock | None = None
    length: timedelta | None = None
    noted_weekday: str = ""  # 12月8日（周二）
    shift: str = ""
    now: bool = False

    @property
    def recurring(self) -> bool:
        return self.form in _RECURRENCE_FORMS


_RECURRENCE_FORMS = {form for form, _ in _RECURRENCES}


@lru_cache(maxsize=1)
def _opencc() -> OpenCC:
    return OpenCC("t2s")


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    """One character in simplified, half-width form (one character, so positions stay)."""
    simple = _opencc().convert(char)
    simple = simple if len(simple) == 1 else char
    folded = unicodedata.normalize("NFKC", simple)
    return folded if len(folded) == 1 else simple


def _fold(text: str) -> str:
    return "".join(_fold_char(char) for char in text)


def _skip(text: str, position: int, chars: str = _GAP) -> int:
    while position < len(text) and text[position] in chars:
        position += 1
    return position


def _read(source: str, position: int, *, deadline: bool) -> _Phrase | None:
    """The time phrase at `position`, as written; None when there is none."""
    start = position = _skip(source, position, _SEPARATORS)
    phrase = _Phrase()
    if not deadline and (now := _NOW.match(source, position)):
        phrase.now, phrase.end, phrase.text = True, now.end(), now.group()
        return phrase
    forms = _DAYS if deadline else _RECURRENCES + _DAYS
    for form, pattern in forms:
        if match := pattern.match(source, position):
            phrase.form, phrase.groups, position = form, match.groupdict(), match.end()
            if form in ("ymd", "md", "month_rel") and (
                    noted := _DATE_WEEKDAY.match(source, position)):
                phrase.noted_weekday, position = noted.group("wd"), noted.end()
            break
    phrase.period = _day_period(phrase)
    position = _read_time(source, position, phrase)
    if not phrase.form and phrase.clock is None and not phrase.period:
        return None
    if not deadline and (shift := _SHIFT.match(source, _skip(source, position))):
        phrase.shift, position = _shift_of(shift), shift.end()
    phrase.end, phrase.text = position, source[start:position].strip()
    return phrase


def _day_period(phrase: _Phrase) -> str:
    word = phrase.groups.get("rel") or phrase.groups.get("pw") or ""
    return "晚上" if word.endswith("晚") else "早上" if word.endswith("早") else ""


def _read_time(source: str, position: int, phrase: _Phrase) -> int:
    """The clock after a day (or alone): `下午3点半`, `15:00-17:00`, `下午2点开始，持续2小时`."""
    at = _skip(source, position)
    period = _PERIOD.match(source, at) or _SHORT_PERIOD.match(source, at)
    clock_at = _skip(source, period.end(), " \t\u3000") if period else at
    written = period.group() if period else phrase.period
    clock = _clock(source, clock_at, written)
    if clock is None and (hour := _RANGE_HOUR.match(source, clock_at)) and (
            until := _until(source, hour.end(), written)):  # 9-11点: the 点 of both
        phrase.clock = _Clock(hour.group(), _number(hour.group()), 0, written, False)
        phrase.until, position = until
        return position
    if clock is None and period is None:
        return position
    if clock is None:
        assert period is not None
        if not _PERIOD.fullmatch(period.group()):
            return position  # 早 / 晚 alone are read only before a clock
        phrase.period = period.group()
        return period.end()
    phrase.clock, position = clock, clock_at + len(clock.text)
    if begin := _BEGIN.match(source, position):
        position = begin.end()
    if until := _until(source, position, clock.period):
        phrase.until, position = until
    elif length := _LENGTH.match(source, position):
        phrase.length, position = _length(length), length.end()
    return position


def _until(source: str, position: int, inherited: str) -> tuple[_Clock, int] | None:
    """The end of a range (`到5点`, `-17:00`, `至下午5点`) and where it ends; the start's period
    carries over when the end names none."""
    dash = _UNTIL.match(source, position)
    if dash is None:
        return None
    period = _PERIOD.match(source, dash.end()) or _SHORT_PERIOD.match(source, dash.end())
    at = _skip(source, period.end(), " \t") if period else dash.end()
    clock = _clock(source, at, period.group() if period else inherited)
    return (clock, at + len(clock.text)) if clock else None


def _clock(source: str, position: int, period: str) -> _Clock | None:
    match = _CLOCK.match(source, position)
    if match is None:
        return None
    minute_text = match.group("mc") or match.group("mf") or match.group("m2") or match.group("m1")
    minute = 30 if match.group("half") else _number(minute_text) if minute_text else 0
    if match.group("q"):
        minute = 15 if match.group("q") == "一" else 45
    return _Clock(match.group(), _number(match.group("h")), minute, period,
                  bool(match.group("colon")))


def _length(match: re.Match[str]) -> timedelta:
    count = _number(match.group("n")) if match.group("n") else 0
    minutes = count * (1 if match.group("unit") == "分钟" else 60)
    return timedelta(minutes=minutes + (30 if match.group("half") else 0))


def _shift_of(match: re.Match[str]) -> str:
    return "earlier" if match.group("dir") in ("提前", "前移", "往前") else "later"


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if len(text) == 4 and "十" not in text:  # a year written digit by digit: 二〇二六
        return int("".join(str("〇一二三四五六七八九".index(c) if c != "零" else 0) for c in text))
    try:
        return int(cn2an.cn2an(text, "smart"))
    except ValueError:
        raise RuleError(f"无法识别数字“{text}”，请用阿拉伯数字书写。") from None


def _find_deadline(source: str) -> tuple[_Phrase, int] | None:
    """The deadline a task ends with (`… 12月31日前`), else one it starts with when marked
    (`截止12月31日 …`, `12月31日前 …`): the phrase and where it begins (0 at the start)."""
    for begin in range(len(source)):
        if begin and source[begin - 1] not in _SEPARATORS + "、;" and not _DEADLINE_HEAD.match(
                source, begin):
            continue
        phrase = _read_deadline(source, begin)
        if phrase is not None and _END.match(source, phrase.end):
            return phrase, begin
    phrase = _read_deadline(source, 0, marked=True)
    return (phrase, 0) if phrase is not None else None


def _read_deadline(source: str, begin: int, *, marked: bool = False) -> _Phrase | None:
    head = _DEADLINE_HEAD.match(source, _skip(source, begin, _SEPARATORS))
    phrase = _read(source, head.end() if head else begin, deadline=True)
    if phrase is None or not phrase.form:
        return None
    tail = _DEADLINE_TAIL.match(source, phrase.end)
    phrase.end = tail.end() if tail else phrase.end
    if marked and not (head or tail):
        return None
    return phrase


# --- checking against the calendar ------------------------------------------------------------

def _hour(clock: _Clock) -> time:
    """The clock in 24 hours: 下午3点 15:00, 晚上8点 20:00, a bare 3点 15:00, 8点 08:00."""
    hour, minute, period = clock.hour, clock.minute, clock.period
    if hour >= 24 or minute >= 60:
        raise RuleError(f"时间不对：“{clock.text}”（小时应为 0–23，分钟 0–59）。")
    if period in _MORNING and hour >= 13:
        raise RuleError(f"“{period}{clock.text}”说不通：上午没有{hour}点，"
                        f"请写“下午{hour - 12}点”或“{hour}:{minute:02d}”。")
    if period in _EVENING and hour == 12:
        raise RuleError("“晚上12点”有歧义，请写“23:59”或“次日0点”。")
    if period in _AFTERNOON + _EVENING + ("中午",) and (
            hour < 12 and not (period == "中午" and hour >= 11)):
        hour += 12
    elif period == "凌晨" and hour == 12:
        hour = 0
    elif not period and not clock.colon and 1 <= hour <= 6:
        hour += 12  # a bare 3点 is in the afternoon; 7–11 in the morning, 12 at noon
    return time(hour, minute)


def _time_of(phrase: _Phrase) -> time | None:
    if phrase.clock is not None:
        return _hour(phrase.clock)
    if phrase.period and phrase.period not in PERIOD_TIMES:
        raise RuleError(f"请写明{phrase.period}几点，例如“{phrase.period}5点”。")
    return PERIOD_TIMES.get(phrase.period)


def _weekday(char: str) -> int:
    if char in "日天":
        return 6
    if char not in WEEKDAY_NAMES:
        raise RuleError(f"没有“周{char}”，星期只有周一到周日。")
    return WEEKDAY_NAMES.index(char)


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise RuleError(f"日期不存在：{year}年{month}月{day}日，请核对。") from None


def _month_day(month: int, day: int, year: int) -> date:
    """A month and day as written without a year: checked in `year` (2月29日 only in leap years)."""
    if (month, day) == (2, 29) and not calendar.isleap(year):
        raise RuleError(f"日期不存在：{year}年不是闰年，没有2月29日，请核对。")
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise RuleError(f"日期不存在：{month}月{day}日，请核对。")
    return date(year, month, day)


def _add_months(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


def _last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _day(phrase: _Phrase, now: datetime, moment: time | None, allow_past: bool) -> date | None:
    """The day a one-off phrase names (None: no day, only a time). A date without a year or a
    bare weekday moves to the next such day unless `allow_past`; `moment` decides for a weekday
    (周三下午3点 said on Wednesday at 16:00 is next week), the date for a date."""
    today, groups, form = now.date(), phrase.groups, phrase.form
    if form == "ymd":
        day = _date(_number(groups["y"]), _number(groups["mo"]), _number(groups["d"]))
    elif form == "md":
        month, number = _number(groups["mo"]), _number(groups["d"])
        day = _month_day(month, number, today.year)
        if day < today and not allow_past:
            day = _month_day(month, number, today.year + 1)
    elif form == "month_rel":
        offset = {"下下": 2, "下": 1, "次": 1, "上": -1}.get(groups["mrel"].rstrip("个月")[:2], 0)
        year, month = _add_months(today, offset)
        day = _date(year, month, _number(groups["d"]))
    elif form == "month_end":
        if groups["mo"]:
            month = _number(groups["mo"])
            if not 1 <= month <= 12:
                raise RuleError(f"没有{month}月，请核对。")
            day = _last_day(today.year, month)
            if day < today and not allow_past:
                day = _last_day(today.year + 1, month)
        else:
            mrel = groups["mrel"] or "本月"
            offset = {"下下": 2, "下": 1, "次": 1, "上": -1}.get(mrel.rstrip("个月")[:2], 0)
            day = _last_day(*_add_months(today, offset))
    elif form == "year_end":
        day = date(today.year, 12, 31)
    elif form == "rel":
        offsets = {"大后": 3, "后": 2, "明": 1, "今": 0, "昨": -1, "前": -2}
        word = groups["rel"]
        day = today + timedelta(days=offsets[word[:2] if word.startswith("大") else word[0]])
    elif form == "weekday":
        weekday, week = _weekday(groups["wd"]), groups["wk"] or ""
        monday = today - timedelta(days=today.weekday())
        weeks = {"下下": 2, "下": 1, "上上": -2, "上": -1}.get(week.rstrip("个")[:2], 0)
        day = monday + timedelta(days=7 * weeks + weekday)
        if not week and not allow_past and (
                day < today or (moment is not None and datetime.combine(day, moment, now.tzinfo)
                                <= now) or (moment is None and day == today)):
            day += timedelta(days=7)
    else:
        return None
    if phrase.noted_weekday and _weekday(phrase.noted_weekday) != day.weekday():
        raise RuleError(f"{day.month}月{day.day}日是周{WEEKDAY_NAMES[day.weekday()]}，"
                        f"与所写的“周{phrase.noted_weekday}”不一致，请核对日期。")
    return day


def _shifted(day: date, shift: str) -> date:
    if shift == "earlier":
        return previous_workday(day)
    if shift == "later":
        return next_workday(day)
    return day


def _when(rest: str, day: date, **values: Any) -> When:
    if is_workday(day):
        return When(rest=rest, day=day, **values)
    before, after = working_days_around(day)
    return When(rest=rest, day=day, holiday=True, before=before, after=after, **values)


def _once(phrase: _Phrase, rest: str, now: datetime, tz: tzinfo, allow_past: bool) -> When:
    if phrase.recurring:
        raise RuleError(f"“{phrase.text}”是周期性时间，这里只能写一次性的时间；"
                        "周期性提醒请用 /schedule。")
    if phrase.now:
        return _when(rest, now.date(), start=now)
    moment = _time_of(phrase)
    day = _day(phrase, now, moment, allow_past)
    if moment is None:
        raise RuleError(f"请写明“{phrase.text}”的具体时间，例如“{phrase.text} 下午3点”"
                        "或“15:00-17:00”。")
    day = _shifted(day or now.date(), phrase.shift)
    start = datetime.combine(day, moment, tz)
    end = None
    if phrase.until is not None:
        end = datetime.combine(day, _hour(phrase.until), tz)
        if end <= start < end + timedelta(hours=12) and not phrase.until.colon:
            end += timedelta(hours=12)  # 上午11点到1点: 13:00
        if end <= start:
            end += timedelta(days=1)  # 23:00-01:00
    elif phrase.length:
        end = start + phrase.length
    return _when(rest, day, start=start, end=end)


def _deadline(text: str, source: str, now: datetime, allow_past: bool) -> When | None:
    found = _find_deadline(source)
    if found is None:
        return None
    phrase, begin = found
    rest = text[:begin].rstrip(_SEPARATORS) if begin else text[phrase.end:]
    if phrase.clock is not None:
        _hour(phrase.clock)  # a time in a deadline is dropped, but it must make sense
    day = _day(phrase, now, None, allow_past)
    assert day is not None, "a deadline phrase names a day"
    if day < now.date() and not allow_past:
        raise RuleError(f"截止日期 {_day_label(day)} 已过，请核对。")
    return _when(rest.lstrip(_SEPARATORS), day)


def _rule(phrase: _Phrase, rest: str, now: datetime, tz: tzinfo, allow_past: bool) -> When:
    if phrase.now:
        raise RuleError("定时提醒请写明时间，例如“明天 09:00”或“每周一 08:30”。")
    moment = _time_of(phrase) or DEFAULT_TIME
    if phrase.recurring:
        rule = _recurrence(phrase, moment, now, tz)
    else:
        day = _shifted(_day(phrase, now, moment, allow_past) or now.date(), phrase.shift)
        local = datetime.combine(day, moment, tz)
        if local <= now and not allow_past:
            raise RuleError(f"这个时间已经过去了：{_day_label(day)} {moment:%H:%M}。")
        rule = TimeRule(kind="once", label=f"{_day_label(day)} {moment:%H:%M}",
                        at=local.astimezone(UTC), hour=moment.hour, minute=moment.minute,
                        shift=phrase.shift)
    first = rule.next_after(now, tz)
    if first is None:
        raise RuleError(f"“{phrase.text}”以后不会再到，请核对。")
    start = first.astimezone(tz)
    return _when(rest, start.date(), start=start, rule=rule)


def _day_label(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日（周{WEEKDAY_NAMES[day.weekday()]}）"


def _recurrence(phrase: _Phrase, moment: time, now: datetime, tz: tzinfo) -> TimeRule:
    """The cron rule of a recurrence (`每月最后一个周五`, `每季度首月10日`, `每两周周五` …)."""
    form, groups = phrase.form, phrase.groups
    clock = f"{moment:%H:%M}"
    suffix = SHIFT_LABELS.get(phrase.shift, "")
    cron = TimeRule(kind="cron", label="", hour=moment.hour, minute=moment.minute,
                    shift=phrase.shift)
    if form == "daily":
        return replace(cron, label=f"每天 {clock}{suffix}")
    if form == "workday":
        known = calendar_known(now.date() + timedelta(days=1))
        note = "" if known else "（当年法定节假日安排未公布前按周一至周五）"
        return replace(cron, label=f"工作日 {clock}{note}", workdays=True, shift="")
    if form in ("weekly", "biweekly"):
        chars = groups.get("wd") or groups["wds"]
        days = sorted({_weekday(char) for char in chars if char in "一二三四五六七八九日天"})
        names = "、".join(f"周{WEEKDAY_NAMES[d]}" for d in days)
        weekly = replace(cron, day_of_week=",".join(CRON_DAYS[d] for d in days),
                         label=f"每{names} {clock}{suffix}")
        if form == "weekly":
            return weekly
        first = weekly.next_after(now, tz)
        assert first is not None, "a weekly rule always fires again"
        return replace(weekly, every_weeks=2, at=first,
                       label=f"每两周的{names} {clock}{suffix}"
                             f"（自{_day_label(first.astimezone(tz).date())}起）")
    if form in ("month_last_wd", "month_nth_wd", "quarter_last_wd"):
        weekday = _weekday(groups["wd"])
        name = f"周{WEEKDAY_NAMES[weekday]}"
        if form == "month_nth_wd":
            nth = _number(groups["n"])
            if not 1 <= nth <= 5:
                raise RuleError(f"每月第{nth}个{name}不存在：一个月最多有 5 个{name}。")
            ordinal = {1: "1st", 2: "2nd", 3: "3rd"}.get(nth, f"{nth}th")
            return replace(cron, day=f"{ordinal} {CRON_DAYS[weekday]}",
                           label=f"每月第{WEEKDAY_NAMES[nth - 1]}个{name} {clock}{suffix}")
        quarter = form == "quarter_last_wd"
        return replace(cron, month="3,6,9,12" if quarter else "*",
                       day=f"last {CRON_DAYS[weekday]}",
                       label=f"{'每季度末月' if quarter else '每月'}最后一个{name} {clock}{suffix}")
    if form == "month_workday":
        nth = -1 if groups["last"] else _number(groups["n"])
        if not (nth == -1 or 1 <= nth <= 20):
            raise RuleError(f"每月第{nth}个工作日不存在：一个月最多约 23 个工作日。")
        which = "最后一个" if nth == -1 else f"第{nth}个"
        return replace(cron, day="1", nth_workday=nth, label=f"每月{which}工作日 {clock}",
                       shift="")
    if form == "month_last":
        return replace(cron, day="last", label=f"每月最后一天 {clock}{suffix}")
    if form in ("month_day", "quarter_day"):
        day = _number(groups["d"])
        if not 1 <= day <= 31:
            raise RuleError(f"日期不对：每月{day}日不存在（应为 1–31）。")
        note = "（无此日的月份不提醒）" if day > 28 and form == "month_day" else ""
        if form == "month_day":
            return replace(cron, day=str(day), label=f"每月{day}日 {clock}{suffix}{note}")
        offset = 0 if groups["first"] else 2 if groups["lastm"] else "一二三123".index(
            groups["qm"]) % 3
        months = ",".join(str(m + offset) for m in (1, 4, 7, 10))
        _month_day(1 + offset, day, 2024)  # the quarter's month must have that day
        return replace(cron, month=months, day=str(day),
                       label=f"每季度第{WEEKDAY_NAMES[offset]}个月{day}日 {clock}{suffix}")
    if form == "quarter_end":
        return replace(cron, month="3,6,9,12", day="last", label=f"每季度末 {clock}{suffix}")
    if form == "quarter_start":
        return replace(cron, month="1,4,7,10", day="1", label=f"每季度第一天 {clock}{suffix}")
    if form == "half_year":
        if groups["hend"]:
            return replace(cron, month="6,12", day="last",
                           label=f"每半年末（6月30日、12月31日） {clock}{suffix}")
        return replace(cron, month="1,7", day="1",
                       label=f"每半年（1月1日、7月1日） {clock}{suffix}")
    assert form == "yearly", form
    month, day = _number(groups["mo"]), _number(groups["d"])
    _month_day(month, day, 2024)  # 2024 is a leap year: 2月29日 is a valid yearly date
    return replace(cron, month=str(month), day=str(day),
                   label=f"每年{month}月{day}日 {clock}{suffix}")
