"""Retrieval over a small plan: the item that answers, its sentence, parts, abstention."""

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
    hits = kb.search(question, 3)
    assert hits, f"abstained on {question}"
    assert hits[0].unit.path.endswith(heading)


def test_a_frequency_question_highlights_the_sentence_with_the_frequency(kb: KnowledgeBase):
    hit = kb.search("中心组多久学习一次", 1)[0]
    assert "每月" in hit.sentence


def test_citation_names_document_and_section(kb: KnowledgeBase):
    hit = kb.search("廉政党课每年讲几次", 1)[0]
    assert hit.unit.source == "《2026年党建工作要点》 二、实施“清风工程”，加强党风廉政建设 › 3.讲好廉政党课"


@pytest.mark.parametrize("question", ["清风工程主要干啥？", "第二部分主要写了哪些方面"])
def test_questions_about_a_part_get_its_heading_and_item_titles(kb: KnowledgeBase,
                                                                question: str):
    hit = kb.search(question, 3)[0]
    assert hit.unit.kind == "part"
    assert hit.text.splitlines() == [
        "二、实施“清风工程”，加强党风廉政建设", "3.讲好廉政党课", "4.规范领导干部社交圈",
        "5.开展职工互助"]


def test_a_programme_named_only_in_an_item_is_not_taken_for_a_part(kb: KnowledgeBase):
    hit = kb.search("劳模创新工作室是干什么的", 1)[0]
    assert hit.unit.kind == "item" and "劳模创新工作室" in hit.text


@pytest.mark.parametrize("question", ["加班费怎么算，周末加班给几倍？", "住房公积金缴存比例是多少",
                                      "？？？", "hello world"])
def test_questions_the_plan_does_not_cover_are_abstained(kb: KnowledgeBase, question: str):
    assert kb.search(question, 3) == []


def test_an_empty_knowledge_base_abstains(tokenizer: Tokenizer):
    assert KnowledgeBase([], tokenizer).search("三会一课", 3) == []


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
    hit = kb.search("作风督查多久开展一次", 1)[0]
    assert hit.source.endswith("8.加强作风建设 › 二是每季度开展一次作风督查")
    assert hit.unit.kind == "item" and hit.text.startswith("8.加强作风建设")
