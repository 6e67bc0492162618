"""With several plans in one knowledge base, a question that counts to a part (第三块) or names
a programme goes to the plan the rest of the question points to, not to whichever plan
happens to number its parts the way the question does."""

from __future__ import annotations

import pytest

from content.ingest import parse_plan
from content.search import KnowledgeBase
from content.tokenize import Tokenizer

PLAIN = """2026年党建工作要点
一、实施“领航工程”，加强思想政治建设
1.抓好中心组学习。每月定期组织中心组成员集中学习研讨，全年不少于12次。
二、实施“清风工程”，加强党风廉政建设
2.讲好廉政党课。党组织书记每年至少讲一次廉政党课。
三、实施“聚力工程”，加强人才队伍建设
3.开展“五小”竞赛。深入开展“五小”竞赛，建设劳模创新工作室。
4.深化道德讲堂。深入开展文明单位创建、道德讲堂等活动。
"""

NUMBERED = """2028年党建工作要点
第一部分 深入实施“铸魂”行动
1.开展专题读书班。每年举办两期读书班。
第二部分 深入实施“强基”行动
2.推进支部标准化。开展支部达标创建。
第三部分 深入实施“暖心”行动
3.开展困难帮扶。走访慰问困难党员和困难职工。
4.讲好廉政党课。廉政党课每季度讲1次，廉政党课由书记讲。
"""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([parse_plan("plain.txt", PLAIN), parse_plan("numbered.txt", NUMBERED)],
                         Tokenizer())


def first_heading(kb: KnowledgeBase, question: str) -> str:
    hit = kb.search(question, 3).hits[0]
    assert hit.unit.kind == "part", f"{question} got {hit.unit.path}"
    return hit.text.splitlines()[0]


@pytest.mark.parametrize("question", [
    "第三大块里道德讲堂那些讲了啥",  # the words are in the first plan's third part
    "第三部分讲的劳模创新工作室有哪些内容",  # numbered as the second plan writes it, all the same
    "第三块的“五小”竞赛主要写了哪些方面",  # a name only the first plan quotes
    "2026年要点的第三部分讲什么",  # the year of the first plan
])
def test_a_counted_part_comes_from_the_plan_the_rest_of_the_question_points_to(
        kb: KnowledgeBase, question: str):
    assert first_heading(kb, question) == "三、实施“聚力工程”，加强人才队伍建设"


def test_a_counted_part_follows_the_plan_whose_item_the_words_match(kb: KnowledgeBase):
    assert first_heading(kb, "第三块关于困难党员帮扶的讲了什么") == "第三部分 深入实施“暖心”行动"


def test_a_programme_named_in_one_plan_gets_that_plans_part(kb: KnowledgeBase):
    """清风工程 is the first plan's second part, whatever the numbering style of the count."""
    assert first_heading(kb, "第二部分清风工程讲了什么") == "二、实施“清风工程”，加强党风廉政建设"
    assert first_heading(kb, "暖心行动主要干啥") == "第三部分 深入实施“暖心”行动"


@pytest.mark.parametrize("question", [
    "第三部分讲什么",
    "党建工作第三部分讲什么",  # words every plan says do not point at one
    "要点第三部分的标题是什么",  # nor words no plan says
])
def test_a_count_nothing_else_points_with_shows_each_plans_part_in_one_answer(
        kb: KnowledgeBase, question: str):
    """Both plans have a third part and nothing tells them apart: the first answer holds
    both, under their plans' titles, the one numbered as the question writes it first; each
    follows on its own."""
    found = kb.search(question, 3)
    assert found.hits[0].text.splitlines() == [
        "《2028年党建工作要点》第三部分 深入实施“暖心”行动", "3.开展困难帮扶",
        "4.讲好廉政党课",
        "《2026年党建工作要点》三、实施“聚力工程”，加强人才队伍建设",
        "3.开展“五小”竞赛", "4.深化道德讲堂"]
    assert [h.text.splitlines()[0] for h in found.hits[1:]] == [
        "第三部分 深入实施“暖心”行动", "三、实施“聚力工程”，加强人才队伍建设"]


def test_a_count_the_words_point_with_is_decided(kb: KnowledgeBase):
    assert kb.search("第三大块里道德讲堂那些讲了啥", 3).evidence.margin == 1.0


@pytest.mark.parametrize(("question", "count"), [("第一大块讲的啥", 1), ("第七大部分", 7),
                                                 ("第六块", 6), ("第12条", 12)])
def test_counts_are_read_in_the_ways_members_write_them(kb: KnowledgeBase, question: str,
                                                       count: int):
    assert kb.parse_query(question).ordinal == count


def test_an_item_question_naming_a_programme_gets_that_programmes_item(kb: KnowledgeBase):
    hit = kb.search("暖心行动里对困难职工要做什么", 1).hits[0]
    assert hit.unit.kind == "item" and hit.unit.path.endswith("3.开展困难帮扶")


def test_an_item_question_naming_a_programme_of_one_plan_stays_in_that_programme(
        kb: KnowledgeBase):
    """The second plan says 廉政党课 more often and with a 1次; the question names the first
    plan's 清风工程, whose item answers."""
    hit = kb.search("清风工程里廉政党课每季度讲几次", 1).hits[0]
    assert hit.unit.plan == 0 and hit.unit.path.endswith("2.讲好廉政党课")


def test_a_word_every_plan_is_full_of_does_not_point_at_a_plan():
    """党员 is in every item of both plans (more often in the second's third part): it does
    not tell which plan's third part is meant, so both are shown in the first answer."""
    first = "甲单位党建工作要点\n一、强化政治建设\n1.抓好理论学习。组织党员学习。\n" \
        "二、加强基层组织\n2.规范支部活动。支部按月开展党员活动。\n" \
        "三、推进人才队伍\n3.培养青年人才。党员带青年到一线锻炼。\n"
    second = "乙单位党建工作要点\n第一部分 加强思想建设\n1.开展读书活动。党员读书班。\n" \
        "第二部分 强化作风建设\n2.整治形式主义。党员查处违纪问题。\n" \
        "第三部分 关爱党员\n3.关心困难党员。党员帮扶，党员慰问，党员谈心。\n"
    kb = KnowledgeBase([parse_plan("a.txt", first), parse_plan("b.txt", second)], Tokenizer())
    text = kb.search("党员第三部分讲什么", 3).hits[0].text
    assert "第三部分 关爱党员" in text and "三、推进人才队伍" in text


def test_a_programme_asked_about_in_words_none_of_its_items_say_gets_its_part(
        kb: KnowledgeBase):
    """涉及 is in no item of 清风工程 (nor in its heading): the question is about the
    programme as a whole, whose heading and item titles answer it."""
    assert first_heading(kb, "清风工程主要涉及哪方面的工作") == "二、实施“清风工程”，加强党风廉政建设"


def test_which_programme_is_answered_by_the_item_that_names_one():
    """The best item names a programme of the kind asked for (“新苗工程”) inside the part of
    another (聚力工程): the item, not its part, says which."""
    plan = parse_plan("p.txt", "党建工作要点\n一、实施“聚力工程”，加强人才队伍建设\n"
                      "1.加快人才开发。做深做细“新苗工程”，建立青年人才目录。\n"
                      "2.强化班子建设。加强领导班子思想政治建设。\n"
                      "二、实施“清风工程”，加强党风廉政建设\n3.讲好廉政党课。每年讲一次。\n")
    kb = KnowledgeBase([plan], Tokenizer())
    hit = kb.search("人才开发要做深哪个工程", 3).hits[0]
    assert hit.unit.kind == "item" and "“新苗工程”" in hit.text
    assert first_heading(kb, "廉政党课归哪个工程管") == "二、实施“清风工程”，加强党风廉政建设"
