"""The duty calendar read out of plan text: both real plans against a list written by hand from
reading them, unseen wordings, the built-in 三会一课 cadence and period arithmetic."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from real_plans import PLANS, needs_real_plans

from content.duties import (
    builtin_duties,
    due_date,
    duty_calendar,
    extract_duties,
    parse_cadence,
    period_key,
    period_span,
    plan_year,
    previous_period_day,
)
from content.ingest import parse_plan, read_document

PLAN_2022_A = PLANS / "000_9744bd6702739719.txt"
PLAN_2022_B = PLANS / "001_fca248cf79800dd9.txt"

# Written by hand from reading the plans: (words of the duty's title, period, least times,
# one audience it names). Every periodic duty they state, and nothing else.
EXPECTED_A = [
    ("研究意识形态工作", "unspecified", 1, "党委"),  # 4. 定期研究意识形态工作
    ("向上级汇报意识形态工作", "half-year", 1, "党委"),  # 4. 每半年向上级汇报一次
    ("组织中心组成员集中学习研讨", "month", 1, "中心组"),  # 7. 每月定期组织
    ("参加集中轮训", "year", 1, "支部书记"),  # 13. 每年至少参加1次集中轮训
    ("完成任职培训", "once", 1, "党务工作者"),  # 13. 新任党务工作者半年内
    ("参加集中培训", "once", 1, "预备党员"),  # 13. 预备期内和转正后1年内
    ("作党建工作情况报告", "year", 1, "党委"),  # 17. 每年至少…作1次
    ("向公司党委专题汇报意识形态工作", "half-year", 1, "党委"),  # 17. 每半年…1次
    ("研究精神文明建设和企业文化建设工作", "half-year", 1, "党委"),  # 17. 每半年至少…1次
    ("向公司党委进行述职", "year", 1, "主要负责人"),  # 17. 每年…进行述职
    ("述职考核评议", "year", 1, "主要负责人"),  # 17. 每年组织1次…述职考核评议
    ("一岗双责", "half-year", 1, "班子成员"),  # 17. 委员每半年…汇报1次
    ("听取分管部门党建工作汇报", "half-year", 1, "班子成员"),  # 17. 每半年至少听取1次
    ("为分管部门讲党课", "year", 1, "班子成员"),  # 17. 每年至少为分管部门讲1次党课
    ("到联系点检查指导工作", "year", 2, "班子成员"),  # 17. 每年…不少于2次
    ("讲党课", "year", 1, "班子成员"),  # 17. …并开展谈心谈话，至少讲1次党课
    ("反腐败工作的党委会议", "year", 2, "党委"),  # 25. 每年…党委会议不少于2次
    ("听取纪委的工作汇报", "half-year", 1, "主要负责人"),  # 25. 每半年听取一次
    ("讲廉政党课", "year", 1, "主要负责人"),  # 26. 每年至少讲一次廉政党课
    ("廉政文化建设主题活动", "year", 1, "党委"),  # 26. 组织1-2次（年度计划）
    ("确定一个宣传主题", "month", 1, "党委"),  # 29. 每月确定一个宣传主题
    ("专题研究统战、工会、团青工作", "half-year", 1, "党委"),  # 31. 每半年至少…1次
    ("集团公司听取专题汇报", "year", 1, "党委"),  # 31. 集团公司每年听取一次
]
EXPECTED_B = [
    ("组织中心组成员集中学习研讨", "unspecified", 1, "中心组"),  # 一.1 定期组织
    ("分析形式主义、官僚主义的工作机制", "unspecified", 1, "党委"),  # 五.1 建立定期分析…
    ("召开整治整改推进会", "unspecified", 1, "党委"),  # 五.2 定期召开
]


def _duties(path: Path) -> list:
    return extract_duties(parse_plan(path.name, read_document(path)))


def _check(duties: list, expected: list[tuple[str, str, int, str]], text: str) -> None:
    unmatched = list(duties)
    for words, period, times, audience in expected:
        found = [d for d in unmatched if d.title.endswith(words) or words in d.title]
        assert found, f"no duty titled like {words!r}; got {[d.title for d in unmatched]}"
        duty = found[0] if len(found) == 1 else min(found, key=lambda d: len(d.title))
        assert (duty.period, duty.times) == (period, times), (words, duty)
        assert audience in duty.audience.split("、"), (words, duty.audience)
        assert duty.source.quote in text.replace("\n", ""), duty.source.quote
        assert duty.source.section, duty
        unmatched.remove(duty)
    assert not unmatched, f"duties the hand-written list does not have: {unmatched}"


@needs_real_plans
def test_every_periodic_duty_of_the_first_real_plan() -> None:
    """Plan 000 yields exactly the 23 duties read by hand, each with period, count and quote."""
    _check(_duties(PLAN_2022_A), EXPECTED_A, PLAN_2022_A.read_text(encoding="utf-8"))


@needs_real_plans
def test_every_periodic_duty_of_the_second_real_plan() -> None:
    """Plan 001 states only 定期 duties (no numbers); its '26次调研' is a count, not a duty."""
    duties = _duties(PLAN_2022_B)
    _check(duties, EXPECTED_B, PLAN_2022_B.read_text(encoding="utf-8"))
    assert not any("调研嘉兴" in d.title for d in duties)


@needs_real_plans
def test_quotes_sections_and_ids() -> None:
    """A duty quotes its sentence in full and names its section; ids are stable and unique."""
    duties = _duties(PLAN_2022_A)
    report = next(d for d in duties if "联系点检查指导" in d.title)
    assert report.source.quote.startswith("所属各企业党委（支部）委员每半年向党委汇报1次")
    assert report.source.quote.endswith("至少讲1次党课")
    assert report.source.section.endswith("17.严格落实党建工作责任制")
    assert len({d.id for d in duties}) == len(duties)
    assert [d.id for d in _duties(PLAN_2022_A)] == [d.id for d in duties]


@pytest.mark.parametrize(
    ("sentence", "title", "period", "times", "window"),
    [
        ("支部党员大会一季度一次，支部委员会每月召开一次。", "支部党员大会", "quarter", 1, None),
        ("纪委书记隔月向党委书记汇报一次监督执纪工作情况。", "向党委书记汇报监督执纪工作情况",
         "two-months", 1, None),
        ("党委会原则上每两周召开一次，遇有重要情况可随时召开。", "召开党委会", "month", 2, None),
        ("开展政治监督专项检查，上半年和下半年各一次。", "开展政治监督专项检查", "half-year", 1,
         None),
        ("事项清单每年第四季度修订一次，经党委会审议后印发执行。", "修订", "year", 1, (10, 12)),
        ("集团党委组织部逐月通报各支部学习情况。", "通报各支部学习情况", "month", 1, None),
        ("集团微信公众号每周更新不少于3次。", "更新集团微信公众号", "week", 3, None),
        ("中心组集中学习每年不少于12次，其中专题研讨不少于4次。", "中心组集中学习", "year", 12, None),
        ("纪检部门定期对重点领域开展专项检查，每年不少于2次。", "开展专项检查", "year", 2, None),
        ("每年1月底前，各单位党组织向集团党委书面报告党建工作情况。", "书面报告党建工作情况",
         "year", 1, (1, 1)),
        ("全年宣讲不少于30场，鼓励各支部用身边人讲身边事。", "宣讲", "year", 30, None),
        ("新任党支部书记在任职3个月内完成岗位培训。", "完成岗位培训", "once", 1, None),
        ("集团党委每两年开展一次党建品牌评选。", "党建品牌评选", "unspecified", 1, None),
        ("团委一年两次组织青年座谈会。", "组织青年座谈会", "year", 2, None),
    ],
)
def test_unseen_wordings(sentence: str, title: str, period: str, times: int,
                         window: tuple[int, int] | None) -> None:
    """The rules read the language of plans, not these two: each wording yields its duty."""
    duties = extract_duties(parse_plan("new.txt", f"一、工作要求\n1.测试条目。{sentence}"))
    duty = duties[0]
    assert title in duty.title
    assert (duty.period, duty.times, duty.window) == (period, times, window)
    assert duty.source.quote in sentence


@pytest.mark.parametrize(
    "sentence",
    [
        "同一事项原则上每年只检查一次，切实减轻基层负担。",  # a cap, not a duty
        "主题党日活动方案应提前一周报所属党委备案。",  # 提前 is a lead time
        "网络舆情实行逐日监测，重大舆情2小时内报告。",  # daily watching, hours
        "习近平总书记26次调研嘉兴。",  # a count of past events
        "每次研讨确定2至3名成员作重点发言。",  # each time, not a period
        "严格按期换届，延期时间一般不超过1年。",  # 按期 = on schedule
    ],
)
def test_sentences_that_are_not_duties(sentence: str) -> None:
    """Counts, caps, lead times and hours do not become duties."""
    assert extract_duties(parse_plan("new.txt", f"一、工作要求\n1.测试条目。{sentence}")) == []


def test_shipped_sample_plan_yields_its_own_calendar() -> None:
    """The plan shipped with the package (2026, worded differently) gets its own calendar."""
    sample = Path(__file__).resolve().parents[2] / "content" / "plans"
    plans = [parse_plan(p.name, read_document(p)) for p in sorted(sample.glob("*.txt"))]
    if not plans:
        pytest.skip("no sample plan shipped")
    duties = [d for plan in plans for d in extract_duties(plan)]
    assert len(duties) >= 40
    periods = {d.period for d in duties}
    assert {"week", "month", "two-months", "quarter", "half-year", "year", "once"} <= periods


def test_builtin_cadence() -> None:
    """三会一课: 支委会 and 党小组会 monthly, 党员大会 and 党课 quarterly, 主题党日 monthly."""
    cadence = {d.title: (d.period, d.times, d.audience) for d in builtin_duties()}
    assert cadence == {
        "召开支部委员会会议": ("month", 1, "支部"),
        "召开党小组会": ("month", 1, "支部"),
        "召开党员大会": ("quarter", 1, "支部"),
        "安排党课": ("quarter", 1, "支部"),
        "开展主题党日": ("month", 1, "支部"),
    }


@needs_real_plans
def test_the_calendar_is_the_builtin_cadence_and_the_plans_duties_each_once() -> None:
    """Plan A states two duties twice (意识形态 reporting every half-year, in items 4 and 17; a
    班子成员's yearly 党课, twice in item 17): each is one duty quoting both sentences."""
    calendar = duty_calendar([parse_plan(PLAN_2022_A.name, read_document(PLAN_2022_A))])
    assert len(calendar) == 5 + len(EXPECTED_A) - 2
    reporting = [d for d in calendar if d.kind == "意识形态" and d.period == "half-year"]
    assert [d.title for d in reporting] == ["向上级汇报意识形态工作"]
    assert "向公司党委专题汇报" in reporting[0].also[0].quote
    lessons = [d for d in calendar if d.kind == "党课" and d.audience == "班子成员"]
    assert len(lessons) == 1 and len(lessons[0].also) == 1
    assert len({d.id for d in calendar}) == len(calendar)


def test_the_same_duty_from_two_sentences_is_one_and_different_ones_stay() -> None:
    """The built-in 支委会 cadence and a plan's own sentence about it are one duty (the built-in
    id, the plan's id kept as a former one); two reports of different things stay two."""
    plan = parse_plan("p.txt", "2026年工作要点\n一、组织建设\n1.严格组织生活。党支部每月召开支部委员会会议1次。"
                      "委员每半年向党委汇报履行一岗双责情况1次，班子成员每半年至少听取1次分管部门党建工作汇报。\n")
    own = extract_duties(plan)
    calendar = duty_calendar([plan])
    meeting = next(d for d in calendar if d.kind == "支委会")
    assert meeting.id == builtin_duties()[0].id
    assert own[0].id in meeting.former_ids and "每月召开支部委员会会议" in meeting.also[0].quote
    assert [d.kind for d in calendar].count("支委会") == 1
    assert [d.kind for d in calendar].count("汇报") == 2


PLAN_TEXT = ("2026年党建工作要点\n一、组织建设\n1.严格组织生活。党支部每月召开支部委员会会议1次，"
             "每季度召开党员大会1次。\n2.加强宣传。每月确定一个宣传主题。\n")


@pytest.mark.parametrize("edited", [
    # white space and wording elsewhere in the sentence
    PLAN_TEXT.replace("党支部每月召开支部委员会会议1次", "党支部  原则上每月召开一次支部委员会会议"),
    # a heading reworded, another item's sentence edited
    PLAN_TEXT.replace("严格组织生活", "严肃党内政治生活").replace("确定一个宣传主题", "确定1个宣传主题并通报"),
])
def test_ids_survive_edits_that_leave_the_duty_as_it_was(edited: str) -> None:
    before = {(d.kind, d.period): d.id for d in extract_duties(parse_plan("p.txt", PLAN_TEXT))}
    after = {(d.kind, d.period): d.id for d in extract_duties(parse_plan("p.txt", edited))}
    assert after == before
    assert len(before) == 3


def test_an_edit_that_changes_the_duty_changes_its_id() -> None:
    """Another period, or the duty in another document, is another duty."""
    before = {d.kind: d.id for d in extract_duties(parse_plan("p.txt", PLAN_TEXT))}
    quarterly = PLAN_TEXT.replace("每月召开支部委员会会议", "每季度召开支部委员会会议")
    after = {d.kind: d.id for d in extract_duties(parse_plan("p.txt", quarterly))}
    assert after["支委会"] != before["支委会"] and after["宣传"] == before["宣传"]
    elsewhere = {d.kind: d.id for d in extract_duties(parse_plan("q.txt", PLAN_TEXT))}
    assert elsewhere["支委会"] != before["支委会"]


@pytest.mark.parametrize(("title", "text", "year"), [
    ("2022年党建工作要点", "一、…", 2022),
    ("000_9744bd6702739719", "2022年是党带领人民踏上新的百年征程的第一年", 2022),
    ("党建工作要点", "一、加强组织建设", None),
])
def test_a_plan_s_year(title: str, text: str, year: int | None) -> None:
    assert plan_year(parse_plan(f"{title}.txt", text, title=title)) == year


@needs_real_plans
def test_to_json_matches_the_design_contract() -> None:
    """`dangjian duties --json` objects carry exactly the DESIGN.md fields."""
    duty = next(d for d in _duties(PLAN_2022_A) if "联系点检查指导" in d.title)
    item = duty.to_json(date(2026, 11, 20))
    assert set(item) == {"id", "title", "period", "times", "audience", "next_due", "source"}
    assert set(item["source"]) == {"doc", "section", "quote"}
    assert item["next_due"] == "2026-12-31"
    assert item["times"] == 2


@pytest.mark.parametrize(
    ("period", "day", "span", "key"),
    [
        ("week", date(2026, 12, 31), (date(2026, 12, 28), date(2027, 1, 3)), "2026-W53"),
        ("month", date(2028, 2, 10), (date(2028, 2, 1), date(2028, 2, 29)), "2028-02"),
        ("month", date(2027, 2, 10), (date(2027, 2, 1), date(2027, 2, 28)), "2027-02"),
        ("two-months", date(2026, 12, 1), (date(2026, 11, 1), date(2026, 12, 31)), "2026-B6"),
        ("quarter", date(2026, 11, 20), (date(2026, 10, 1), date(2026, 12, 31)), "2026-Q4"),
        ("quarter", date(2026, 5, 1), (date(2026, 4, 1), date(2026, 6, 30)), "2026-Q2"),
        ("half-year", date(2026, 6, 30), (date(2026, 1, 1), date(2026, 6, 30)), "2026-H1"),
        ("year", date(2026, 12, 31), (date(2026, 1, 1), date(2026, 12, 31)), "2026"),
    ],
)
def test_period_arithmetic(period: str, day: date, span: tuple[date, date], key: str) -> None:
    """Spans and keys at month ends, leap years, quarter ends and the turn of the year."""
    assert period_span(period, day) == span
    assert period_key(period, day) == key
    assert due_date(period, day) == span[1]


def test_previous_period_and_windows() -> None:
    """The period before 2027-01 is 2026-12; a 第四季度 duty is due by 12-31."""
    assert previous_period_day("month", date(2027, 1, 5)) == date(2026, 12, 31)
    assert due_date("year", date(2026, 3, 1), (1, 1)) == date(2026, 1, 31)
    assert due_date("once", date(2026, 3, 1)) is None


@pytest.mark.parametrize(
    ("text", "cadence"),
    [("每季度2次", ("quarter", 2)), ("每月", ("month", 1)), ("每两周一次", ("month", 2)),
     ("每年至少3次", ("year", 3)), ("隔月一次", ("two-months", 1)), ("定期", None),
     ("随便", None)],
)
def test_parse_cadence(text: str, cadence: tuple[str, int] | None) -> None:
    """A secretary's cadence is read by the plan rules; vague ones are refused."""
    assert parse_cadence(text) == cadence
