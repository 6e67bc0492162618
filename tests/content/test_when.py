"""One reading of written times: the blind phrasing table through the commands' own entries,
then what the table does not cover (backdating, 现在, 顺延/提前 suffixes, deadlines, ranges)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content.timerules import StoredTrigger, TimeRule
from content.when import RuleError, Want, When, parse_when

TZ = ZoneInfo("Asia/Shanghai")
TABLE = [json.loads(line) for line in
         (Path(__file__).parent / "time_phrasings.jsonl").read_text("utf-8").splitlines()
         if line.strip()]
WANT: dict[str, Want] = {"remind": "once", "schedule": "rule", "task": "date"}
"""The entry each command uses."""


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TZ)


def stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(TZ).strftime("%Y-%m-%dT%H:%M") if moment else None


def next_fires(rule: TimeRule, now: datetime, count: int) -> list[str | None]:
    fires, moment = [], now
    for _ in range(count):
        fire = rule.next_after(moment, TZ)
        fires.append(stamp(fire))
        if fire is None:
            break
        moment = fire
    return fires


def parse(text: str, now: datetime, want: Want = "once", **options: Any) -> When:
    when = parse_when(text, now, TZ, want=want, **options)
    assert when is not None, f"no time found in {text!r}"
    return when


@pytest.mark.parametrize("row", TABLE, ids=[row["id"] for row in TABLE])
def test_phrasing_table(row: dict[str, Any]) -> None:
    """Every phrasing of the blind table gives its expected time, rest and rest-day flag."""
    expect, want = row["expect"], WANT[row["command"]]
    now = datetime.fromisoformat(row["now"]).replace(tzinfo=TZ)
    if expect["kind"] == "ask":
        with pytest.raises(RuleError) as error:
            parse_when(row["text"], now, TZ, want=want)
        message = str(error.value)
        assert re.search(r"[\u4e00-\u9fff]", message) and "\n" not in message
        return
    when = parse_when(row["text"], now, TZ, want=want)
    if expect["kind"] == "none":
        assert when is None
        return
    assert when is not None
    if expect["kind"] == "date":
        assert when.day.isoformat() == expect["date"]
    elif expect["kind"] == "recurring":
        assert when.rule is not None and when.rule.kind == "cron"
        assert next_fires(when.rule, now, 3) == expect["next"]
    elif want == "rule":  # a one-off /schedule
        assert when.rule is not None and when.rule.kind == "once"
        assert stamp(when.rule.at) == expect["at"]
    else:
        assert (stamp(when.start), stamp(when.end)) == (expect["at"], expect.get("end"))
    if "rest" in expect:
        assert when.rest == expect["rest"]
    assert when.holiday is expect.get("holiday", False)


def test_the_table_is_the_blind_one() -> None:
    """The table keeps its 256 rows, every kind of expectation among them."""
    assert len(TABLE) == 256
    assert {row["expect"]["kind"] for row in TABLE} == {
        "once", "recurring", "date", "ask", "none"}


TIME_CHARACTERS = ("0123456789:：-~到至点時时分半刻上下午晚早每天周週星期礼拜一二三四五六七八九十两日号月年"
                   "前后明今昨本下个季度首末底第最后工作隔现在截止，（）遇节假日顺延提前持续小时 \u3000１")


@settings(max_examples=400, deadline=None)
@given(text=st.text(TIME_CHARACTERS, max_size=16), want=st.sampled_from(["once", "rule", "date"]),
       allow_past=st.booleans())
def test_any_text_is_read_or_asked_about(text: str, want: Want, allow_past: bool) -> None:
    """Whatever is typed, the parser answers with a reading, no time, or a question; a rule it
    reads fires after now."""
    now = local(2026, 12, 31, 23, 30)
    try:
        when = parse_when(text, now, TZ, want=want, allow_past=allow_past)
    except RuleError as error:
        assert str(error)
        return
    if when is not None and when.rule is not None:
        fire = when.rule.next_after(now, TZ)
        assert fire is not None and fire > now


# --- a rest day and the working days around it -------------------------------------------------

def test_a_holiday_names_the_working_days_around_it() -> None:
    """5月1日 (Labour Day, holidays to 5月5日): 提前 to 4月30日, 顺延 to 5月6日."""
    when = parse("5月1日上午9点 志愿服务", local(2026, 4, 27, 9))
    assert when.holiday and (when.before, when.after) == (date(2026, 4, 30), date(2026, 5, 6))
    working = parse("4月29日上午9点 志愿服务", local(2026, 4, 27, 9))
    assert not working.holiday and working.before is None and working.after is None


@pytest.mark.parametrize(
    ("suffix", "first"),
    [("（遇节假日顺延）", local(2026, 10, 8, 9)), ("（遇节假日提前）", local(2026, 9, 30, 9))],
)
def test_shift_suffix_moves_holiday_fires(suffix: str, first: datetime) -> None:
    """A suffix after the content moves a holiday fire later or earlier and leaves the rest."""
    now = local(2026, 9, 15, 10)
    when = parse(f"每月1日 09:00 党费收缴{suffix}", now, "rule")
    assert when.rest == "党费收缴" and not when.holiday
    assert when.rule is not None and ("顺延" if "顺延" in suffix else "提前") in when.rule.label
    assert next_fires(when.rule, now, 2)[0] == stamp(first)
    plain = parse("每月1日 09:00 党费收缴", now, "rule")
    assert plain.holiday and (plain.before, plain.after) == (date(2026, 9, 30), date(2026, 10, 8))


def test_postponed_fires_stay_in_order_and_never_repeat() -> None:
    """顺延 daily: the National Day week collapses onto 10月8日 once, then every working day."""
    when = parse("每天 09:00 学习（遇节假日顺延）", local(2026, 9, 29, 10), "rule")
    assert when.rule is not None
    assert next_fires(when.rule, local(2026, 9, 29, 10), 4) == [
        "2026-09-30T09:00", "2026-10-08T09:00", "2026-10-09T09:00", "2026-10-10T09:00"]


def test_a_one_off_moves_off_a_holiday() -> None:
    """A single date on a holiday moves to the working day after it when asked, and only then."""
    asked = parse("2026-10-03 10:00 遇节假日顺延 汇报", local(2026, 9, 1), "rule")
    assert asked.rule is not None and asked.rule.kind == "once"
    assert (stamp(asked.rule.at), asked.rest, asked.holiday) == ("2026-10-08T10:00", "汇报", False)
    content = parse("2026-10-03 10:00 顺延 汇报", local(2026, 9, 1), "rule")
    assert (stamp(content.start), content.rest, content.holiday) == (
        "2026-10-03T10:00", "顺延 汇报", True)


# --- what the commands do with the past and with no time ---------------------------------------

def test_backdating_reads_the_past_that_is_meant() -> None:
    """补录: a date without a year stays in this year and a weekday in this week."""
    now = local(2026, 12, 10, 10)  # a Thursday
    assert stamp(parse("12月1日下午3点 支部大会", now).start) == "2027-12-01T15:00"
    assert stamp(parse("12月1日下午3点 支部大会", now, allow_past=True).start) == (
        "2026-12-01T15:00")
    assert stamp(parse("周二下午3点 支委会", now, allow_past=True).start) == "2026-12-08T15:00"
    assert stamp(parse("上周五上午9点 党课", now, allow_past=True).start) == "2026-12-04T09:00"
    assert stamp(parse("昨天下午3点 党课", now, allow_past=True).start) == "2026-12-09T15:00"


def test_the_past_is_refused_where_it_cannot_be_meant() -> None:
    """A one-off rule or a deadline already past is refused unless the past is allowed."""
    now = local(2026, 12, 10, 10)
    with pytest.raises(RuleError, match="已经过去"):
        parse_when("今天 08:00 开会", now, TZ, want="rule")
    with pytest.raises(RuleError, match="截止日期 2026年12月1日（周二） 已过"):
        parse_when("学习党章 2026-12-01前", now, TZ, want="date")
    assert parse("学习党章 2026-12-01前", now, "date", allow_past=True).day == date(2026, 12, 1)


def test_no_time_is_said_so_and_now_must_be_written() -> None:
    """No time phrase gives None (the caller asks); 现在 is an explicit now for /remind only."""
    now = local(2026, 11, 20, 10)
    assert parse_when("主题党日 15:00", now, TZ) is None
    assert parse_when("下个月找时间 开会", now, TZ, want="rule") is None
    when = parse("现在 临时支委会", now)
    assert (when.start, when.rest) == (now, "临时支委会")
    with pytest.raises(RuleError, match="写明时间"):
        parse_when("现在 开会", now, TZ, want="rule")


def test_a_recurrence_is_not_a_meeting_time() -> None:
    """/remind with 每周五 points to /schedule rather than posting one meeting."""
    with pytest.raises(RuleError, match="/schedule"):
        parse_when("每周五下午3点 党小组会", local(2026, 11, 20, 10), TZ)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("凌晨 备份台账", "凌晨几点"),
        ("晚上12点 值班", "歧义"),
        ("十二三点 开会", "数字"),
        ("12月8日 周三 14:30 党课", "周二"),
    ],
)
def test_unclear_times_ask(text: str, reason: str) -> None:
    """A time that is there but unclear asks, with the reason."""
    with pytest.raises(RuleError, match=reason):
        parse_when(text, local(2026, 11, 20, 10), TZ, want="rule")


# --- meetings: ranges and lengths ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "start", "end", "rest"),
    [
        ("23:00-01:00 值班", local(2026, 11, 20, 23), local(2026, 11, 21, 1), "值班"),
        ("上午11点到1点 座谈", local(2026, 11, 20, 11), local(2026, 11, 20, 13), "座谈"),
        ("明天 9:30-11:00 支委会", local(2026, 11, 21, 9, 30), local(2026, 11, 21, 11),
         "支委会"),
        ("2027-01-05 14：30~16:00 x", local(2027, 1, 5, 14, 30), local(2027, 1, 5, 16), "x"),
        ("下午3点 持续一个半小时 党课", local(2026, 11, 20, 15), local(2026, 11, 20, 16, 30),
         "党课"),
        ("明天下午3点到三楼会议室开会", local(2026, 11, 21, 15), None, "到三楼会议室开会"),
        ("明天上午9-11点 支委会", local(2026, 11, 21, 9), local(2026, 11, 21, 11), "支委会"),
        ("明天14到16点 党课", local(2026, 11, 21, 14), local(2026, 11, 21, 16), "党课"),
    ],
)
def test_meeting_ranges(text: str, start: datetime, end: datetime | None, rest: str) -> None:
    """Start and end of a meeting; a 到 that is not followed by a time stays in the text."""
    when = parse(text, local(2026, 11, 20, 10))
    assert (when.start, when.end, when.rest) == (start, end, rest)


# --- task deadlines ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "due", "rest"),
    [
        ("学习党章 12月31日", date(2026, 12, 31), "学习党章"),
        ("学习党章 截止12-31前", date(2026, 12, 31), "学习党章"),
        ("学习党章 1月5日", date(2027, 1, 5), "学习党章"),
        ("学习党章 2026/11/25", date(2026, 11, 25), "学习党章"),
        ("学习党章 明天", date(2026, 11, 21), "学习党章"),
        ("学习党章截止到下月底", date(2026, 12, 31), "学习党章"),
        ("截止12月31日 学习党章", date(2026, 12, 31), "学习党章"),
        ("12月31日前，学习党章", date(2026, 12, 31), "学习党章"),
        ("学习党章 周五前", date(2026, 11, 27), "学习党章"),  # said on a Friday: next week's
    ],
)
def test_deadlines(text: str, due: date, rest: str) -> None:
    """A task's deadline at its end (or, marked with 截止/前, at its start)."""
    when = parse(text, local(2026, 11, 20, 10), "date")
    assert (when.day, when.rest) == (due, rest)


@pytest.mark.parametrize("text", ["学习第1.2节", "学习党章", "学习12月8日讲话精神", "三月份党费"])
def test_no_deadline(text: str) -> None:
    """Numbers inside a task's content are not a deadline."""
    assert parse_when(text, local(2026, 11, 20, 10), TZ, want="date") is None


# --- the rules as APScheduler runs them ---------------------------------------------------------

@pytest.mark.parametrize(
    "text", ["每两周周五 下午3点 学习", "每月最后一个工作日 16:00 月报", "每月1日 9:00 党费（遇节假日顺延）"])
def test_stored_rules_fire_as_parsed(text: str) -> None:
    """A rule stored as JSON and run through the scheduler's trigger (fed its own previous fire,
    as APScheduler does) fires at the times the parser's rule gives, from any moment."""
    now = local(2026, 9, 10, 10)
    when = parse(text, now, "rule")
    assert when.rule is not None
    trigger = StoredTrigger(json.dumps(when.rule.to_spec()), TZ)
    fires, previous = [], None
    for _ in range(6):
        previous = trigger.get_next_fire_time(previous, now)
        assert previous is not None
        fires.append(stamp(previous))
        now = previous
    assert fires == next_fires(when.rule, local(2026, 9, 10, 10), 6)
    later = local(2026, 10, 2, 12)  # not a fire time: next_after still lands on the rule's dates
    assert next_fires(when.rule, later, 1)[0] in fires


def test_every_other_week_counts_from_the_first_fire() -> None:
    """每两周: fires 14 days apart from the first, whatever moment one starts counting from."""
    when = parse("隔周周一 9:00 支委碰头", local(2026, 10, 14, 10), "rule")
    assert when.rule is not None and "每两周" in when.rule.label
    after_a_skipped_week = local(2026, 10, 27, 12)
    assert next_fires(when.rule, after_a_skipped_week, 2) == [
        "2026-11-02T09:00", "2026-11-16T09:00"]
    assert when.start == local(2026, 10, 19, 9)
    assert when.start.astimezone(UTC) == when.rule.at
    assert when.rule.at + timedelta(days=14) == local(2026, 11, 2, 9)
