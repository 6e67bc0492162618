"""The duty calendar: recurring duties read out of plan text by rules over its sentences.

A plan states its duties as clauses that carry a frequency (每年/每半年/每季度/每月/每周,
一季度一次, 隔月, 原则上每两周, 上半年和下半年各一次, 每年第四季度, 逐月, 定期, 半年内…) and often a
least count (至少/不少于 N 次). Each such clause becomes a `Duty` quoting the plan's own sentence.
The rules describe the language of such plans, so an unseen plan yields its own calendar.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta

import cn2an

from content.ingest import ParsedPlan, Section, marker_of, parse_plan

PERIOD_NAMES = {
    "week": "每周", "month": "每月", "two-months": "每两个月", "quarter": "每季度",
    "half-year": "每半年", "year": "每年", "once": "一次性", "unspecified": "定期",
}
RECURRING = ("week", "month", "two-months", "quarter", "half-year", "year")

NUM = r"(?:\d{1,4}|[一二两三四五六七八九十百零〇]+)"
SMALL_NUM = r"(?:[1-9]\d?|[一二两三四五六七八九十]+|半)"
TIMES_UNITS = "次场期回轮遍"
COUNT_UNITS = TIMES_UNITS + "篇项名个支"
QUALIFIERS = "至少|不少于|不低于|最少|不得少于"
COUNT_VERBS = (
    "组织|开展|召开|举办|举行|讲|上|参加|听取|汇报|报告|研究|检查|进行|安排|修订|评选|评定|出版|更新"
)
# A cap ("每年只检查一次", "不超过2次") limits work instead of asking for it.
CAP = re.compile(r"只|仅|最多|不超过|不得超过|不多于")
CLAUSE_SPLIT = re.compile(r"[，,：:]")
UNIT_END = re.compile(r"(?<=[；;])|(?<=[。！？!?])")
SENTENCE_END = "。！？!?"
MONTH_DETAIL = (
    rf"(?:的)?(?:第{NUM}个?(?:周|星期)的?(?:周[一二三四五六日天1-7])?|最后一[个天](?:工作日|周[一二三四五六日天])?"
    rf"|{NUM}[日号]前?|[底末初]前?)?"
)
FILLER = re.compile(r"原则上|一般|定期")
LEADING = re.compile(r"^(?:并|要|应当?|须|必须|将|均|还要?|各|其中|所属各?(?:企业|单位)?|各级)+")
TITLE_MAX = 40
TITLE_MIN = 3
TRAILING = re.compile(r"(?:在|于)$")
VERBS = re.compile(r"要|应|须|明确|开展|组织|进行|建立|实施|落实|安排|研究|召开|举办|参加|制定")
SUBJECT_HEAD = 2
ORG_PREFIX = re.compile(r"^(?:所属各?|集团|公司|各级|各|每个|每名|新任|全体|企业|单位)+")
PREPOSITION = re.compile(r"^(?:对|向|为|在|围绕|按照|结合|通过|把|将|以)")
DEFAULT_AUDIENCE = "党委"

OTHER_KIND = "其他"
DUTY_KINDS: list[tuple[str, re.Pattern[str]]] = [  # what a duty is, most specific first
    ("支部党员大会", re.compile(r"党员大会")),
    ("支委会", re.compile(r"支部委员会(?!委员)|支委会")),
    ("党小组会", re.compile(r"党小组")),
    ("组织生活会", re.compile(r"组织生活会")),
    ("主题党日", re.compile(r"主题党日")),
    ("廉政党课", re.compile(r"廉政党课")),
    ("党课", re.compile(r"党课")),
    ("中心组学习", re.compile(r"中心组")),
    ("意识形态", re.compile(r"意识形态")),
    ("述职", re.compile(r"述职")),
    ("党风廉政", re.compile(r"党风廉政|反腐败|廉政|廉洁")),
    ("培训", re.compile(r"培训|轮训")),
    ("汇报", re.compile(r"汇报|报告")),
    ("检查", re.compile(r"检查|督查|排查|巡察")),
    ("调研", re.compile(r"调研|联系点")),
    ("研究", re.compile(r"研究|研讨|研判")),
    ("评选", re.compile(r"评选|评定|表彰")),
    ("宣传", re.compile(r"宣传|宣讲|刊物|公众号|稿件|通讯员")),
    ("会议", re.compile(r"会议|座谈会|推进会|大会|党委会|职代会")),
    ("学习", re.compile(r"学习")),
    ("活动", re.compile(r"活动")),
]
SAME_TITLE = 0.5
"""Share of the shorter title's character pairs two statements of one duty have in common."""
PLAN_YEAR = re.compile(r"(20\d{2})\s*年")


def duty_kind(text: str) -> str:
    """What kind of duty a title names (支委会, 党课, 意识形态, 汇报…), else 其他."""
    return next((kind for kind, pattern in DUTY_KINDS if pattern.search(text)), OTHER_KIND)


def plan_year(plan: ParsedPlan) -> int | None:
    """The year a plan is for: named in its title, else at the start of its text."""
    found = PLAN_YEAR.search(plan.title) or PLAN_YEAR.search(plan.text[:300])
    return int(found.group(1)) if found else None


BUILTIN_NAME = "三会一课基本制度（内置）"
BUILTIN_TEXT = """三会一课基本制度（内置）
一、“三会一课”和主题党日
支部委员会会议一般每月召开1次。
党小组会一般每月召开1次。
党员大会一般每季度召开1次。
党课一般每季度至少安排1次。
主题党日每月开展1次。
"""


@dataclass(frozen=True)
class Source:
    doc: str
    section: str
    quote: str


@dataclass(frozen=True)
class Duty:
    """One recurring duty: what, how often (least `times` per `period`), who, and where it is
    written; `also` are other sentences that state the same duty, `former_ids` the ids it had
    before (ids were once a hash of the sentence; a duty merged into this one)."""

    id: str
    title: str
    period: str
    times: int
    audience: str
    source: Source
    window: tuple[int, int] | None = None  # months of the year it falls in (每年第四季度 -> (10, 12))
    kind: str = OTHER_KIND
    also: tuple[Source, ...] = ()
    former_ids: tuple[str, ...] = ()

    def due(self, today: date) -> date | None:
        """The deadline of the period `today` falls in (None when the plan sets no period)."""
        return due_date(self.period, today, self.window)

    def to_json(self, today: date, next_due: date | None = None) -> dict[str, object]:
        due = next_due if next_due is not None else self.due(today)
        return {
            "id": self.id,
            "title": self.title,
            "period": self.period,
            "times": self.times,
            "audience": self.audience,
            "next_due": due.isoformat() if due else None,
            "source": {"doc": self.source.doc, "section": self.source.section,
                       "quote": self.source.quote},
        }

    @property
    def cadence(self) -> str:
        """'每季度至少1次' and the like, for people."""
        if self.period in ("once", "unspecified"):
            return PERIOD_NAMES[self.period]
        window = f"（{_window_text(self.window)}）" if self.window else ""
        return f"{PERIOD_NAMES[self.period]}{window}至少{self.times}次"

    def with_cadence(self, period: str, times: int) -> Duty:
        return replace(self, period=period, times=times, window=None)


# --- periods -------------------------------------------------------------------------------

def period_span(period: str, day: date) -> tuple[date, date] | None:
    """First and last day of the recurring period that contains `day`."""
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    months = {"month": 1, "two-months": 2, "quarter": 3, "half-year": 6, "year": 12}.get(period)
    if months is None:
        return None
    first = (day.month - 1) // months * months + 1
    last = first + months - 1
    return date(day.year, first, 1), date(day.year, last, calendar.monthrange(day.year, last)[1])


def due_date(period: str, day: date, window: tuple[int, int] | None = None) -> date | None:
    """The deadline for the period containing `day`: its last day, or the window's last day."""
    span = period_span(period, day)
    if span is None:
        return None
    if window and period == "year":
        end_month = window[1]
        return date(day.year, end_month, calendar.monthrange(day.year, end_month)[1])
    return span[1]


def period_key(period: str, day: date) -> str:
    """A label for the period `day` is in ('2026-11', '2026-Q4', '2026-W47'…), used to count completions."""
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "two-months":
        return f"{day.year}-B{(day.month - 1) // 2 + 1}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if period == "half-year":
        return f"{day.year}-H{1 if day.month <= 6 else 2}"
    if period == "year":
        return str(day.year)
    return period


def previous_period_day(period: str, day: date) -> date | None:
    """A day in the period before the one containing `day`."""
    span = period_span(period, day)
    return span[0] - timedelta(days=1) if span else None


def next_period_day(period: str, day: date) -> date | None:
    span = period_span(period, day)
    return span[1] + timedelta(days=1) if span else None


def _window_text(window: tuple[int, int] | None) -> str:
    if not window:
        return ""
    quarters = {(1, 3): "第一季度", (4, 6): "第二季度", (7, 9): "第三季度", (10, 12): "第四季度",
                (1, 6): "上半年", (7, 12): "下半年"}
    if window in quarters:
        return quarters[window]
    start, end = window
    return f"{start}月" if start == end else f"{start}—{end}月"


# --- frequencies -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Frequency:
    period: str
    start: int
    end: int
    multiplier: int = 1
    window: tuple[int, int] | None = None

    @property
    def concrete(self) -> bool:
        return self.period != "unspecified"


def _number(text: str) -> int:
    return int(cn2an.cn2an(text, "smart")) if not text.isdigit() else int(text)


def _quarter_window(match: re.Match[str]) -> tuple[int, int]:
    quarter = _number(match.group(1))
    return 3 * quarter - 2, 3 * quarter


def _month_window(match: re.Match[str]) -> tuple[int, int] | None:
    month = _number(match.group(1))
    return (month, month) if 1 <= month <= 12 else None


_EDGES = {"年初": (1, 1), "年中": (6, 6), "年底": (12, 12), "年末": (12, 12), "年终": (12, 12)}
_COUNT_AHEAD = rf"(?=(?:{QUALIFIERS})?{NUM}[{TIMES_UNITS}])"

# (pattern, period, multiplier, window builder); tried at every position, earliest match wins,
# ties go to the rule listed first.
_RULES: list[tuple[re.Pattern[str], str, int, object]] = [
    (re.compile(r"上半年(?:和|与|及|、)下半年各"), "half-year", 1, None),
    (re.compile(r"(?:于|在)?每年(?:的)?第([一二三四1-4])季度"), "year", 1, _quarter_window),
    (re.compile(rf"(?:于|在)?每年(?:的)?({NUM})月份?(?:底|末|初|中旬|上旬|下旬)?(?:前|内|中)?"),
     "year", 1, _month_window),
    (re.compile(r"(?:于|在)?每年(?:的)?(上|下)半年"), "year", 1,
     lambda m: (1, 6) if m.group(1) == "上" else (7, 12)),
    (re.compile(r"(?:于|在)?每年(?:的)?(年初|年中|年底|年末|年终)"), "year", 1,
     lambda m: _EDGES[m.group(1)]),
    (re.compile(r"每隔?(?:两|二|2|三|3|四|4|五|5)年"), "unspecified", 1, None),
    (re.compile(rf"每个?半年度?|半年{_COUNT_AHEAD}|每(?:六|6)个月"), "half-year", 1, None),
    (re.compile(rf"每(?:一)?个?季度?|逐季度?|按季度?|每(?:三|3)个月|一个?季度{_COUNT_AHEAD}"
                r"(?:末|初)?"), "quarter", 1, None),
    (re.compile(r"隔月|每(?:两|二|2)个?月|双月"), "two-months", 1, None),
    (re.compile(r"每隔?(?:两|二|2)(?:周|星期)|隔周|双周|每半个?月"), "month", 2, None),
    (re.compile(rf"(?:每(?:一)?个?月|逐月|按月|月月|一个?月{_COUNT_AHEAD}){MONTH_DETAIL}"),
     "month", 1, None),
    (re.compile(rf"每(?:一)?个?(?:周|星期|礼拜)|逐周|按周|一(?:周|星期){_COUNT_AHEAD}"), "week", 1, None),
    (re.compile(rf"每(?:一)?个?年度?|逐年|一年{_COUNT_AHEAD}"), "year", 1, None),
    (re.compile(rf"(?<!提前)(?<!\d){SMALL_NUM}个?(?:年|月|周|星期|天|日|工作日)(?:以)?内"), "once", 1,
     None),
    (re.compile(r"(?<!不)定期"), "unspecified", 1, None),
]
_YEAR_WITH_COUNT = re.compile(r"年内|全年|年度内")
_COUNT = re.compile(
    rf"(?:(?P<q>{QUALIFIERS})(?P<gap>[^，。；0-9一二两三四五六七八九十]{{0,12}}?))?"
    rf"(?P<n>{NUM})(?:\s*[-－—~～至到]\s*(?P<m>{NUM}))?\s*(?P<u>[{COUNT_UNITS}])(?:以上)?"
)


@dataclass(frozen=True)
class _Count:
    times: int
    spans: tuple[tuple[int, int], ...]  # what to cut from the title
    qualified: bool


def _find_frequency(clause: str) -> _Frequency | None:
    """The clause's frequency: a concrete one if any (earliest), else 定期."""
    found: list[tuple[int, int, _Frequency]] = []
    for order, (pattern, period, multiplier, window_of) in enumerate(_RULES):
        for match in pattern.finditer(clause):
            window = window_of(match) if callable(window_of) else None
            found.append((match.start(), order, _Frequency(
                period, match.start(), match.end(), multiplier, window)))
            break
    if not any(f.concrete for _, _, f in found):
        year = _YEAR_WITH_COUNT.search(clause)
        if year and _find_count(clause):
            found.append((year.start(), -1, _Frequency("year", year.start(), year.end())))
    if not found:
        return None
    concrete = [item for item in found if item[2].concrete]
    return min(concrete or found, key=lambda item: (item[0], item[1]))[2]


def _find_count(clause: str) -> _Count | None:
    for match in _COUNT.finditer(clause):
        unit, qualified = match.group("u"), match.group("q") is not None
        before = clause[: match.start("n")]
        verb_led = bool(re.search(rf"(?:{COUNT_VERBS})$|各$", before))
        if unit not in TIMES_UNITS and not qualified:
            continue
        times = _number(match.group("n")) if unit in TIMES_UNITS else 1
        spans = [(match.start("n"), match.end())]
        if qualified:
            spans.append((match.start("q"), match.end("q")))
        return _Count(max(times, 1), tuple(spans), qualified or verb_led)
    return None


# --- audience --------------------------------------------------------------------------------

_AUDIENCE: list[tuple[str, re.Pattern[str]]] = [
    ("中心组", re.compile(r"中心组")),
    ("支部", re.compile(r"党员大会|党小组会?|支部委员会(?:会议)?|主题党日")),
    ("党委", re.compile(r"党委会|职代会")),
    ("纪委", re.compile(r"纪委|纪检")),
    ("主要负责人", re.compile(r"党委书记|党组织负责人|主要负责人|主要领导|负责人")),
    ("支部书记", re.compile(r"党?支部书记|党组织书记")),
    ("党务工作者", re.compile(r"党务工作者|党务干部")),
    ("班子成员", re.compile(r"班子成员|党委[（(]支部[）)]委员|党委委员|支部委员|委员(?!会)")),
    ("预备党员", re.compile(r"预备党员")),
    ("党员", re.compile(r"党员")),
    ("党委", re.compile(r"党委[（(]支部[）)]|党委|党组(?!织)")),
    ("支部", re.compile(r"党支部|支部")),
    ("党委", re.compile(r"党组织")),
]


def _audience(text: str, within: int | None = None) -> list[str]:
    """Who a phrase names, in order; each match consumes its words. `within`: only near the start."""
    found: list[tuple[int, str]] = []
    for label, pattern in _AUDIENCE:
        for match in pattern.finditer(text):
            found.append((match.start(), label))
        text = pattern.sub(lambda m: "\0" * len(m.group()), text)
    labels: list[str] = []
    for start, label in sorted(found):
        if label not in labels and (within is None or start <= within):
            labels.append(label)
    return labels


# --- extraction ------------------------------------------------------------------------------

def _cut(text: str, spans: Iterable[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    """text[start:end] without the characters inside `spans`."""
    removed = {index for first, last in spans for index in range(first, last)}
    end = len(text) if end is None else end
    return "".join(ch for index, ch in enumerate(text[start:end], start) if index not in removed)


def _clean(text: str) -> str:
    text = FILLER.sub("", text).strip(" ，,、；;。")
    text = LEADING.sub("", text)
    return text.strip(" ，,、")


def _title(clause: str, frequency: _Frequency | None, count: _Count | None) -> str:
    """The clause without its frequency and count; '党委会…召开' reads '召开党委会'."""
    spans = list(count.spans if count else ())
    if frequency is not None:
        spans.append((frequency.start, frequency.end))
        before = _clean(TRAILING.sub("", _cut(clause, spans, 0, frequency.start)))
        after = _clean(_cut(clause, spans, frequency.end))
    else:
        before, after = "", _clean(_cut(clause, spans))
    nominal = before and not before.startswith("每") and not VERBS.search(before)
    title = _clean(after + before if 0 < len(after) <= 3 and nominal else before + after)
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def _former_id(doc: str, section: str, clause: str) -> str:
    """The id duties had until they were derived from their place and kind: a hash of the
    sentence, which any edit changed (kept so a branch's settings and completions follow)."""
    return hashlib.sha1(f"{doc}\x1f{section}\x1f{clause}".encode()).hexdigest()[:6]


def _duty_id(doc: str, numbering: str, kind: str, period: str, nth: int) -> str:
    """A duty's id from where it is (the document and the numbers of its section, not their
    words) and what it is (its kind and period, the nth such there): an edit of the sentence
    that leaves the duty as it was keeps its id."""
    key = f"{doc}\x1f{numbering}\x1f{kind}\x1f{period}\x1f{nth}"
    return hashlib.sha1(key.encode()).hexdigest()[:6]


def _numbering(section: Section) -> str:
    """The section's place as its numbers: '一、 › 4.' for '一、以政治建设… › 4.落实意识…'."""
    marks = []
    for heading in section.path:
        found = marker_of(heading)
        marks.append(found[1].group().strip() if found else heading)
    return " › ".join(marks)


def _units(text: str) -> Iterator[list[str]]:
    """Sentences (。！？ or a line end) split into their ；-units, each unit a quotable sentence."""
    for line in text.splitlines():
        found = marker_of(line)
        if found:
            line = line[found[1].end():]
        sentence: list[str] = []
        for unit in UNIT_END.split(line):
            unit = unit.strip()
            if not unit:
                continue
            sentence.append(unit)
            if unit[-1] in SENTENCE_END:
                yield sentence
                sentence = []
        if sentence:
            yield sentence


@dataclass
class _Draft:
    clause: str
    quote: str
    frequency: _Frequency
    count: _Count | None
    audience: list[str]

    @property
    def times(self) -> int:
        return (self.count.times if self.count else 1) * self.frequency.multiplier

    context: str = ""  # the clause before, for a title too short to stand alone ("全年宣讲…")

    @property
    def title(self) -> str:
        title = _title(self.clause, self.frequency, self.count)
        if len(title) < TITLE_MIN and self.context:
            return _title(self.context, None, None)
        return title or self.clause[:TITLE_MAX]


def extract_duties(plan: ParsedPlan, default_audience: str = DEFAULT_AUDIENCE) -> list[Duty]:
    """Every clause of the plan that states how often something is to be done, as a duty."""
    duties: list[Duty] = []
    seen: set[str] = set()
    for section in plan.sections:
        if section.level == "clause":  # an enumeration clause repeats its item's text
            continue
        numbering = _numbering(section)
        nth: dict[tuple[str, str], int] = defaultdict(int)
        for draft in _section_drafts(section.text):
            kind, period = duty_kind(draft.title), draft.frequency.period
            nth[kind, period] += 1
            duty_id = _duty_id(plan.name, numbering, kind, period, nth[kind, period])
            while duty_id in seen:
                duty_id = hashlib.sha1(duty_id.encode()).hexdigest()[:6]
            seen.add(duty_id)
            duties.append(Duty(
                id=duty_id,
                title=draft.title,
                period=period,
                times=draft.times,
                audience="、".join(draft.audience or [default_audience]),
                source=Source(plan.title, section.path_text, draft.quote.rstrip("。；;！？!?")),
                window=draft.frequency.window,
                kind=kind,
                former_ids=(_former_id(plan.name, section.path_text, draft.clause),),
            ))
    return duties


def _section_drafts(text: str) -> Iterator[_Draft]:
    for sentence in _units(text):
        yield from _sentence_drafts(sentence)


def _sentence_drafts(sentence: list[str]) -> list[_Draft]:
    """Clauses of one sentence; who acts and the last period carry from clause to clause."""
    drafts: list[_Draft] = []
    subject: list[str] = []
    last_period: _Frequency | None = None
    pending: _Frequency | None = None
    previous: tuple[str, str, _Draft | None] | None = None
    for unit in sentence:
        for clause in (c.strip() for c in CLAUSE_SPLIT.split(unit.rstrip("。；;！？!?"))):
            if not clause:
                continue
            draft = None
            if not CAP.search(clause):
                frequency, count = _find_frequency(clause), _find_count(clause)
                if frequency is None and count and count.qualified:
                    # "至少讲1次党课": the period said earlier, else the plan's own year.
                    frequency = replace(last_period or _Frequency("year", 0, 0), start=0, end=0)
                if frequency is None and pending is not None:
                    frequency, pending = replace(pending, start=0, end=0), None
                subject = _subject(clause, frequency) or subject
                if frequency is not None and frequency.concrete:
                    last_period = frequency
                if frequency is not None and not _title(clause, frequency, count):
                    # "…，每年不少于2次" / "每年1月底前，…": the frequency of a neighbour clause.
                    if not _attach(drafts, previous, frequency, count):
                        pending = frequency
                    previous = (clause, unit, None)
                    continue
                if frequency is not None:
                    audience = subject or [a for a in _audience(clause) if a == "中心组"]
                    context = previous[0] if previous and previous[1] == unit else ""
                    draft = _Draft(clause, unit, frequency, count, list(audience), context)
                    drafts.append(draft)
            previous = (clause, unit, draft)
    return drafts


def _subject(clause: str, frequency: _Frequency | None) -> list[str]:
    """Who acts: named before the frequency, or at the head of a clause without one."""
    if frequency is not None:
        return _audience(clause[: frequency.start])
    if PREPOSITION.match(clause):
        return []
    return _audience(ORG_PREFIX.sub("", clause), within=SUBJECT_HEAD)


def _attach(drafts: list[_Draft], previous: tuple[str, str, _Draft | None] | None,
            frequency: _Frequency, count: _Count | None) -> bool:
    """Give an action-less frequency to the clause before it, if that clause has none (or 定期)."""
    if previous is None:
        return False
    clause, unit, draft = previous
    if draft is not None and draft.frequency.concrete:
        return False
    times = _Count(count.times, (), True) if count else None
    if draft is not None:
        draft.frequency = replace(frequency, start=draft.frequency.start, end=draft.frequency.end)
        draft.count = times
        return True
    at = len(clause)
    drafts.append(_Draft(clause, unit, replace(frequency, start=at, end=at), times,
                         _audience(clause)))
    return True


def builtin_duties() -> list[Duty]:
    """The standard 三会一课 cadence every branch starts from (each branch may adjust it)."""
    plan = parse_plan(f"{BUILTIN_NAME}.txt", BUILTIN_TEXT, title=BUILTIN_NAME)
    return extract_duties(plan, default_audience="支部")


def duty_calendar(plans: Iterable[ParsedPlan]) -> list[Duty]:
    """The built-in cadence followed by every plan's own duties, in document order; a duty two
    sentences state (the same kind, for the same people, as often) is one, quoting both."""
    duties = builtin_duties()
    for plan in plans:
        duties.extend(extract_duties(plan))
    return merge_same(duties)


def _bigrams(text: str) -> set[str]:
    chars = [ch for ch in text if ch.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)} or set(chars)


def same_duty(one: Duty, other: Duty) -> bool:
    """Two sentences state one duty: the same people, kind and period, and titles that share
    most of the shorter one's words (“向上级汇报意识形态工作”, “向公司党委专题汇报意识形态工作”)."""
    if (one.audience, one.kind, one.period) != (other.audience, other.kind, other.period):
        return False
    first, second = _bigrams(one.title), _bigrams(other.title)
    return len(first & second) >= SAME_TITLE * min(len(first), len(second))


def merge_same(duties: Iterable[Duty]) -> list[Duty]:
    """Each duty once: a later statement of a duty already listed is kept as its `also`."""
    merged: list[Duty] = []
    for duty in duties:
        at = next((i for i, first in enumerate(merged) if same_duty(first, duty)), None)
        if at is None:
            merged.append(duty)
            continue
        first = merged[at]
        merged[at] = replace(
            first, times=max(first.times, duty.times), also=(*first.also, duty.source),
            former_ids=(*first.former_ids, duty.id, *duty.former_ids))
    return merged


def parse_cadence(text: str) -> tuple[str, int] | None:
    """'每季度2次', '每两周一次', '每年至少3次' -> (period, times), by the same rules as plans."""
    frequency = _find_frequency(text)
    if frequency is None or frequency.period not in RECURRING:
        return None
    count = _find_count(text)
    return frequency.period, (count.times if count else 1) * frequency.multiplier
