"""Ranked retrieval over the plans' structure: which item answers, and which sentence in it.

Several rankers are fused: BM25 over jieba words of items and of their sentences, BM25 over
character bigrams (typos, homophones, partial words), question-intent bonuses (a 多久 question
wants the sentence with 每年/定期/至少…), colloquial -> formal expansion, and a part ranker for
questions about a whole part or programme. An IDF-weighted coverage test decides abstention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import cn2an
import numpy as np

from content.index import Bm25Index
from content.ingest import ParsedPlan, Section
from content.lexicon import (
    COLLOQUIAL,
    INTENT_PATTERNS,
    PART_ASK_WORDS,
    QUESTION_WORDS,
    STOPWORDS,
    question_intents,
)
from content.tokenize import Tokenizer, bigrams, normalize

MAX_ANSWER_CHARS = 600
MAX_QUESTION_CHARS = 500
_SENTENCE_SPLIT = re.compile(r"(?<=[。！？；!?;])")
_ORDINAL = re.compile(r"第\s*([0-9一二三四五六七八九十]+)\s*(?:块|部分|方面|大项|章|项|条|点|个方面|节)")

WEIGHTS = {
    "item_words": 1.0,
    "sentence_words": 0.8,
    "item_bigrams": 0.6,
    "sentence_bigrams": 0.5,
    "intent": 0.35,
}
ABSTAIN_BELOW = 0.42


@dataclass(frozen=True)
class Unit:
    """An answerable piece: an item (or paragraph) or, for part questions, a whole part."""

    plan: int
    section: int
    kind: str
    text: str
    title: str
    path: str

    @property
    def source(self) -> str:
        return f"《{self.title}》 {self.path}".strip()


@dataclass(frozen=True)
class Hit:
    unit: Unit
    score: float
    sentence: str
    text: str


@dataclass
class Query:
    """A question turned into weighted terms, its bigrams and what it asks for."""

    text: str
    words: dict[str, float]
    content_words: list[str]
    expansions: dict[str, list[tuple[str, float]]]
    bigrams: dict[str, float]
    intents: set[str] = field(default_factory=set)
    asks_part: bool = False
    ordinal: int | None = None


def split_sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_SPLIT.split(text.replace("\n", ""))) if s]


class KnowledgeBase:
    """All plans, indexed; `search` returns hits best first, or nothing when it should abstain."""

    def __init__(self, plans: list[ParsedPlan], tokenizer: Tokenizer) -> None:
        self.plans = plans
        self.tokenizer = tokenizer
        self.units: list[Unit] = []
        self.part_units: list[Unit] = []
        sentence_texts: list[str] = []
        self.sentence_unit: list[int] = []
        self.unit_sentences: list[tuple[int, int]] = []
        for plan_no, plan in enumerate(plans):
            for section in plan.sections:
                if section.level == "part" or section.level == "subsection":
                    self.part_units.append(self._part_unit(plan_no, plan, section))
                if _is_heading_only(section):
                    continue
                unit = Unit(plan_no, section.ordinal, section.level, section.text, plan.title,
                            section.path_text)
                sentences = split_sentences(section.text)
                first = len(sentence_texts)
                sentence_texts.extend(sentences)
                self.sentence_unit.extend([len(self.units)] * len(sentences))
                self.unit_sentences.append((first, len(sentence_texts)))
                self.units.append(unit)
        self.sentences = sentence_texts
        normalized = [normalize(s) for s in sentence_texts]
        sentence_words = [tokenizer.words(s, normalized=True) for s in normalized]
        sentence_bigrams = [bigrams(s, normalized=True) for s in normalized]
        self.sentence_words = Bm25Index(tokens=sentence_words)
        self.sentence_bigrams = Bm25Index(tokens=sentence_bigrams)
        self.item_words = Bm25Index(tokens=self._join(sentence_words))
        self.item_bigrams = Bm25Index(tokens=self._join(sentence_bigrams))
        self.item_vocab = [set(words) for words in self._join(sentence_words)]
        part_texts = [normalize(u.text) for u in self.part_units]
        self.part_words = Bm25Index(tokens=[tokenizer.words(t, normalized=True) for t in part_texts])
        self.part_bigrams = Bm25Index(tokens=[bigrams(t, normalized=True) for t in part_texts])
        self.sentence_unit_array = np.asarray(self.sentence_unit, dtype=np.int32)

    def _join(self, per_sentence: list[list[str]]) -> list[list[str]]:
        return [
            [token for s in range(first, last) for token in per_sentence[s]]
            for first, last in self.unit_sentences
        ]

    @staticmethod
    def _part_unit(plan_no: int, plan: ParsedPlan, section: Section) -> Unit:
        titles = [plan.sections[c].heading for c in section.children if plan.sections[c].heading]
        text = "\n".join([section.heading, *titles])
        return Unit(plan_no, section.ordinal, "part", text, plan.title, section.path_text)

    # -- query ------------------------------------------------------------------------------

    def parse_query(self, question: str) -> Query:
        text = normalize(question)[:MAX_QUESTION_CHARS]
        content = [w for w in self.tokenizer.words(text, normalized=True)
                   if w not in QUESTION_WORDS]
        words: dict[str, float] = {}
        for word in content:
            words[word] = words.get(word, 0.0) + 1.0
        expansions: dict[str, list[tuple[str, float]]] = {}
        for key, targets in COLLOQUIAL.items():
            if key in text:
                expansions[key] = targets
                for target in targets:
                    for token in self.tokenizer.words(target[0], normalized=True):
                        words[token] = max(words.get(token, 0.0), target[1])
        stripped = text
        for stop in sorted((w for w in STOPWORDS if len(w) > 1), key=len, reverse=True):
            stripped = stripped.replace(stop, " ")
        query_bigrams: dict[str, float] = {}
        for chunk in stripped.split():
            for gram in bigrams(chunk, normalized=True):
                query_bigrams[gram] = 1.0
        for targets in expansions.values():
            for target, weight in targets:
                for gram in bigrams(target, normalized=True):
                    query_bigrams[gram] = max(query_bigrams.get(gram, 0.0), weight)
        ordinal = None
        match = _ORDINAL.search(text)
        if match:
            ordinal = _to_int(match.group(1))
        asks_part = ordinal is not None or any(w in text for w in PART_ASK_WORDS)
        return Query(text, words, content, expansions, query_bigrams, question_intents(text),
                     asks_part, ordinal)

    # -- ranking ----------------------------------------------------------------------------

    def search(self, question: str, k: int = 3) -> list[Hit]:
        query = self.parse_query(question)
        if not query.words and not query.bigrams:
            return []
        if not self.units:
            return []
        item_scores, best_sentence = self._rank_items(query)
        order = np.argsort(-item_scores)
        top = int(order[0])
        hits: list[Hit] = []
        part_hit = self._part_answer(query, item_scores)
        if part_hit is not None:
            hits.append(part_hit)
        elif self.coverage(query, top) < ABSTAIN_BELOW:
            return []
        for unit_no in order[: k + 1]:
            unit_no = int(unit_no)
            if item_scores[unit_no] <= 0 or len(hits) >= k:
                break
            sentence = self.sentences[best_sentence[unit_no]]
            unit = self.units[unit_no]
            hits.append(Hit(unit, float(item_scores[unit_no]), sentence,
                            trim_around(unit.text, sentence)))
        return hits[:k]

    def _rank_items(self, query: Query) -> tuple[np.ndarray, np.ndarray]:
        n_units = len(self.units)
        s_words = _unit_max_norm(self.sentence_words.scores(query.words))
        s_bigrams = _unit_max_norm(self.sentence_bigrams.scores(query.bigrams))
        sentence_score = (
            WEIGHTS["sentence_words"] * s_words + WEIGHTS["sentence_bigrams"] * s_bigrams
        )
        for intent in query.intents:
            pattern = INTENT_PATTERNS[intent]
            candidates = np.nonzero(sentence_score > 0.25 * sentence_score.max())[0]
            for s in candidates:
                if pattern.search(self.sentences[s]):
                    sentence_score[s] += WEIGHTS["intent"]
        # best sentence per unit
        best_value = np.full(n_units, -1.0, dtype=np.float32)
        best_sentence = np.zeros(n_units, dtype=np.int32)
        for unit_no, (first, last) in enumerate(self.unit_sentences):
            if last > first:
                local = sentence_score[first:last]
                arg = int(np.argmax(local))
                best_value[unit_no] = local[arg]
                best_sentence[unit_no] = first + arg
        item = (
            WEIGHTS["item_words"] * _max_norm(self.item_words.scores(query.words))
            + WEIGHTS["item_bigrams"] * _max_norm(self.item_bigrams.scores(query.bigrams))
            + np.maximum(best_value, 0)
        )
        return item, best_sentence

    def _part_answer(self, query: Query, item_scores: np.ndarray) -> Hit | None:
        """A question about a whole part or programme gets its heading and item titles."""
        if not query.asks_part or not self.part_units:
            return None
        if query.ordinal is not None:
            plan_no = self._plan_of(query, item_scores)
            parts = [u for u in self.part_units if u.plan == plan_no and u.kind == "part"
                     and self.plans[u.plan].sections[u.section].level == "part"]
            if 1 <= query.ordinal <= len(parts):
                unit = parts[query.ordinal - 1]
                return Hit(unit, 1.0, unit.text.split("\n")[0], unit.text[:MAX_ANSWER_CHARS])
            return None
        scores = _max_norm(self.part_words.scores(query.words)) + _max_norm(
            self.part_bigrams.scores(query.bigrams)
        )
        best = int(np.argmax(scores))
        heading = normalize(self.part_units[best].text.split("\n")[0])
        named = [w for w in query.content_words if len(w) >= 2 and w in heading]
        if scores[best] <= 0 or not named:
            return None
        unit = self.part_units[best]
        return Hit(unit, float(scores[best]), unit.text.split("\n")[0],
                   unit.text[:MAX_ANSWER_CHARS])

    def _plan_of(self, query: Query, item_scores: np.ndarray) -> int:
        if len(self.plans) == 1:
            return 0
        totals = np.zeros(len(self.plans))
        for unit, score in zip(self.units, item_scores, strict=True):
            totals[unit.plan] += score
        return int(np.argmax(totals))

    def coverage(self, query: Query, unit_no: int) -> float:
        """IDF-weighted share of the question's content words that the unit contains."""
        vocab = self.item_vocab[unit_no]
        unit_text = normalize(self.units[unit_no].text)
        total = matched = 0.0
        unseen = self.item_words.max_idf()
        for word in dict.fromkeys(query.content_words):
            weight = self.item_words.idf.get(word, unseen) * (0.5 if len(word) == 1 else 1.0)
            total += weight
            if word in vocab:
                matched += weight
                continue
            expansion = _expansion_match(word, query.expansions, unit_text)
            grams = bigrams(word, normalized=True)
            partial = (sum(g in unit_text for g in grams) / len(grams)) if grams else 0.0
            matched += weight * max(expansion, partial if partial >= 0.5 else 0.0)
        for key, targets in query.expansions.items():
            if key not in query.content_words and key not in STOPWORDS:
                best = max((w for t, w in targets if normalize(t) in unit_text), default=0.0)
                weight = unseen * 0.5
                total += weight
                matched += weight * best
        return matched / total if total else 0.0


def _expansion_match(word: str, expansions: dict[str, list[tuple[str, float]]],
                     unit_text: str) -> float:
    best = 0.0
    for key, targets in expansions.items():
        if word in key or key in word:
            for target, weight in targets:
                if normalize(target) in unit_text:
                    best = max(best, weight)
    return best


def _max_norm(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else scores


def _unit_max_norm(scores: np.ndarray) -> np.ndarray:
    return _max_norm(scores)


def _to_int(text: str) -> int | None:
    try:
        return int(text) if text.isdigit() else int(cn2an.cn2an(text, "smart"))
    except (ValueError, KeyError):
        return None


def _is_heading_only(section: Section) -> bool:
    return section.level in ("part", "subsection") and section.text.strip() == section.heading


def trim_around(text: str, sentence: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """The whole item when short; else the answering sentence with its neighbours, in order."""
    flat = text.replace("\n", "")
    if len(flat) <= limit:
        return flat
    sentences = split_sentences(flat)
    try:
        center = sentences.index(sentence)
    except ValueError:
        return flat[: limit - 1] + "…"
    if len(sentence) >= limit - 2:
        return sentence[: limit - 1] + "…"
    first = last = center
    length = len(sentence)
    while True:
        grown = False
        for candidate in (last + 1, first - 1):
            if 0 <= candidate < len(sentences) and length + len(sentences[candidate]) <= limit - 2:
                length += len(sentences[candidate])
                first, last = min(first, candidate), max(last, candidate)
                grown = True
        if not grown:
            break
    body = "".join(sentences[first : last + 1])
    return ("…" if first > 0 else "") + body + ("…" if last < len(sentences) - 1 else "")
