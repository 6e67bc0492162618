"""Segmentation: jieba-rs gives jieba's own words on the plans, numerals meet digits."""

from __future__ import annotations

from pathlib import Path

import jieba
import pytest
from real_plans import PLANS, needs_real_plans

from content.ingest import read_document
from content.tokenize import (
    ARRAY_CHARS,
    DOMAIN_DICT,
    Tokenizer,
    bigram_keys,
    normalize,
    normalized_codes,
)

ROOT = Path(__file__).resolve().parents[2]
OWN_PLANS = [*sorted((ROOT / "content" / "plans").iterdir()), *sorted(
    (ROOT / "bench" / "plans").iterdir())]


@pytest.fixture(scope="module")
def pair() -> tuple[Tokenizer, jieba.Tokenizer]:
    reference = jieba.Tokenizer()
    reference.load_userdict(str(DOMAIN_DICT))
    return Tokenizer(), reference


def lines_of(paths: list[Path]) -> list[str]:
    return [normalize(line) for path in paths
            for line in read_document(path).splitlines() if line.strip()]


def assert_same_words(pair: tuple[Tokenizer, jieba.Tokenizer], lines: list[str]) -> None:
    ours, reference = pair
    assert lines
    for line in lines:
        assert ours.raw_words(line) == [t for t in reference.lcut(line, HMM=False) if t.strip()]
        assert ours.subwords(line[:12]) == [
            w for w in reference.cut_for_search(line[:12], HMM=False)
            if w != line[:12] and len(w) > 1]


def test_segmentation_equals_jiebas_on_the_projects_own_plans(pair):
    assert_same_words(pair, lines_of(OWN_PLANS))


@needs_real_plans
def test_segmentation_equals_jiebas_on_the_real_plans(pair):
    assert_same_words(pair, lines_of(sorted(PLANS.iterdir())))


def test_rarity_follows_jiebas_frequencies(pair):
    ours, reference = pair
    common, rare = "工作", "纠错"
    assert reference.FREQ[common] > reference.FREQ[rare]
    assert ours.rarity(common) < ours.rarity(rare)
    assert ours.rarity("加班费") == 1.0 and ours.in_dictionary("工作")


def test_a_numeral_before_a_counter_is_its_digit():
    assert bigram_keys("每年一次")[0].tolist() == bigram_keys("每年1次")[0].tolist()
    assert bigram_keys("两个维护")[0].tolist() == bigram_keys("2个维护")[0].tolist()
    assert bigram_keys("三会一课")[0].tolist() != bigram_keys("3会1课")[0].tolist()


def test_normalized_codes_are_the_code_points_of_the_normalised_text():
    for text in ["ＡＢＣ１２３，黨建　工作", "支部委员会每月至少召开1次；党课每季度1次。", "Hello 世界！"]:
        assert normalized_codes(text).tolist() == [ord(ch) for ch in normalize(text)]
    from_codes, from_text = bigram_keys(normalized_codes("两次學習")), bigram_keys(
        normalize("两次學習"))
    assert [a.tolist() for a in from_codes] == [a.tolist() for a in from_text]


def test_long_text_is_normalised_as_short_text_is():
    """Long text is folded as an array of code points: the same result as a line at a time."""
    lines = ["ＡＢＣ１２３，黨建　工作ＸＹＺ", "支部委員會每月至少召開1次；Party 黨課每季度1次。", "Hello 世界！"]
    long_text = "\n".join(lines * 10)
    assert len(long_text) >= ARRAY_CHARS > max(len(line) for line in lines)
    assert normalize(long_text) == "\n".join([normalize(line) for line in lines] * 10)
