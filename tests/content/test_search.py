"""Retrieval over a small plan: the item that answers, its sentence, parts and programmes,
how sure the answer is, and answers limited to some plans."""

from __future__ import annotations

import pytest

from content.ingest import parse_plan
from content.search import MAX_ANSWER_CHARS, KnowledgeBase, split_sentences, trim_around
from content.tokenize import Tokenizer, normalize

PLAN = """2026年党建工作要点
一、实施“领航工程”，加强思想政治建设
1.抓好中心组学习。每月定期组织中心组成员集中学习研讨，全年不少于12次。
2.落实意识形态工作责任制。每半年向公司党委专题汇报1次意识形态工作。
二、实施“清风工程”，加强党风廉政建设
3.讲好廉政党课。党组织书记每年至少讲一次廉政党课。
4.规范领导干部社交圈。引导领导干部纯洁社交圈、管住生活圈、规范工作圈。
5.开展职工互助。组织职工住院医疗互助，帮扶困难职工。
三、实施“聚力工程”，加强人才队伍建设
6.开展“五小”竞赛。深入开展“五小”竞赛，建设劳模创新工作室。
7.深化道德讲堂。深入开展文明单位创建、道德讲堂等活动。
"""


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


@pytest.fixture(scope="module")
def kb(tokenizer: Tokenizer) -> KnowledgeBase:
    return KnowledgeBase([parse_plan("plan.txt", PLAN)], tokenizer)


@pytest.mark.parametrize(
    ("question", "heading"),
    [
        ("意识形态工作多久汇报一次？", "2.落实意识形态工作责任制"),
        ("廉政党课每年讲几次", "3.讲好廉政党课"),
        ("当官的下了班交朋友也要管吗", "4.规范领导干部社交圈"),
        ("同事生大病住院，单位能凑份子帮一把吗", "5.开展职工互助"),
        ("五小竟赛怎么搞", "6.开展“五小”竞赛"),
        ("道德将堂还办吗", "7.深化道德讲堂"),
        ("中心組學習多久一次", "1.抓好中心组学习"),
    ],
)
def test_the_item_that_answers_comes_first(kb: KnowledgeBase, question: str, heading: str):
    found = kb.search(question, 3)
    assert found.confidence != "none", f"abstained on {question}"
    assert found.hits[0].unit.path.endswith(heading)


def test_a_frequency_question_highlights_the_sentence_with_the_frequency(kb: KnowledgeBase):
    hit = kb.search("中心组多久学习一次", 1).hits[0]
    assert "每月" in hit.sentence


def test_citation_names_document_and_section(kb: KnowledgeBase):
    hit = kb.search("廉政党课每年讲几次", 1).hits[0]
    assert hit.unit.source == "《2026年党建工作要点》 二、实施“清风工程”，加强党风廉政建设 › 3.讲好廉政党课"


@pytest.mark.parametrize("question", [
    "清风工程主要干啥？", "第二部分主要写了哪些方面", "清风工程要加强什么建设",
    "清峰工程是干啥的",  # the programme typed with a pinyin keyboard
    "廉政党课归哪个工程",  # which part an item belongs to
])
def test_questions_about_a_part_get_its_heading_and_item_titles(kb: KnowledgeBase,
                                                                question: str):
    hit = kb.search(question, 3).hits[0]
    assert hit.unit.kind == "part"
    assert hit.text.splitlines() == [
        "二、实施“清风工程”，加强党风廉政建设", "3.讲好廉政党课", "4.规范领导干部社交圈",
        "5.开展职工互助"]


def test_a_programme_named_only_in_an_item_is_not_taken_for_a_part(kb: KnowledgeBase):
    hit = kb.search("劳模创新工作室是干什么的", 1).hits[0]
    assert hit.unit.kind == "item" and "劳模创新工作室" in hit.text


def test_a_question_on_a_programme_that_asks_how_often_gets_the_item(kb: KnowledgeBase):
    hit = kb.search("领航工程里中心组多久学习一次", 1).hits[0]
    assert hit.unit.kind == "item" and hit.unit.path.endswith("1.抓好中心组学习")


NUMBERED_PLAN = """2027年党建工作要点
2027年确定为“作风提升年”，坚持“两个一以贯之”，实施“三大行动”。
第一部分 深入实施“铸魂”行动
（一）强化理论武装
1.开展专题读书班。每年举办两期读书班。
第二部分 深入实施“强基”行动
（一）建强支部
2.推进支部标准化。开展支部达标创建。
（二）管好党员
3.严格党员教育。党员每年集中学习不少于32学时。
"""


@pytest.fixture(scope="module")
def two_plans(tokenizer: Tokenizer) -> KnowledgeBase:
    return KnowledgeBase([parse_plan("plan.txt", PLAN), parse_plan("numbered.txt",
                                                                   NUMBERED_PLAN)], tokenizer)


def test_a_part_counted_as_the_plan_numbers_it_comes_from_that_plan(two_plans: KnowledgeBase):
    """Both plans have a second part; the one numbered 第二部分 comes first, in the answer
    that shows both and on its own after it."""
    hits = two_plans.search("第二部分讲什么", 3).hits
    assert hits[0].text.splitlines()[:3] == ["《2027年党建工作要点》第二部分 深入实施“强基”行动",
                                             "（一）建强支部", "（二）管好党员"]
    assert hits[1].text.splitlines() == ["第二部分 深入实施“强基”行动", "（一）建强支部",
                                         "（二）管好党员"]
    assert hits[2].text.startswith("二、实施“清风工程”")


def test_a_programme_of_a_numbered_plan_gets_its_part(two_plans: KnowledgeBase):
    hit = two_plans.search("强基行动是干啥的", 1).hits[0]
    assert hit.unit.kind == "part" and hit.text.startswith("第二部分 深入实施“强基”行动")


@pytest.mark.parametrize(("question", "phrase"), [("几个一以贯之", "“两个一以贯之”"),
                                                  ("今年是作风提升年吗", "“作风提升年”")])
def test_a_name_the_plan_quotes_finds_the_passage_that_says_it(two_plans: KnowledgeBase,
                                                              question: str, phrase: str):
    assert phrase in two_plans.search(question, 1).hits[0].text


def test_numbers_and_frequencies_in_other_words_meet_the_plans(two_plans: KnowledgeBase):
    """一年起码 says 每年至少 / 每年…不少于, 两期 says 2期: general wordings, no lexicon entry."""
    hit = two_plans.search("党员一年起码要学多少学时", 1).hits[0]
    assert "不少于32学时" in hit.sentence


@pytest.mark.parametrize("question", ["每半年向公司党委专题汇报1次意识形态工作",
                                      "党组织书记每年至少讲一次廉政党课"])
def test_a_question_in_the_plans_own_words_is_answered_with_high_confidence(
        kb: KnowledgeBase, question: str):
    assert kb.search(question, 3).confidence == "high"


@pytest.mark.parametrize("question", ["加班费怎么算，周末加班给几倍？", "住房公积金缴存比例是多少",
                                      "食堂几点开饭", "今年年终奖发多少", "？？？", "hello world"])
def test_questions_the_plan_does_not_answer_are_never_answered_with_confidence(
        kb: KnowledgeBase, question: str):
    found = kb.search(question, 3)
    assert found.confidence in ("none", "low")
    if found.confidence == "none":
        assert found.evidence.coverage < 0.5


def test_an_empty_knowledge_base_says_none(tokenizer: Tokenizer):
    found = KnowledgeBase([], tokenizer).search("三会一课", 3)
    assert found.hits == [] and found.confidence == "none"


def test_answers_limited_to_some_plans_come_from_those_only(two_plans: KnowledgeBase):
    """The limit is applied in the ranking: k answers from the visible plan, not the top k of
    all plans filtered afterwards."""
    everywhere = two_plans.search("每年学习党课", 3).hits
    assert [h.unit.plan for h in everywhere] == [0, 0, 1]
    only_second = two_plans.search("每年学习党课", 3, plans={1}).hits
    assert len(only_second) == 3 and {h.unit.plan for h in only_second} == {1}
    assert two_plans.search("廉政党课每年讲几次", 3, plans=set()).confidence == "none"
    hidden_programme = two_plans.search("清风工程主要干啥", 3, plans={1}).hits
    assert all(h.unit.plan == 1 for h in hidden_programme)


def test_long_items_are_trimmed_around_the_answering_sentence():
    sentences = [f"第{n}句讲的是第{n}项普通工作安排，内容较长需要逐项落实到位。" for n in range(40)]
    sentences[25] = "每季度召开一次专题会议研究统战工作。"
    text = "".join(sentences)
    trimmed = trim_around(text, sentences[25])
    assert len(trimmed) <= MAX_ANSWER_CHARS
    assert sentences[25] in trimmed
    assert trimmed.startswith("…") and trimmed.endswith("…")
    assert trim_around("短文本。", "短文本。") == "短文本。"


def test_sentences_split_on_full_stops_and_semicolons():
    assert split_sentences("一是严格程序；二是加强培养。三是跟踪考察！") == [
        "一是严格程序；", "二是加强培养。", "三是跟踪考察！"]


def test_normalisation_folds_width_case_and_traditional_script():
    assert normalize("ＡＢＣ１２３，黨建") == "abc123,党建"


def test_the_citation_names_the_enumeration_clause_that_answers(tokenizer: Tokenizer):
    plan = PLAN + "8.加强作风建设。一是整治形式主义；二是每季度开展一次作风督查；三是严查四风。\n"
    kb = KnowledgeBase([parse_plan("plan.txt", plan)], tokenizer)
    hit = kb.search("作风督查多久开展一次", 1).hits[0]
    assert hit.source.endswith("8.加强作风建设 › 二是每季度开展一次作风督查")
    assert hit.unit.kind == "item" and hit.text.startswith("8.加强作风建设")


@pytest.mark.parametrize("question", ["<script>alert(1)</script>", "第9部分讲什么"])
def test_markup_and_parts_no_plan_has_are_not_answered_with_confidence(kb: KnowledgeBase,
                                                                      question: str):
    """Punctuation is not a content word, and 第九部分 only points at a part this plan lacks."""
    assert kb.search(question, 3).confidence != "high"


def test_latin_letters_and_digits_sound_like_no_chinese_word(kb: KnowledgeBase):
    """They had all had syllable 0, yi's: script and 1234 matched 意义 (yi-yi)."""
    plan = PLAN + "8.深化主题教育。讲清学习的意义。\n"
    words = KnowledgeBase([parse_plan("plan.txt", plan)], kb.tokenizer).parse_query(
        "script 1234").words
    assert "意义" not in words


def test_a_second_answer_from_another_plan_saying_the_same_is_echoed(tokenizer: Tokenizer):
    """Two plans write the same sentence about 廉政党课: the close second echoes the first. The
    second plan's other item, on another topic, echoes nothing."""
    again = PLAN.replace("2026年", "2027年").replace("党组织书记每年至少讲一次廉政党课",
                                                    "各级党组织书记每年至少讲一次廉政党课")
    kb = KnowledgeBase([parse_plan("plan.txt", PLAN), parse_plan("again.txt", again)],
                       tokenizer)
    found = kb.search("党组织书记每年讲几次廉政党课", 2)
    assert {h.unit.plan for h in found.hits} == {0, 1}
    assert found.evidence.echoed > 0.8
    alone = KnowledgeBase([parse_plan("plan.txt", PLAN)], tokenizer)
    assert alone.search("党组织书记每年讲几次廉政党课", 2).evidence.echoed == 0.0


TRAINING = ("8.做好预备党员培训。预备党员在预备期内和转正后按照集团统一部署参加党校集中培训，每年1次。\n"
            "9.培育示范党支部。年内新培育示范党支部10个，给予一定的党建工作经费支持。\n")


@pytest.fixture(scope="module")
def with_training(tokenizer: Tokenizer) -> KnowledgeBase:
    return KnowledgeBase([parse_plan("plan.txt", PLAN + TRAINING)], tokenizer)


def test_an_amount_stated_of_something_else_is_apart_from_what_is_asked(
        with_training: KnowledgeBase):
    """每年1次 is said of the training, far from 预备期: the sentence states a frequency, but
    not how long 预备期 is; 汇报1次意识形态工作 states it beside what is asked."""
    assert with_training.search("预备期一般多长时间？", 3).evidence.intent_apart == 1.0
    assert with_training.search("意识形态工作多久汇报一次？", 3).evidence.intent_apart == 0.0
    assert with_training.search("廉政党课有什么要求", 3).evidence.intent_apart == 0.0  # asks none


def test_a_question_asking_an_amount_in_a_unit_is_not_met_by_a_mere_count(
        with_training: KnowledgeBase):
    """多少钱 wants money: 示范党支部10个 states a number but not how much money; 几个 is met by
    it."""
    assert with_training.search("示范党支部的经费给多少钱", 3).evidence.intent_missed
    assert not with_training.search("年内培育几个示范党支部", 3).evidence.intent_missed


def test_the_heaviest_word_missing_from_the_passage_is_evidence(kb: KnowledgeBase):
    """A question the passage answers holds its heaviest word; an on-topic one it does not
    answer shares the plan's words and lacks its own key words (讲课费, 差额: in no plan)."""
    answered = kb.search("党组织书记每年至少讲一次廉政党课", 3).evidence
    assert answered.heaviest_missing == 0.0
    unanswered = kb.search("廉政党课的讲课费差额怎么补", 3).evidence
    assert unanswered.heaviest_missing == 1.0 and unanswered.coverage > 0.0
