"""Words a member uses and the plan does not: met through the plan's compounds that hold
them and a long compound's parts; question forms that carry no topic; and the one sentence
that says the question's words together."""

from __future__ import annotations

import numpy as np
import pytest

from content.ingest import parse_plan
from content.lexicon import INTENT_PATTERNS, is_question_word, question_intents
from content.search import COMPOUND_PART, CONTAINING, KnowledgeBase
from content.tokenize import Tokenizer

PLAN = """2026年党建工作要点
一、加强人才队伍建设
1.做好人才引进。年内招聘应届毕业生不少于50人，充实生产一线。
2.关心青年成长。为入职1年以内的青年职工配备导师，组织青年座谈。
3.加强党员教育。以普通党员身份参加所在支部组织生活。党员每年参加集中学习不少于32学时。
二、加强组织建设
4.抓好换届。做好支部委员会配备，支部委员会成员中一线骨干比例不低于50%，对新进入支部委员会的成员开展培训。
5.严格组织生活。党员大会每季度召开1次，支部委员会每月召开1次，党小组会每月召开1次。
"""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([parse_plan("plan.txt", PLAN)], Tokenizer())


def test_a_word_the_plan_never_uses_meets_the_plans_compound_that_holds_it(kb: KnowledgeBase):
    words = kb.parse_query("刚毕业的今年招几个").words
    assert words.get("毕业生") == CONTAINING
    assert kb.search("刚毕业的今年招几个", 1).hits[0].unit.path.endswith("1.做好人才引进")


def test_a_long_compound_is_also_searched_by_its_parts(kb: KnowledgeBase):
    words = kb.parse_query("普通党员每年学多少学时").words
    assert words["普通党员"] == 1.0 and words["党员"] >= COMPOUND_PART
    hit = kb.search("普通党员每年学多少学时", 1).hits[0]
    assert "不少于32学时" in hit.sentence


@pytest.mark.parametrize("word", ["算不算", "能不能", "有没有", "是不是"])
def test_a_not_a_questions_carry_no_topic(word: str):
    assert is_question_word(word)


def test_words_that_only_look_like_a_not_a_keep_their_topic():
    assert not is_question_word("不能") and not is_question_word("党建")


def test_a_bound_without_a_period_states_no_frequency():
    assert not INTENT_PATTERNS["frequency"].search("成员中一线骨干比例不低于50%")
    assert INTENT_PATTERNS["frequency"].search("支部委员会每月召开1次")
    assert "frequency" in question_intents("支部委员会多久开一次")


def test_the_item_saying_the_questions_words_in_one_sentence_gets_the_phrase_score(
        kb: KnowledgeBase):
    """Item 4 names 支部委员会 three times, in different sentences from 1次; item 5 says
    支部委员会每月召开1次 in one."""
    query = kb.parse_query("支部委员会多久召开1次")
    paths = [u.path for u in kb.units]
    spread = next(n for n, p in enumerate(paths) if p.endswith("4.抓好换届"))
    together = next(n for n, p in enumerate(paths) if p.endswith("5.严格组织生活"))
    scores = kb._phrase_scores(query, np.array([spread, together]))
    assert scores[together] > scores[spread] > 0
    assert kb.search("支部委员会多久召开1次", 1).hits[0].unit.path.endswith("5.严格组织生活")


AMOUNTS = """2026年党建工作要点
一、服务乡村振兴
1.做好定点帮扶。乡村振兴帮扶工作由党委办公室牵头，帮扶3个村，选派5名干部驻村。
2.加大帮扶投入。乡村振兴帮扶工作纳入年度考核，全年投入帮扶资金不少于300万元。
"""


@pytest.mark.parametrize(("question", "unit", "sentence"), [
    ("乡村振兴帮扶今年投多少钱", "money", "乡村振兴帮扶工作纳入年度考核，全年投入帮扶资金不少于300万元。"),
    ("乡村振兴帮扶要派多少人", "people", "乡村振兴帮扶工作由党委办公室牵头，帮扶3个村，选派5名干部驻村。"),
])
def test_an_amount_asked_in_a_unit_wants_the_sentence_stating_one_in_that_unit(
        question: str, unit: str, sentence: str):
    """Both items name 乡村振兴帮扶 and state numbers; only one states the amount in the
    unit the question asks in."""
    kb = KnowledgeBase([parse_plan("plan.txt", AMOUNTS)], Tokenizer())
    assert unit in question_intents(question)
    hit = kb.search(question, 2).hits[0]
    assert hit.sentence == sentence
