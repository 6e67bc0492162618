"""Time rules: one table of rules with their next fire times (month ends, leap years, quarter
ends, the turn of the year), China's working days and holiday shifts, stored rules, time zones."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from content.timerules import TimeRule, is_workday, working_days_around
from content.when import RuleError, parse_when

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def parse_rule(text: str, now: datetime, zone: ZoneInfo = TZ) -> tuple[TimeRule, str]:
    """/schedule's reading of a rule: the rule and the content after it."""
    when = parse_when(text, now, zone, want="rule")
    assert when is not None and when.rule is not None
    return when.rule, when.rest


def fires(text: str, now: datetime, count: int = 3) -> tuple[TimeRule, str, list[datetime]]:
    rule, content = parse_rule(text, now)
    times, moment = [], now
    for _ in range(count):
        moment = rule.next_after(moment, TZ)
        if moment is None:
            break
        times.append(moment.astimezone(TZ))
    return rule, content, times


FRI = local(2026, 11, 20, 10, 0)  # a Friday morning
NEW_YEAR_EVE = local(2026, 12, 31, 20, 0)

TABLE = [
    # (now, rule text, first fire times in Asia/Shanghai)
    (FRI, "2026-12-01 09:00 开会", [local(2026, 12, 1, 9)]),
    (FRI, "2026年12月1日 9:00 开会", [local(2026, 12, 1, 9)]),
    (FRI, "12月1日上午9点 开会", [local(2026, 12, 1, 9)]),
    (FRI, "明天 15:00 开会", [local(2026, 11, 21, 15)]),
    (FRI, "后天 8点半 开会", [local(2026, 11, 22, 8, 30)]),
    (FRI, "下周一 8:30 开会", [local(2026, 11, 23, 8, 30)]),
    (FRI, "下下周三 开会", [local(2026, 12, 2, 9)]),
    (FRI, "周五下午三点 开会", [local(2026, 11, 20, 15)]),
    (FRI, "周五 9点 开会", [local(2026, 11, 27, 9)]),  # this Friday 9:00 has passed
    (FRI, "星期日晚上8点 开会", [local(2026, 11, 22, 20)]),
    (FRI, "15:00 开会", [local(2026, 11, 20, 15)]),
    (FRI, "每天 08:00 开会", [local(2026, 11, 21, 8), local(2026, 11, 22, 8),
                            local(2026, 11, 23, 8)]),
    (FRI, "每周一 08:30 开会", [local(2026, 11, 23, 8, 30), local(2026, 11, 30, 8, 30),
                             local(2026, 12, 7, 8, 30)]),
    (FRI, "每周二、四 19:00 开会", [local(2026, 11, 24, 19), local(2026, 11, 26, 19),
                               local(2026, 12, 1, 19)]),
    (FRI, "每月15日 09:00 开会", [local(2026, 12, 15, 9), local(2027, 1, 15, 9),
                              local(2027, 2, 15, 9)]),
    (FRI, "每月十五日 开会", [local(2026, 12, 15, 9), local(2027, 1, 15, 9),
                          local(2027, 2, 15, 9)]),
    (FRI, "每月31日 开会", [local(2026, 12, 31, 9), local(2027, 1, 31, 9),
                         local(2027, 3, 31, 9)]),
    (local(2028, 1, 31, 10), "每月最后一天 17:00 开会",
     [local(2028, 1, 31, 17), local(2028, 2, 29, 17), local(2028, 3, 31, 17)]),
    (local(2027, 2, 1), "每月最后一天 17:00 开会",
     [local(2027, 2, 28, 17), local(2027, 3, 31, 17), local(2027, 4, 30, 17)]),
    (FRI, "每月最后一个周五 15:00 主题党日", [local(2026, 11, 27, 15), local(2026, 12, 25, 15),
                                       local(2027, 1, 29, 15)]),
    (FRI, "每月第二个周三 开会", [local(2026, 12, 9, 9), local(2027, 1, 13, 9),
                            local(2027, 2, 10, 9)]),
    (FRI, "每季度末 10:00 报送", [local(2026, 12, 31, 10), local(2027, 3, 31, 10),
                             local(2027, 6, 30, 10)]),
    (FRI, "每季度第一天 报送", [local(2027, 1, 1, 9), local(2027, 4, 1, 9),
                           local(2027, 7, 1, 9)]),
    (FRI, "每年2月29日 报送", [local(2028, 2, 29, 9), local(2032, 2, 29, 9)]),
    (NEW_YEAR_EVE, "明天 09:00 新年", [local(2027, 1, 1, 9)]),
    (NEW_YEAR_EVE, "每天 08:00 早读", [local(2027, 1, 1, 8), local(2027, 1, 2, 8),
                                   local(2027, 1, 3, 8)]),
    (NEW_YEAR_EVE, "每月15日 开会", [local(2027, 1, 15, 9), local(2027, 2, 15, 9)]),
    (NEW_YEAR_EVE, "12月1日 开会", [local(2027, 12, 1, 9)]),
    (NEW_YEAR_EVE, "下周一 开会", [local(2027, 1, 4, 9)]),
    (local(2026, 12, 31, 23, 59), "每季度末 23:59 结账",
     [local(2027, 3, 31, 23, 59), local(2027, 6, 30, 23, 59)]),
]


@pytest.mark.parametrize(("now", "text", "expected"), TABLE,
                         ids=[f"{row[1]}@{row[0]:%m-%d}" for row in TABLE])
def test_rule_table(now: datetime, text: str, expected: list[datetime]) -> None:
    """Each rule fires at the expected local times, and the rest of the text is the content."""
    _, content, times = fires(text, now, len(expected))
    assert times == expected
    assert content and content == text.split()[-1]


def test_workdays_follow_the_official_calendar() -> None:
    """工作日 skips the 2026 National Day holiday (10-01..10-07) and works the make-up Saturday."""
    assert not is_workday(date(2026, 10, 1))
    assert is_workday(date(2026, 10, 10))  # a Saturday made a working day
    _, _, times = fires("工作日 08:30 打卡学习", local(2026, 9, 30, 9), 4)
    assert times == [local(2026, 10, 8, 8, 30), local(2026, 10, 9, 8, 30),
                     local(2026, 10, 10, 8, 30), local(2026, 10, 12, 8, 30)]


def test_workdays_in_a_year_the_package_does_not_know() -> None:
    """2027's arrangement is not published in the package: Monday–Friday minus fixed holidays."""
    rule, _, times = fires("工作日 08:30 学习", NEW_YEAR_EVE, 3)
    assert times == [local(2027, 1, 4, 8, 30), local(2027, 1, 5, 8, 30), local(2027, 1, 6, 8, 30)]
    assert "未公布" in rule.label


def test_holiday_shift_moves_to_the_previous_working_day() -> None:
    """每月1日 with 遇节假日提前: 2026-10-01 (National Day) fires on the last working day before."""
    rule, content, times = fires("每月1日 09:00 遇节假日提前 党费收缴", local(2026, 9, 1, 10), 2)
    assert content == "党费收缴"
    assert rule.shift == "earlier" and "提前" in rule.label
    assert times == [local(2026, 9, 30, 9), local(2026, 10, 30, 9)]  # 11-01 is a Sunday


def test_shifted_rule_never_fires_twice_for_the_same_day() -> None:
    """Two holiday dates moved onto one working day fire once."""
    _, _, times = fires("每天 09:00 遇节假日提前 学习", local(2026, 9, 30, 10), 5)
    assert len(set(times)) == len(times)
    assert all(is_workday(t.date()) for t in times)


def test_once_with_holiday_shift() -> None:
    """A single date on a holiday moves to the working day before it."""
    rule, _, times = fires("2026-10-03 10:00 遇节假日提前 汇报", local(2026, 9, 1), 1)
    assert times == [local(2026, 9, 30, 10)]


def test_utc_is_stored_shanghai_is_shown() -> None:
    """A once rule stores UTC (09:00 Shanghai = 01:00 UTC) and survives the spec round trip."""
    rule, _ = parse_rule("2026-12-01 09:00 开会", FRI)
    assert rule.at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert "2026年12月1日（周二） 09:00" in rule.label
    assert TimeRule.from_spec(rule.to_spec()) == rule
    cron, _ = parse_rule("每天 08:00 早读", FRI)
    assert TimeRule.from_spec(cron.to_spec()) == cron
    assert cron.next_after(FRI.astimezone(UTC), TZ) == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)


def test_other_time_zone() -> None:
    """The rule is read in the configured zone, not the machine's."""
    zone = ZoneInfo("Europe/Berlin")
    rule, _ = parse_rule("每天 08:00 早读", datetime(2026, 11, 20, 12, tzinfo=UTC), zone)
    fire = rule.next_after(datetime(2026, 11, 20, 12, tzinfo=UTC), zone)
    assert fire == datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2027-02-29 09:00 开会", "日期不存在"),
        ("2026-02-30 09:00 开会", "日期不存在"),
        ("今天 08:00 开会", "已经过去"),
        ("2025-01-01 09:00 开会", "已经过去"),
        ("每月32日 开会", "每月32日"),
        ("25:00 开会", "时间不对"),
        ("每天 8:75 开会", "时间不对"),
    ],
)
def test_unparseable_rules_say_why(text: str, reason: str) -> None:
    """Bad rules raise RuleError with a Chinese reason."""
    with pytest.raises(RuleError) as error:
        parse_rule(text, FRI)
    assert reason in str(error.value)


def test_rules_stored_before_postponing_existed_still_move_earlier() -> None:
    """A spec stored with `shift: true` (before 顺延 existed) still moves holidays earlier."""
    rule, _ = parse_rule("每月1日 09:00 遇节假日提前 党费收缴", local(2026, 9, 1, 10))
    spec = {**rule.to_spec(), "shift": True}
    old = TimeRule.from_json(json.dumps(spec))
    assert old == rule
    assert old.next_after(local(2026, 9, 1, 10), TZ) == local(2026, 9, 30, 9)


def test_first_and_last_working_day_of_the_month() -> None:
    """The n-th working day counts China's calendar: 5月6日 after Labour Day, 2月28日 (a make-up
    Saturday) as February's last."""
    _, _, first = fires("每月第一个工作日 9:00 上报", local(2026, 4, 20, 11), 3)
    assert first == [local(2026, 5, 6, 9), local(2026, 6, 1, 9), local(2026, 7, 1, 9)]
    _, _, last = fires("每月最后一个工作日 16:00 月报", local(2026, 1, 31, 11), 2)
    assert last == [local(2026, 2, 28, 16), local(2026, 3, 31, 16)]
    _, _, third = fires("每月第3个工作日 9:00 汇总", local(2026, 9, 30, 11), 1)
    assert third == [local(2026, 10, 10, 9)]  # 10月8日, 9日, then Saturday 10日 (a make-up day)


def test_working_days_around_a_rest_day() -> None:
    """The nearest working days before and after 国庆: 9月30日 and 10月8日."""
    assert working_days_around(date(2026, 10, 3)) == (date(2026, 9, 30), date(2026, 10, 8))


def test_fires_between_lists_missed_times() -> None:
    """The fires skipped during a downtime, oldest first."""
    rule, _ = parse_rule("每天 08:00 早读", FRI)
    missed = rule.fires_between(local(2026, 11, 20, 9).astimezone(UTC),
                                local(2026, 11, 23, 9).astimezone(UTC), TZ)
    assert [m.astimezone(TZ).day for m in missed] == [21, 22, 23]
