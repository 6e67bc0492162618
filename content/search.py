"""Ranked retrieval over the plans' structure: which item answers, and which sentence in it.

Several rankers are fused: BM25 over jieba words of items and of their sentences, BM25 over
character bigrams (typos, homophones, partial words), question-intent bonuses (a 多久 question
wants the sentence with 每年/定期/至少…), colloquial -> formal expansion, and a part ranker for
questions about a whole part or programme. An IDF-weighted coverage test decides abstention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from content.index import Bm25Index, tune_allocator
from content.ingest import ParsedPlan, Section
from content.lexicon import (
    COLLOQUIAL,
    INTENT_PATTERNS,
    PART_ASK_WORDS,
    PART_NOISE,
    STOPWORDS,
    colloquial_keys_in,
    is_question_word,
    question_intents,
)
from content.tokenize import Tokenizer, bigram_keys, normalize, syllables

MAX_ANSWER_CHARS = 600
MAX_QUESTION_CHARS = 500
_LONG_STOPWORDS = sorted((w for w in STOPWORDS if len(w) > 1), key=len, reverse=True)
_SENTENCE_SPLIT = re.compile(r"(?<=[。！？；!?;])")
_ORDINAL = re.compile(r"第\s*([0-9一二三四五六七八九十]+)\s*(?:块|部分|方面|大项|章|项|条|点|个方面|节)")

WEIGHTS = {
    "item_words": 1.0,
    "sentence_words": 0.8,
    "item_bigrams": 0.6,
    "sentence_bigrams": 0.5,
    "item_sounds": 0.3,
    "intent": 0.35,
}
ABSTAIN_BELOW = 0.40
PART_NAMED_AT_LEAST = 0.6
HIGHLIGHT_INTENT = 1.0
HOMOPHONE = 0.9
KNOWN_PHRASE = 0.5
PAIR_SLICE_CHARS = 500_000


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
    clause: str = ""

    @property
    def source(self) -> str:
        """The unit's citation, down to the enumeration clause (二是…) that answers."""
        return f"{self.unit.source} › {self.clause}" if self.clause else self.unit.source


@dataclass(frozen=True)
class Concept:
    """One thing the question is about: a content word, or a colloquial phrase (which stands
    for the words it spans and is matched through its formal equivalents)."""

    text: str
    weight: float
    targets: tuple[tuple[str, float], ...] = ()


@dataclass
class Query:
    """A question turned into weighted terms, its bigrams and what it asks for."""

    text: str
    words: dict[str, float]
    concepts: list[Concept]
    bigrams: dict[int, float]
    sounds: dict[int, float]
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
        self._term_words: dict[str, tuple[str, ...]] = {}
        self.units: list[Unit] = []
        self.part_units: list[Unit] = []
        self.clauses: dict[tuple[int, int | None], list[Section]] = {}
        self.sentences: list[str] = []
        unit_starts: list[int] = []
        for plan_no, plan in enumerate(plans):
            for section in plan.sections:
                if section.level in ("part", "subsection"):
                    self.part_units.append(self._part_unit(plan_no, plan, section))
                if section.level == "clause":  # its text is part of its item's
                    self.clauses.setdefault((plan_no, section.parent), []).append(section)
                    continue
                sentences = [] if _is_heading_only(section) else split_sentences(section.text)
                if not sentences:
                    continue
                unit_starts.append(len(self.sentences))
                self.sentences.extend(sentences)
                self.units.append(Unit(plan_no, section.ordinal, section.level, section.text,
                                       plan.title, section.path_text))
        self.unit_starts = np.asarray(unit_starts, dtype=np.int64)
        sentence_unit = np.repeat(
            np.arange(len(self.units), dtype=np.int32),
            np.diff(np.append(self.unit_starts, len(self.sentences))),
        )
        tune_allocator()
        normalized = _normalize_all(self.sentences)
        n_sentences, n_units = len(self.sentences), len(self.units)
        # each kind of pairs is dropped once its indexes are built: a large corpus stays lean
        words = tokenizer.index_words(normalized)
        vocabulary = words[0]
        self.sentence_words = Bm25Index.from_pairs(*words, n_sentences)
        self.item_words = Bm25Index.from_pairs(*words[:2], sentence_unit[words[2]], n_units)
        del words
        grams = _bigram_pairs(normalized)
        self.sentence_bigrams = Bm25Index.from_pairs(*grams, n_sentences)
        self.item_bigrams = Bm25Index.from_pairs(*grams[:2], sentence_unit[grams[2]], n_units)
        del grams
        sounds = _bigram_pairs(normalized, sounds=True)
        del normalized
        self.item_sounds = Bm25Index.from_pairs(*sounds[:2], sentence_unit[sounds[2]], n_units)
        del sounds
        part_texts = _normalize_all([u.text.replace("\n", " ") for u in self.part_units])
        self.part_words = Bm25Index.from_pairs(*tokenizer.index_words(part_texts),
                                               len(part_texts))
        self.part_bigrams = Bm25Index.from_pairs(*_bigram_pairs(part_texts), len(part_texts))
        self.sound_alikes: dict[tuple[int, ...], list[str]] = {}
        for word in self._plan_words(vocabulary):
            self.sound_alikes.setdefault(syllables(word), []).append(word)
        self.intent_flags = {intent: _sentences_matching(pattern, self.sentences)
                             for intent, pattern in INTENT_PATTERNS.items()}

    def _words_of_term(self, term: str) -> tuple[str, ...]:
        """Words of a lexicon term, segmented once per knowledge base."""
        words = self._term_words.get(term)
        if words is None:
            words = self._term_words[term] = tuple(self.tokenizer.words(term))
        return words

    @staticmethod
    def _plan_words(vocabulary: dict[str, int]) -> list[str]:
        return [w for w in vocabulary if 2 <= len(w) <= 4 and all(
            "\u4e00" <= ch <= "\u9fff" for ch in w)]

    def _known(self, word: str) -> bool:
        return word in self.item_words or word in self.part_words

    @staticmethod
    def _part_unit(plan_no: int, plan: ParsedPlan, section: Section) -> Unit:
        titles = [plan.sections[c].heading for c in section.children if plan.sections[c].heading]
        text = "\n".join([section.heading, *titles])
        return Unit(plan_no, section.ordinal, "part", text, plan.title, section.path_text)

    # -- query ------------------------------------------------------------------------------

    def parse_query(self, question: str) -> Query:
        text = normalize(question)[:MAX_QUESTION_CHARS]
        spans = self._spans(text)
        content = [(w, start) for w, start in _join_single_characters(spans)
                   if not is_question_word(w) and w not in STOPWORDS]
        words: dict[str, float] = {}
        for word, _ in content:
            # a compound the plans never use is searched by its parts (组织学 -> 组织)
            parts = [] if self._known(word) else [
                w for w in self.tokenizer.subwords(word) if self._known(w)
            ]
            for term in parts or [word]:
                words[term] = words.get(term, 0.0) + 1.0
        homophones = {word: self._homophones(word) for word, _ in content}
        for alikes in homophones.values():
            for alike, weight in alikes:
                words[alike] = max(words.get(alike, 0.0), weight)
        phrases = [p for p in colloquial_keys_in(text) if _said_as_words(p[1], p[2], spans)]
        for key, _, _ in phrases:
            for target, weight in self._translations(key):
                for token in self._words_of_term(target):
                    words[token] = max(words.get(token, 0.0), weight)
        stripped = text
        for stop in _LONG_STOPWORDS:
            stripped = stripped.replace(stop, " ")
        query_bigrams = dict.fromkeys(bigram_keys(stripped)[0].tolist(), 1.0)
        query_sounds = dict.fromkeys(bigram_keys(stripped, sounds=True)[0].tolist(), 1.0)
        alternatives = [t for key, _, _ in phrases for t in self._translations(key)] + [
            t for alikes in homophones.values() for t in alikes]
        for target, weight in alternatives:
            for gram in bigram_keys(normalize(target))[0].tolist():
                query_bigrams[gram] = max(query_bigrams.get(gram, 0.0), weight)
        ordinal = None
        match = _ORDINAL.search(text)
        if match:
            ordinal = _to_int(match.group(1))
        asks_part = ordinal is not None or any(w in text for w in PART_ASK_WORDS)
        concepts = self._concepts(content, phrases, homophones)
        return Query(text, words, concepts, query_bigrams, query_sounds,
                     question_intents(text), asks_part, ordinal)

    def _spans(self, text: str) -> list[tuple[str, int]]:
        """jieba's tokens with their start offsets."""
        spans, start = [], 0
        for token in self.tokenizer.raw_words(text):
            start = text.find(token, start)
            spans.append((token, start))
            start += len(token)
        return spans

    def _concepts(self, content: list[tuple[str, int]], phrases: list[tuple[str, int, int]],
                  homophones: dict[str, tuple[tuple[str, float], ...]]) -> list[Concept]:
        """Content words, except those inside a colloquial phrase, which stands for them."""
        def inside(word: str, start: int, first: int, end: int) -> bool:
            return start < end and start + len(word) > first

        concepts = [Concept(word, self._weight(word), homophones[word])
                    for word, start in content
                    if not any(inside(word, start, first, end) for _, first, end in phrases)]
        for key, first, end in phrases:
            if key in STOPWORDS:
                continue
            inside_weights = [self._weight(word) for word, start in content
                              if inside(word, start, first, end)]
            weight = max(inside_weights, default=self.item_words.max_idf() * 0.5)
            concepts.append(Concept(key, weight, self._translations(key)))
        return concepts

    def _translations(self, key: str) -> tuple[tuple[str, float], ...]:
        """The plan's words for a colloquial phrase; at half weight when the plans use the
        phrase themselves (道德, 看齐), whose own matches then count most."""
        scale = KNOWN_PHRASE if self._known(key) else 1.0
        return tuple((target, weight * scale) for target, weight in COLLOQUIAL[key])

    def _weight(self, word: str) -> float:
        """How much a word says about the topic: its idf in the plans (the highest for a word
        they never use) times how rare it is in general Chinese (不能, 以后 say little)."""
        idf = self.item_words.idf(word)
        weight = (idf if idf is not None else self.item_words.max_idf()) * self.tokenizer.rarity(
            word)
        return weight * (0.5 if len(word) == 1 else 1.0)

    def _homophones(self, word: str) -> tuple[tuple[str, float], ...]:
        """Plan words that sound like a word the plans never use, or like a piece of it:
        a typo made with a pinyin keyboard (竟赛 -> 竞赛, 道德将堂 -> 讲堂)."""
        if self._known(word) or len(word) < 2 or self.tokenizer.in_dictionary(word):
            return ()
        found = []
        for size in range(min(len(word), 4), 1, -1):
            for start in range(len(word) - size + 1):
                piece = word[start:start + size]
                for match in self.sound_alikes.get(syllables(piece), ()):
                    if match != piece and match not in found:
                        found.append(match)
            if found:
                break
        return tuple((match, HOMOPHONE) for match in found)

    # -- ranking ----------------------------------------------------------------------------

    def search(self, question: str, k: int = 3) -> list[Hit]:
        query = self.parse_query(question)
        if not query.words and not query.bigrams:
            return []
        if not self.units:
            return []
        item_scores, sentence_score = self._rank_items(query)
        order = _top_k(item_scores, k + 1)
        top = int(order[0])
        hits: list[Hit] = []
        part_hit = self._part_answer(query, item_scores)
        if part_hit is not None:
            hits.append(part_hit)
        elif self.coverage(query, normalize(self.units[top].text)) < ABSTAIN_BELOW:
            return []
        for unit_no in order[: k + 1]:
            unit_no = int(unit_no)
            if item_scores[unit_no] <= 0 or len(hits) >= k:
                break
            sentence = self.best_sentence(unit_no, sentence_score, query)
            unit = self.units[unit_no]
            clause = next((c.heading for c in self.clauses.get((unit.plan, unit.section), ())
                           if sentence in c.text), "")
            hits.append(Hit(unit, float(item_scores[unit_no]), sentence,
                            trim_around(unit.text, sentence), clause))
        return hits[:k]

    def _rank_items(self, query: Query) -> tuple[np.ndarray, np.ndarray]:
        sentence_score = (
            WEIGHTS["sentence_words"] * _max_norm(self.sentence_words.scores(query.words))
            + WEIGHTS["sentence_bigrams"] * _max_norm(self.sentence_bigrams.scores(query.bigrams))
        )
        if query.intents and sentence_score.size:
            relevant = sentence_score > 0.25 * sentence_score.max()
            for intent in query.intents:
                sentence_score += WEIGHTS["intent"] * (relevant & self.intent_flags[intent])
        item = (
            WEIGHTS["item_words"] * _max_norm(self.item_words.scores(query.words))
            + WEIGHTS["item_bigrams"] * _max_norm(self.item_bigrams.scores(query.bigrams))
            + WEIGHTS["item_sounds"] * _max_norm(self.item_sounds.scores(query.sounds))
            + np.maximum.reduceat(sentence_score, self.unit_starts)
        )
        return item, sentence_score

    def best_sentence(self, unit_no: int, sentence_score: np.ndarray, query: Query) -> str:
        """The sentence to highlight: the best match, and for a 多久/几个/谁 question the best
        match that states a frequency, a number or who (an item's short title often outscores
        the sentence that actually answers)."""
        first = int(self.unit_starts[unit_no])
        last = int(self.unit_starts[unit_no + 1]) if unit_no + 1 < len(self.units) else len(
            self.sentences)
        local = sentence_score[first:last].copy()
        for intent in query.intents:
            local += HIGHLIGHT_INTENT * self.intent_flags[intent][first:last]
        return self.sentences[first + int(np.argmax(local))]

    def _part_answer(self, query: Query, item_scores: np.ndarray) -> Hit | None:
        """A question about a whole part or programme gets its heading and item titles."""
        if not query.asks_part or not self.part_units:
            return None
        if query.ordinal is not None:
            plan_no = self._plan_of(item_scores)
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
        if scores[best] <= 0 or self.coverage(query, heading, PART_NOISE) < PART_NAMED_AT_LEAST:
            return None
        unit = self.part_units[best]
        return Hit(unit, float(scores[best]), unit.text.split("\n")[0],
                   unit.text[:MAX_ANSWER_CHARS])

    def _plan_of(self, item_scores: np.ndarray) -> int:
        """The plan the question is about: the one whose items match it best overall."""
        plan_of_unit = np.fromiter((u.plan for u in self.units), dtype=np.int64)
        return int(np.argmax(np.bincount(plan_of_unit, weights=item_scores)))

    def _partial_match(self, word: str, unit_text: str, unit_sounds: np.ndarray) -> float:
        """A word the unit lacks may still be half there: its dictionary parts (IDF-weighted),
        or most of its character bigrams (a typo, a homophone)."""
        parts = self.tokenizer.subwords(word)
        if parts:
            weights = [self.item_words.idf(p) or self.item_words.max_idf() for p in parts]
            found = sum(w for p, w in zip(parts, weights, strict=True) if p in unit_text)
            by_parts = found / sum(weights)
        else:
            by_parts = 0.0
        grams = bigram_keys(word, sounds=True)[0]
        if not grams.size:
            return by_parts
        by_sounds = float(np.isin(grams, unit_sounds).mean())
        return max(by_parts, by_sounds if by_sounds >= 0.5 else 0.0)

    def coverage(self, query: Query, unit_text: str, ignore: frozenset[str] = frozenset()) -> float:
        """Weighted share of the question's concepts that a (normalised) text contains: a word
        itself, its parts or a near spelling; a colloquial phrase by its formal equivalents."""
        total = matched = 0.0
        unit_sounds: np.ndarray | None = None  # computed once, when a concept needs it
        for concept in query.concepts:
            if any(noise in concept.text for noise in ignore):
                continue
            total += concept.weight
            if concept.text in unit_text:
                found = 1.0
            else:
                if unit_sounds is None:
                    unit_sounds = bigram_keys(unit_text, sounds=True)[0]
                found = max([w for t, w in concept.targets if normalize(t) in unit_text]
                            + [self._partial_match(concept.text, unit_text, unit_sounds)])
            matched += concept.weight * found
        return matched / total if total else 0.0


def _said_as_words(first: int, end: int, spans: list[tuple[str, int]]) -> bool:
    """Whether a phrase found at text[first:end] is really said there: not a piece of one
    longer word (领导 in 领导干部), and not cutting into a word of three or more characters
    (会多 in 党委会|多长). Two-character words may be cut: jieba often splits casual speech
    wrongly (当头|头的 says 头头)."""
    for token, start in spans:
        stop = start + len(token)
        if start <= first and end <= stop and end - first < len(token):
            return False
        cut_at_start = start < first < stop
        cut_at_end = start < end < stop
        if (cut_at_start or cut_at_end) and len(token) >= 3:
            return False
    return True


def _join_single_characters(tokens: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Runs of one-character tokens are usually a word jieba did not know, often a typo
    (道德|将|堂 for 道德讲堂): keep such a run together as one word."""
    joined: list[tuple[str, int]] = []
    run, run_start = "", 0
    for token, start in [*tokens, ("", -1)]:
        if len(token) == 1 and token not in STOPWORDS and "\u4e00" <= token <= "\u9fff":
            run, run_start = (run + token, run_start) if run else (token, start)
            continue
        if run:
            joined.append((run, run_start))
            run = ""
        if token:
            joined.append((token, start))
    return joined


def _normalize_all(texts: list[str]) -> list[str]:
    """`normalize` of many one-line texts in one call (NFKC never adds or removes newlines in
    practice; if it ever did, fall back to one call per text)."""
    lines = normalize("\n".join(texts)).split("\n")
    return lines if len(lines) == len(texts) else [normalize(t) for t in texts]


def _sentences_matching(pattern: re.Pattern[str], sentences: list[str]) -> np.ndarray:
    """Which sentences the pattern matches, by one scan of the joined text."""
    joined = "\n".join(sentences)
    starts = np.cumsum([0] + [len(s) + 1 for s in sentences[:-1]])
    hits = np.fromiter((m.start() for m in pattern.finditer(joined)), dtype=np.int64)
    flags = np.zeros(len(sentences), dtype=bool)
    flags[np.searchsorted(starts, hits, side="right") - 1] = True
    return flags


def _bigram_pairs(texts: list[str], sounds: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted distinct keys, term id, text id) of every character (or sound) bigram; the
    texts are read in slices, so the temporaries stay small on a large corpus."""
    keys, docs = [], []
    first = 0
    while first < len(texts):
        last, size = first, 0
        while last < len(texts) and size < PAIR_SLICE_CHARS:
            size += len(texts[last]) + 1
            last += 1
        chunk = texts[first:last]
        chunk_keys, positions = bigram_keys("\n".join(chunk), sounds)
        starts = np.cumsum([0] + [len(t) + 1 for t in chunk[:-1]])
        docs.append((np.searchsorted(starts, positions, side="right") - 1 + first)
                    .astype(np.int32))
        keys.append(chunk_keys)
        first = last
    if not keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, np.int32)
    unique = np.unique(np.concatenate([np.unique(k) for k in keys]))
    term_ids = np.concatenate([np.searchsorted(unique, k).astype(np.int32) for k in keys])
    return unique, term_ids, np.concatenate(docs)


def _max_norm(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else scores


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores, best first (argpartition: no full sort of a big corpus)."""
    if len(scores) <= k:
        return np.argsort(-scores)
    candidates = np.argpartition(-scores, k)[:k]
    return candidates[np.argsort(-scores[candidates])]


def _to_int(text: str) -> int | None:
    import cn2an  # slow to import; only ordinal questions need it

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
