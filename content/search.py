"""Ranked retrieval over the plans' structure: which item answers, which sentence in it, and how
sure the answer is.

Several rankers are fused: BM25 over jieba words of items and of the headings above them (a
heading's terms apply to its items), BM25 over character bigrams (typos, partial words), names
the plans quote, and BM25 over the words of sentences, which re-ranks the best items (a 多久
question wants the sentence with 每年/定期/至少…). Questions are expanded through the lexicon
(colloquial words, wordings of numbers and frequencies, synonym sets) and pinyin (homophone
typos). Questions about a whole part or a named programme get the part. The evidence of the
ranking (margin, the rankers' agreement, weighted coverage, intent met and how near the asked
words it is met, out-of-domain words) goes to a calibrated model (content.confidence) that says
high, low or none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np

from content import confidence
from content.confidence import Evidence
from content.index import Bm25Index, tune_allocator
from content.ingest import ParsedPlan, Section
from content.lexicon import (
    AMOUNT_PATTERN,
    INTENT_PATTERNS,
    PART_ASK_WORDS,
    PART_NOISE,
    STOPWORDS,
    UNIT_ASKS,
    UNITS,
    WHICH_PART,
    Lexicon,
    is_question_word,
    question_intents,
)
from content.tokenize import (
    Tokenizer,
    bigram_keys,
    is_content,
    normalize,
    normalized_codes,
    syllables,
    text_slices,
)

MAX_ANSWER_CHARS = 600
MAX_QUESTION_CHARS = 500
_LONG_STOPWORDS = sorted((w for w in STOPWORDS if len(w) > 1), key=len, reverse=True)
_SENTENCE_SPLIT = re.compile(r"(?<=[。！？；!?;])")
_IS_SENTENCE_END = np.zeros(0x10000, dtype=bool)  # of normalised text
_IS_SENTENCE_END[[ord(c) for c in "。!?;\n"]] = True
_ORDINAL = re.compile(
    r"第\s*([0-9一二三四五六七八九十]+)\s*(?:大?(?:块|部分|方面)|大项|章|项|条|点|个方面|节)")
_QUOTED = re.compile(r"“([^”]{2,16})”(工程|行动|赋能行动|活动|计划)?")
_YEAR = re.compile(r"(20\d\d)\s*年")
_ORDINAL_WORD = re.compile(r"第?[0-9一二三四五六七八九十]+")
_CJK_WORD = re.compile("[\u4e00-\u9fff]+")

WEIGHTS = {
    "item_words": 1.0,
    "sentence_words": 0.8,
    "item_bigrams": 0.6,
    "item_context": 0.3,
    "names": 1.0,
    "intent": 0.35,
    "phrase": 0.3,
}
PART_NAMED_AT_LEAST = 0.6
WORDS_POINT = 0.8
COMMON_WORD = 0.25
HIGHLIGHT_INTENT = 1.0
HOMOPHONE = 0.9
SYNONYM = 0.5
COMPOUND_PART = 0.5
CONTAINING = 0.6
MAX_CONTAINING = 6
KNOWN_PHRASE = 0.5
MAX_CACHED_WORDS = 100_000
RERANK = 100
PHRASE_RERANK = 5
MAIN_WORD = 0.5  # a question's main words: at least half the weight of its heaviest
INTENT_APART = 12  # characters between a main word and the amount asked that tie them no more


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
class Found:
    """Hits best first, the evidence about the first, and the confidence it earns."""

    hits: list[Hit]
    evidence: Evidence
    confidence: str


@dataclass(frozen=True)
class Concept:
    """One thing the question is about: a content word, or a colloquial phrase (which stands
    for the words it spans and is matched through its formal equivalents)."""

    text: str
    weight: float
    targets: tuple[tuple[str, float], ...] = ()
    known: bool = True


@dataclass
class Query:
    """A question turned into weighted terms, its bigrams and what it asks for."""

    text: str
    words: dict[str, float]
    concepts: list[Concept]
    bigrams: dict[int, float]
    intents: set[str] = field(default_factory=set)
    asks_part: bool = False
    ordinal: int | None = None
    names: list[str] = field(default_factory=list)
    own_bigrams: list[int] = field(default_factory=list)
    which_part: bool = False
    year: str | None = None


@dataclass(frozen=True)
class SentenceScores:
    """The sentence scores of the re-ranked items (ascending), item after item: only their
    sentences are scored, so a large corpus needs no array of all its sentences per question."""

    items: np.ndarray
    firsts: np.ndarray  # where each item's sentences start in `scores`
    scores: np.ndarray

    def of(self, unit_no: int, count: int) -> np.ndarray:
        """A copy of the scores of a unit's `count` sentences; zeros if it was not re-ranked."""
        at = int(np.searchsorted(self.items, unit_no))
        if at == len(self.items) or self.items[at] != unit_no:
            return np.zeros(count)
        first = int(self.firsts[at])
        return self.scores[first:first + count].copy()


def split_sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_SPLIT.split(text.replace("\n", ""))) if s]


class KnowledgeBase:
    """All plans, indexed; `search` returns hits best first with their confidence."""

    def __init__(self, plans: list[ParsedPlan], tokenizer: Tokenizer,
                 lexicon: Lexicon | None = None,
                 judge: Callable[[Evidence], str] = confidence.level) -> None:
        self.plans = plans
        self.tokenizer = tokenizer
        self.lexicon = lexicon if lexicon is not None else Lexicon.default()
        self.judge = judge
        self._term_words: dict[str, tuple[str, ...]] = {}
        self._term_grams: dict[str, list[int]] = {}
        self._word_pieces: dict[str, tuple[list[tuple[str, float]], list[int]]] = {}
        self._word_alikes: dict[str, list[tuple[str, float]]] = {}
        self.units: list[Unit] = []
        self.part_units: list[Unit] = []
        self.clauses: dict[tuple[int, int | None], list[Section]] = {}
        sentences: list[str] = []  # of every unit in turn; each unit re-splits its own text
        contexts: list[str] = []
        unit_starts: list[int] = []
        for plan_no, plan in enumerate(plans):
            for section in plan.sections:
                if section.level in ("part", "subsection"):
                    self.part_units.append(self._part_unit(plan_no, plan, section))
                if section.level == "clause":  # its text is part of its item's
                    self.clauses.setdefault((plan_no, section.parent), []).append(section)
                    continue
                own = [] if _is_heading_only(section) else split_sentences(section.text)
                if not own:
                    continue
                unit_starts.append(len(sentences))
                sentences.extend(own)
                self.units.append(Unit(plan_no, section.ordinal, section.level, section.text,
                                       plan.title, section.path_text))
                contexts.append(" ".join(_ancestor_headings(plan, section)))
        self.unit_plan = np.fromiter((u.plan for u in self.units), dtype=np.int32,
                                     count=len(self.units))
        self.part_plan = np.fromiter((u.plan for u in self.part_units), dtype=np.int32,
                                     count=len(self.part_units))
        self.unit_starts = np.asarray(unit_starts, dtype=np.int64)
        self.unit_ends = np.append(self.unit_starts[1:], len(sentences))
        self.part_items = self._part_items(plans)
        self.sentence_unit = np.repeat(
            np.arange(len(self.units), dtype=np.int32),
            np.diff(np.append(self.unit_starts, len(sentences))),
        )
        tune_allocator()
        normalized = _normalize_all(sentences)
        n_sentences, n_units = len(sentences), len(self.units)
        del sentences
        self.names = self._quoted_names(normalized)
        self.intent_flags = {intent: _sentences_matching(pattern, normalized)
                             for intent, pattern in INTENT_PATTERNS.items()
                             if intent not in UNIT_ASKS}
        self.intent_flags.update(_sentences_stating_amounts(normalized))
        sentence_unit = self.sentence_unit
        # the largest index first, while the least is held; pairs dropped once indexed
        self.item_bigrams = _bigram_index(normalized, sentence_unit, n_units)
        words = tokenizer.index_words(normalized)
        del normalized
        vocabulary = words[0]
        self.sentence_words = Bm25Index.from_pairs(*words, n_sentences)
        self.item_words = Bm25Index.from_pairs(*words[:2], sentence_unit[words[2]], n_units)
        del words
        self.item_context = Bm25Index.from_pairs(
            *tokenizer.index_words(_normalize_all(contexts)), n_units)
        part_texts = _normalize_all([u.text.replace("\n", " ") for u in self.part_units])
        part_words = tokenizer.index_words(part_texts)
        self.part_words = Bm25Index.from_pairs(*part_words, len(part_texts))
        self.known_words = frozenset(vocabulary).union(part_words[0])
        self.part_bigrams = _bigram_index(part_texts, np.arange(len(part_texts)),
                                          len(part_texts))
        self.compounds: dict[str, list[str]] = {}  # bigram -> plan words holding it
        for word in self.known_words:
            if 3 <= len(word) <= 8 and _CJK_WORD.fullmatch(word):
                for start in range(len(word) - 1):
                    self.compounds.setdefault(word[start:start + 2], []).append(word)
        self.sound_alikes: dict[tuple[int, ...], list[str]] = {}
        for word in self._plan_words(vocabulary):
            self.sound_alikes.setdefault(syllables(word), []).append(word)
        self.programmes = self._programmes()
        self.part_number = {(u.plan, u.section): n for n, u in enumerate(self.part_units)}
        self.top_parts: list[list[int]] = [[] for _ in plans]
        for number, unit in enumerate(self.part_units):
            if plans[unit.plan].sections[unit.section].level == "part":
                self.top_parts[unit.plan].append(number)
        self.name_sounds: dict[tuple[int, ...], list[tuple[str, tuple[int, ...]]]] = {}
        for name in {**self.names, **self.programmes}:
            sounds = syllables(name)
            self.name_sounds.setdefault(sounds[:2], []).append((name, sounds))
        self.plan_years = [_YEAR.findall(normalize(p.title + p.text[:300])) for p in plans]

    def __getstate__(self) -> dict[str, object]:
        """Built in the parse worker and sent to the bot: the index without what the bot
        already holds (the plans, the tokenizer, the lexicon), which `attach` puts back."""
        state = dict(vars(self))
        for held in ("plans", "tokenizer", "lexicon"):
            del state[held]
        return state

    def attach(self, plans: list[ParsedPlan], tokenizer: Tokenizer,
               lexicon: Lexicon | None = None) -> KnowledgeBase:
        """An index received from the worker, given the plans it was built from and the
        tokenizer and lexicon to answer with."""
        self.plans = plans
        self.tokenizer = tokenizer
        self.lexicon = lexicon if lexicon is not None else Lexicon.default()
        return self

    def _part_items(self, plans: list[ParsedPlan]) -> np.ndarray:
        """For each part unit, the [first, end) range of the units under it: a part's
        descendants follow it in the plan's order, and units keep that order."""
        keys = np.fromiter(((u.plan << 32) | u.section for u in self.units), dtype=np.int64,
                           count=len(self.units))
        spans = np.zeros((len(self.part_units), 2), dtype=np.int64)
        for number, unit in enumerate(self.part_units):
            sections = plans[unit.plan].sections
            last = sections[unit.section]
            while last.children:
                last = sections[last.children[-1]]
            spans[number] = np.searchsorted(
                keys, [(unit.plan << 32) | unit.section, (unit.plan << 32) | (last.ordinal + 1)])
        return spans

    def _quoted_names(self, sentences: list[str]) -> dict[str, np.ndarray]:
        """Every name the plans put in quotes (“七大工程”, “两个一以贯之”) -> the items that
        use it: a question that names one wants one of those."""
        units: dict[str, list[int]] = {}
        for number, sentence in zip(self.sentence_unit.tolist(), sentences, strict=True):
            if "“" not in sentence:
                continue
            for match in _QUOTED.finditer(sentence):
                listed = units.setdefault(match.group(1), [])
                if not listed or listed[-1] != number:
                    listed.append(number)
        return {name: np.asarray(found, dtype=np.int64) for name, found in units.items()}

    def _programmes(self) -> dict[str, int]:
        """Named programmes of the plans (“领航工程”, “星火堡垒”行动) that title a part or a
        subsection -> that part unit, so a question naming one gets its heading and items."""
        named: dict[str, int] = {}
        for number, unit in enumerate(self.part_units):
            heading = normalize(unit.text.split("\n", 1)[0])
            for match in _QUOTED.finditer(heading):
                named.setdefault(match.group(1), number)
                if match.group(2):
                    named.setdefault(match.group(1) + match.group(2), number)
        return named

    def _names_in(self, text: str) -> list[str]:
        """Quoted names and programmes the question says, as written or, from three characters
        on, as it sounds (typed with a pinyin keyboard: 清风户航 for 清风护航)."""
        sounds = syllables(text)
        found: list[str] = []
        for start in range(len(text) - 1):
            for name, name_sounds in self.name_sounds.get(sounds[start:start + 2], ()):
                end = start + len(name)
                if sounds[start:end] == name_sounds and name not in found and (
                        text[start:end] == name or (len(name) > 2 and -1 not in name_sounds)):
                    found.append(name)
        return [n for n in found if not any(n != other and n in other for other in found)]

    def _grams_of_term(self, term: str) -> list[int]:
        """Character bigrams of a lexicon term, computed once per knowledge base."""
        grams = self._term_grams.get(term)
        if grams is None:
            grams = self._term_grams[term] = bigram_keys(normalize(term))[0].tolist()
        return grams

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
        return word in self.known_words

    @staticmethod
    def _part_unit(plan_no: int, plan: ParsedPlan, section: Section) -> Unit:
        titles = [plan.sections[c].heading for c in section.children if plan.sections[c].heading]
        text = "\n".join([section.heading, *titles])
        return Unit(plan_no, section.ordinal, "part", text, plan.title, section.path_text)

    # -- query ------------------------------------------------------------------------------

    def parse_query(self, question: str) -> Query:
        text = normalize(question)[:MAX_QUESTION_CHARS]
        counted = _ORDINAL.search(text)  # 第六部分 points at a part; it says nothing of a topic
        spans = self._spans(text)
        content = [(w, start) for w, start in _join_single_characters(spans)
                   if is_content(w) and (self._known(w) or not is_question_word(w))
                   and not (counted and counted.start() <= start < counted.end())]
        words: dict[str, float] = {}
        for word, _ in content:
            # a compound the plans never use is searched by its parts (组织学 -> 组织)
            parts = [] if self._known(word) else [
                w for w in self.tokenizer.subwords(word) if self._known(w)
            ]
            for term in parts or [word]:
                words[term] = words.get(term, 0.0) + 1.0
            if not parts and len(word) >= 4:  # a long compound may be said by its parts
                for part in self.tokenizer.subwords(word):
                    if self._known(part) and len(part) < len(word):
                        words[part] = max(words.get(part, 0.0), COMPOUND_PART)
        for word, _ in content:
            for alike, weight in self._alikes(word):
                words[alike] = max(words.get(alike, 0.0), weight)
        homophones = {word: self._homophones(word) for word, _ in content}
        for alikes in homophones.values():
            for alike, weight in alikes:
                words[alike] = max(words.get(alike, 0.0), weight)
        phrases = [p for p in self.lexicon.keys_in(text) if _said_as_words(p[1], p[2], spans)]
        for key, _, _ in phrases:
            for target, weight in self._translations(key):
                for token in self._words_of_term(target):
                    words[token] = max(words.get(token, 0.0), weight)
        stripped = text if counted is None else (
            text[:counted.start()] + " " + text[counted.end():])
        for stop in _LONG_STOPWORDS:
            stripped = stripped.replace(stop, " ")
        own_bigrams = bigram_keys(stripped)[0].tolist()
        query_bigrams = dict.fromkeys(own_bigrams, 1.0)
        alternatives = [t for key, _, _ in phrases for t in self._translations(key)] + [
            t for alikes in homophones.values() for t in alikes]
        for target, weight in alternatives:
            for gram in self._grams_of_term(target):
                query_bigrams[gram] = max(query_bigrams.get(gram, 0.0), weight)
        ordinal = _to_int(counted.group(1)) if counted else None
        which_part = bool(WHICH_PART.search(text))
        asks_part = ordinal is not None or which_part or any(w in text for w in PART_ASK_WORDS)
        concepts = self._concepts(content, phrases, homophones)
        year = _YEAR.search(text)
        return Query(text, words, concepts, query_bigrams,
                     question_intents(text), asks_part, ordinal, self._names_in(text),
                     own_bigrams, which_part, year.group(1) if year else None)

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

        concepts = [Concept(word, self._weight(word), homophones[word],
                            self._reachable(word, homophones[word]))
                    for word, start in content
                    if not any(inside(word, start, first, end) for _, first, end in phrases)]
        for key, first, end in phrases:
            if key in STOPWORDS:
                continue
            inside_weights = [self._weight(word) for word, start in content
                              if inside(word, start, first, end)]
            weight = max(inside_weights, default=self.item_words.max_idf() * 0.5)
            concepts.append(Concept(key, weight, tuple(
                (normalize(target), w) for target, w in self._translations(key))))
        return concepts

    def _reachable(self, word: str, homophones: tuple[tuple[str, float], ...]) -> bool:
        """Whether the plans say the word, a part of it, a synonym or something that sounds like
        it (its `homophones`, found already): a word none of them reaches is out of the plans'
        domain (加班费, 公积金). A compound holding it helps the ranking but does not tell the
        domain (费 words hold 经费)."""
        return (self._known(word) or bool(homophones)
                or any(weight == SYNONYM for _, weight in self._alikes(word))
                or any(self._known(w) for w in self.tokenizer.subwords(word)))

    def _alikes(self, word: str) -> list[tuple[str, float]]:
        """The plans' words for a word they never use: the words that contain it (毕业 ->
        毕业生, 回复 -> 回复率) and its synonyms (年轻人 -> 青年)."""
        if len(word) < 2 or self._known(word):
            return []
        alikes = self._word_alikes.get(word)
        if alikes is None:
            if len(self._word_alikes) > MAX_CACHED_WORDS:  # questions bring endless words
                self._word_alikes.clear()
            alikes = self._word_alikes[word] = [
                (w, CONTAINING) for w in self._containing(word)] + [
                (w, SYNONYM) for w in self.lexicon.synonyms(word)
                if len(w) >= 2 and self._known(w)]
        return alikes

    def _containing(self, word: str) -> list[str]:
        """The plans' shortest words that contain a word (a member says 毕业, the plan
        毕业生), at most MAX_CONTAINING: a word in many compounds says little of which."""
        if not _CJK_WORD.fullmatch(word):
            return []
        found = sorted((w for w in self.compounds.get(word[:2], ()) if word in w),
                       key=len)
        return found[:MAX_CONTAINING] if len(found) <= 2 * MAX_CONTAINING else []

    def _translations(self, key: str) -> tuple[tuple[str, float], ...]:
        """The plan's words for a colloquial phrase; at half weight when the plans use the
        phrase themselves (道德, 看齐), whose own matches then count most."""
        scale = KNOWN_PHRASE if self._known(key) else 1.0
        return tuple((target, weight * scale) for target, weight in self.lexicon.targets(key))

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
        if (self._known(word) or len(word) < 2 or self.tokenizer.in_dictionary(word)
                or not _CJK_WORD.fullmatch(word)):
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

    def search(self, question: str, k: int = 3,
               plans: Collection[int] | None = None) -> Found:
        """The best k passages for a question, with their confidence.

        `plans` restricts the answer to those plans (by position in the list the knowledge base
        was built from); None means every plan. The restriction applies inside the ranking, so
        k visible passages come back whenever that many match. A question that names a
        programme only one of the visible plans has is about that plan."""
        query = self.parse_query(question)
        programme_plans = self._plans_named(query, quoted=False)
        if len(programme_plans) == 1 and (plans is None or programme_plans <= set(plans)):
            plans = programme_plans
        visible = None if plans is None else np.isin(self.unit_plan, list(plans))
        if not self.units or (not query.words and not query.bigrams and query.ordinal is None
                              ) or (visible is not None and not visible.any()):
            return Found([], Evidence.nothing(), "none")
        components, item_scores, sentence_scores, candidates = self._rank_components(
            query, visible)
        # only the re-ranked candidates gained beyond the first stage: the best are among them
        order = (candidates[_top_k(item_scores[candidates], k + 1)] if len(candidates) > k
                 else _top_k(item_scores, k + 1))
        hits: list[Hit] = []
        part_hits, part_margin = self._part_answers(query, item_scores, order, plans, k)
        hits.extend(part_hits)
        for unit_no in order[: k + 1]:
            unit_no = int(unit_no)
            if item_scores[unit_no] <= 0 or len(hits) >= k:
                break
            sentence = self.best_sentence(unit_no, sentence_scores, query)
            unit = self.units[unit_no]
            clause = next((c.heading for c in self.clauses.get((unit.plan, unit.section), ())
                           if sentence in c.text), "")
            hits.append(Hit(unit, float(item_scores[unit_no]), sentence,
                            trim_around(unit.text, sentence), clause))
        hits = hits[:k]
        evidence = self._evidence(query, hits, item_scores, order, components, part_margin)
        return Found(hits, evidence, self.judge(evidence))

    def _rank_components(self, query: Query, visible: np.ndarray | None
                         ) -> tuple[dict[str, np.ndarray], np.ndarray, SentenceScores,
                                    np.ndarray]:
        """Each ranker's weighted, max-normalised item scores (only visible items count), their
        sum, the sentence scores, and the items re-ranked. The sentence ranker re-ranks the best
        RERANK items of the others: a large corpus is not scored sentence by sentence."""
        def norm(scores: np.ndarray) -> np.ndarray:
            return _max_norm(scores if visible is None else scores * visible)

        components = {
            "item_words": WEIGHTS["item_words"] * norm(self.item_words.scores(query.words)),
            "item_bigrams": WEIGHTS["item_bigrams"] * norm(
                self.item_bigrams.scores(query.bigrams)),
            "item_context": WEIGHTS["item_context"] * norm(
                self.item_context.scores(query.words)),
        }
        named = [self.names[n] for n in query.names if n in self.names] + [
            np.arange(*self.part_items[self.programmes[n]]) for n in query.names
            if n in self.programmes]  # a programme's items: those under its heading
        if named:
            bonus = np.zeros(len(self.units))
            bonus[np.concatenate(named)] = WEIGHTS["names"]
            components["names"] = bonus if visible is None else bonus * visible
        first_stage = sum(components.values())
        candidates = np.sort(_top_k(first_stage, RERANK))
        candidates = candidates[first_stage[candidates] > 0]
        starts = self.unit_starts[candidates]
        lengths = self.unit_ends[candidates] - starts
        firsts = np.cumsum(lengths) - lengths  # of each candidate's sentences among theirs
        sentences = np.repeat(starts - firsts, lengths) + np.arange(int(lengths.sum()))
        local = WEIGHTS["sentence_words"] * _max_norm(
            self.sentence_words.scores_of(query.words, sentences))
        if query.intents and local.size:
            relevant = local > 0.25 * local.max()
            for intent in query.intents:
                local += WEIGHTS["intent"] * (relevant & self.intent_flags[intent][sentences])
        best_sentences = np.zeros(len(self.units))
        if local.size:
            best_sentences[candidates] = np.maximum.reduceat(local, firsts)
        components["sentences"] = best_sentences
        # the best of first stage and sentences together are among the re-ranked candidates
        together = first_stage[candidates] + best_sentences[candidates]
        rephrased = candidates[_top_k(together, PHRASE_RERANK)]
        components["phrase"] = self._phrase_scores(query, rephrased)
        # the sum of all the rankers, added where the later two score (the candidates) only
        item_scores = first_stage
        item_scores[candidates] = together
        item_scores[rephrased] += components["phrase"][rephrased]
        return components, item_scores, SentenceScores(candidates, firsts, local), candidates

    def _phrase_scores(self, query: Query, units: np.ndarray) -> np.ndarray:
        """For a few best items, the idf-weighted share of the question's character bigrams
        (and their expansions) that one sentence of the item holds: the words said together,
        as the question says them, in one place rather than spread over a long item. The
        items are read as one text (one normalisation, one pass for the bigrams)."""
        scores = np.zeros(len(self.units))
        grams, gram_weights = self.item_bigrams.idf_weighted(query.bigrams)
        own_bigrams = set(query.own_bigrams)
        own = float(gram_weights[[gram in own_bigrams for gram in grams.tolist()]].sum())
        if not own or not len(units):
            return scores
        codes = normalized_codes(
            "\n".join(self.units[u].text.replace("\n", "") for u in units.tolist()))
        ends = _IS_SENTENCE_END[np.minimum(codes, len(_IS_SENTENCE_END) - 1)]
        sentence_at = np.cumsum(ends)  # each item's "\n" ends its last sentence
        keys, positions = bigram_keys(codes)
        row = np.minimum(np.searchsorted(grams, keys), len(grams) - 1)
        found = grams[row] == keys
        pairs = np.unique(sentence_at[positions[found]] * len(grams) + row[found])
        held = np.bincount(pairs // len(grams), weights=gram_weights[pairs % len(grams)],
                           minlength=int(sentence_at[-1]) + 1)
        first_sentences = np.append(0, sentence_at[np.flatnonzero(codes == ord("\n"))])
        best = np.maximum.reduceat(held, first_sentences)
        scores[units] = WEIGHTS["phrase"] * np.minimum(best / own, 1.0)
        return scores

    def _evidence(self, query: Query, hits: list[Hit], item_scores: np.ndarray,
                  order: np.ndarray, components: dict[str, np.ndarray],
                  part_margin: float | None) -> Evidence:
        """What the ranking knows about its first answer, for the confidence model. A part the
        question names (by programme or number) has the rankers' agreement and the margin
        `_part_answers` found (none to another plan's part of that number, or all)."""
        if not hits:
            return Evidence.nothing()
        top = int(order[0])
        first = float(item_scores[top])
        second = float(item_scores[int(order[1])]) if len(order) > 1 else 0.0
        best_scores = [float(scores.max()) for scores in components.values()]
        agreement = float(np.mean([
            scores[top] / best if best > 0 else 0.0
            for scores, best in zip(components.values(), best_scores, strict=True)]))
        best = hits[0]
        total = sum(c.weight for c in query.concepts)
        unknown = sum(c.weight for c in query.concepts if not c.known)
        intent_met = any(INTENT_PATTERNS[intent].search(best.sentence)
                         for intent in _most_specific(query.intents))
        text = normalize(best.unit.text)
        own = set(query.own_bigrams)
        found = self.concepts_found(query, text)
        heaviest = max((c.weight for c, _ in found), default=0.0)
        return Evidence(
            margin=part_margin if part_margin is not None
            else (first - second) / first if first > 0 else 0.0,
            agreement=1.0 if part_margin is not None else agreement,
            coverage=_weighted_share(found),
            intent_missed=bool(query.intents) and not intent_met and best.unit.kind != "part",
            # a question that only counts to a part (第六部分讲什么) has no word to miss
            unknown=unknown / total if total else 0.0 if part_margin is not None else 1.0,
            part=best.unit.kind == "part",
            said=len(own.intersection(bigram_keys(text)[0].tolist())) / len(own) if own else 0.0,
            echoed=_echoed(hits),
            intent_apart=0.0 if best.unit.kind == "part" else _intent_apart(query,
                                                                          best.sentence),
            heaviest_missing=1.0 - max((share for c, share in found if c.weight == heaviest),
                                       default=0.0),
        )

    def best_sentence(self, unit_no: int, sentence_scores: SentenceScores, query: Query) -> str:
        """The sentence to highlight: the best match, and for a 多久/几个/谁 question the best
        match that states a frequency, a number or who (an item's short title often outscores
        the sentence that actually answers)."""
        first, last = int(self.unit_starts[unit_no]), int(self.unit_ends[unit_no])
        local = sentence_scores.of(unit_no, last - first)
        for intent in query.intents:
            local += HIGHLIGHT_INTENT * self.intent_flags[intent][first:last]
        return split_sentences(self.units[unit_no].text)[int(np.argmax(local))]

    def _part_answers(self, query: Query, item_scores: np.ndarray, order: np.ndarray,
                      plans: Collection[int] | None, k: int) -> tuple[list[Hit], float | None]:
        """A question about a whole part gets its heading and item titles: the part it counts
        to (第六块, in each plan that has one), the part that holds the best item (哪个工程
        管…), the programme it names (领航工程), or the part whose heading it says. Also the
        margin of a part the question names: 1 when the programme or the count points at one
        part, 0 when several plans' parts fit the count equally (None: no part named)."""
        if not self.part_units:
            return [], None
        visible = None if plans is None else np.isin(self.part_plan, list(plans))
        named = [self.programmes[n] for n in query.names if n in self.programmes
                 and (visible is None or visible[self.programmes[n]])]
        if named:
            number = named[0]
            unit = self.part_units[number]
            first, end = self.part_items[number]
            best = first + int(np.argmax(item_scores[first:end])) if end > first else None
            # the programme as a whole answers unless one of its items says the rest
            if query.asks_part or (not query.intents and (
                    self._rest_covered(query, normalize(unit.text)) or best is None
                    or not self._rest_covered(query, normalize(self.units[best].text)))):
                return [self._part_hit(unit)], 1.0
        if query.ordinal is not None:
            counted, decided = self._parts_counted(query, item_scores, visible)
            if not counted:
                return [], None
            if decided:
                return [self._part_hit(unit) for unit in counted[:k]], 1.0
            # nothing tells the plans apart: one answer shows each plan's part of that number
            return [_parts_hit(counted), *(self._part_hit(u) for u in counted[:k - 1])], 1.0
        if query.which_part:
            above = self._part_of_best_item(query, item_scores)
            return ([] if above is None else [self._part_hit(above)]), None
        if not query.asks_part:
            return [], None
        scores = _max_norm(self.part_words.scores(query.words)) + _max_norm(
            self.part_bigrams.scores(query.bigrams)
        )
        if visible is not None:
            scores = scores * visible
        best = int(np.argmax(scores))
        heading = normalize(self.part_units[best].text.split("\n")[0])
        if scores[best] <= 0 or self.coverage(query, heading, PART_NOISE) < PART_NAMED_AT_LEAST:
            return [], None
        return [self._part_hit(self.part_units[best], float(scores[best]))], None

    @staticmethod
    def _part_hit(unit: Unit, score: float = 1.0) -> Hit:
        return Hit(unit, score, unit.text.split("\n")[0], unit.text[:MAX_ANSWER_CHARS])

    def _parts_counted(self, query: Query, item_scores: np.ndarray,
                       visible: np.ndarray | None) -> tuple[list[Unit], bool]:
        """The query.ordinal-th top-level part of each plan that has that many, best first:
        the plan the rest of the question points to comes first (one holding a programme or
        name it says, one of the year it says, then the one whose items match its other words
        best: in that part, and in the whole plan), and only among plans it does not tell
        apart does the numbering style decide (第六部分 as the plan writes it), then the
        plans' order. Also whether the first was decided by the question, not by the tie."""
        assert query.ordinal is not None
        ordinal = _ORDINAL.search(query.text)
        named_plans = self._plans_named(query)
        by_words = self._says_more_than_names(query)
        plan_best = np.zeros(len(self.plans))
        if by_words and len(item_scores):  # units are in plan order: one run per plan
            starts = np.searchsorted(self.unit_plan, np.arange(len(self.plans)))
            has_units = starts < np.append(starts[1:], len(item_scores))
            plan_best[has_units] = np.maximum.reduceat(item_scores, starts[has_units])
        best_of_plan = plan_best.tolist()
        numbering = ordinal.group(0) if ordinal else None
        found = []
        for plan_no, parts in enumerate(self.top_parts):
            if not 1 <= query.ordinal <= len(parts):
                continue
            number = parts[query.ordinal - 1]
            if visible is not None and not visible[number]:
                continue
            part = self.part_units[number]
            in_part = 0.0
            if by_words:
                first, end = self.part_items[number]
                in_part = float(item_scores[first:end].max()) if end > first else 0.0
            pointed = (plan_no in named_plans,
                       query.year is not None and query.year in self.plan_years[plan_no],
                       round(in_part + best_of_plan[plan_no], 6))
            as_numbered = numbering is not None and part.text.startswith(numbering)
            found.append((pointed, as_numbered, -plan_no, part))
        # words point at a plan only when its match is clearly the best: plans within
        # WORDS_POINT of the best match are told apart by the numbering, not by the words
        best_words = max((f[0][2] for f in found), default=0.0)
        found = [((named, year, best_words if words >= WORDS_POINT * best_words else words),
                  *rest) for (named, year, words), *rest in found]
        found.sort(key=lambda f: f[:3], reverse=True)
        decided = len(found) == 1 or (len(found) > 1 and found[0][0] > found[1][0])
        return [unit for *_, unit in found], decided

    def _plans_named(self, query: Query, quoted: bool = True) -> set[int]:
        """The plans holding a programme (or, when `quoted`, a quoted name) the question says."""
        plans = {int(self.part_plan[self.programmes[n]]) for n in query.names
                 if n in self.programmes}
        for name in query.names:
            if quoted and name in self.names:
                plans.update(self.unit_plan[self.names[name]].tolist())
        return plans

    def _part_of_best_item(self, query: Query, item_scores: np.ndarray) -> Unit | None:
        """The part holding the best matching item; when the question says what kind of part
        it wants (哪个工程, 哪项行动), the best item in a part of that kind, or none when the
        best item itself names a programme of that kind (做深“新苗工程”): the item answers."""
        kinds = [m.group(0)[-2:] for m in WHICH_PART.finditer(query.text)]
        wanted = next((kind for kind in kinds if kind in ("工程", "行动")), "")
        for rank, unit_no in enumerate(_top_k(item_scores, 20)):
            if item_scores[unit_no] <= 0:
                break
            if rank == 0 and wanted and _names_a(wanted, normalize(self.units[unit_no].text)):
                return None
            above = self._part_above(self.units[int(unit_no)])
            if above is not None and wanted in above.text.split("\n", 1)[0]:
                return above
        return None

    def _part_above(self, unit: Unit) -> Unit | None:
        """The top-level part an item belongs to."""
        plan = self.plans[unit.plan]
        section, top = plan.sections[unit.section], None
        while section.parent is not None:
            section = plan.sections[section.parent]
            if section.level == "part":
                top = section
        if top is None:
            return None
        return self.part_units[self.part_number[(unit.plan, top.ordinal)]]

    def _rest_covered(self, query: Query, part_text: str) -> bool:
        """Whether what the question says besides the names is in the part's heading and item
        titles (灵魂工程要提升什么力: 提升…力 is in its heading)."""
        rest = [c for c in query.concepts if not any(c.text in n or n in c.text
                                                     for n in query.names)]
        if not rest:
            return True
        remainder = Query(query.text, query.words, rest, query.bigrams)
        return self.coverage(remainder, part_text, PART_NOISE) >= PART_NAMED_AT_LEAST

    def _says_more_than_names(self, query: Query) -> bool:
        """Whether the question has content words besides the names it says, the words
        that point at a part (部分, 主题, 内容…), words the plans never reach and words every
        plan is full of."""
        common = COMMON_WORD * self.item_words.max_idf()  # 党建 in a plan of 党建 says nothing
        return any(not any(c.text in n or n in c.text for n in query.names)
                   and not any(noise in c.text for noise in PART_NOISE) and c.known
                   and c.weight >= common
                   and not _ORDINAL_WORD.fullmatch(c.text) and c.text != query.year
                   for c in query.concepts)

    def _partial_match(self, word: str, unit_text: str, unit_sounds: set[int]) -> float:
        """A word the unit lacks may still be half there: its dictionary parts (IDF-weighted),
        or most of its character bigrams (a typo, a homophone)."""
        parts, grams = self._pieces(word)
        by_parts = sum(weight for part, weight in parts if part in unit_text)
        if not grams:
            return by_parts
        by_sounds = len(unit_sounds.intersection(grams)) / len(grams)
        return max(by_parts, by_sounds if by_sounds >= 0.5 else 0.0)

    def _pieces(self, word: str) -> tuple[list[tuple[str, float]], list[int]]:
        """A word's dictionary parts with their share of its idf, and its sound bigrams;
        computed once per word."""
        pieces = self._word_pieces.get(word)
        if pieces is None:
            if len(self._word_pieces) > MAX_CACHED_WORDS:  # questions bring endless words
                self._word_pieces.clear()
            parts = self.tokenizer.subwords(word)
            weights = [self.item_words.idf(p) or self.item_words.max_idf() for p in parts]
            total = sum(weights)
            pieces = self._word_pieces[word] = (
                [(p, w / total) for p, w in zip(parts, weights, strict=True)],
                list(set(bigram_keys(word, sounds=True)[0].tolist())))
        return pieces

    def coverage(self, query: Query, unit_text: str, ignore: frozenset[str] = frozenset()) -> float:
        """Weighted share of the question's concepts that a (normalised) text contains: a word
        itself, its parts or a near spelling; a colloquial phrase by its formal equivalents."""
        return _weighted_share(self.concepts_found(query, unit_text, ignore))

    def concepts_found(self, query: Query, unit_text: str,
                       ignore: frozenset[str] = frozenset()) -> list[tuple[Concept, float]]:
        """Each of the question's concepts with how much of it a (normalised) text holds, 0 to 1."""
        found: list[tuple[Concept, float]] = []
        unit_sounds: set[int] | None = None  # computed once, when a concept needs it
        for concept in query.concepts:
            if any(noise in concept.text for noise in ignore):
                continue
            if concept.text in unit_text:
                share = 1.0
            else:
                if unit_sounds is None:
                    unit_sounds = set(bigram_keys(unit_text, sounds=True)[0].tolist())
                share = max([w for t, w in concept.targets if t in unit_text]
                            + [self._partial_match(concept.text, unit_text, unit_sounds)])
            found.append((concept, share))
        return found


def _weighted_share(found: list[tuple[Concept, float]]) -> float:
    """The share of the concepts' weight that a text holds, from `concepts_found`."""
    total = sum(c.weight for c, _ in found)
    return sum(c.weight * share for c, share in found) / total if total else 0.0


def _intent_apart(query: Query, sentence: str) -> float:
    """How far, in the highlighted sentence, what the question asks for (a frequency, a
    number, who) is stated from the main words of the question it says, 0 (beside them) to 1
    (INTENT_APART characters or more, or not there): 预备期内和转正后1年内要各参加1次 states
    a frequency, but of the training, not how long 预备期 is. Main words: the heaviest the
    sentence says and those at least MAIN_WORD as heavy (a colloquial word it does not say
    leaves the others main)."""
    if not query.intents or not query.concepts:
        return 0.0
    text = normalize(sentence)
    said = [m.span() for intent in _most_specific(query.intents)
            for m in INTENT_PATTERNS[intent].finditer(text)]
    places = {c: [(start, start + len(term)) for term in {c.text, *(t for t, _ in c.targets)}
                  if term for start in _occurrences(term, text)] for c in query.concepts}
    heaviest = max((c.weight for c, found in places.items() if found), default=0.0)
    main = [place for c, found in places.items() if c.weight >= MAIN_WORD * heaviest
            for place in found]
    if not said or not main:
        return 1.0
    gap = min(max(0, first - end, start - last) for first, last in said for start, end in main)
    return min(gap, INTENT_APART) / INTENT_APART


def _most_specific(intents: set[str]) -> set[str]:
    """What a sentence must state to answer: an amount in the unit asked (多少钱) when the
    question asks one, not just any number (示范党支部10个 does not say how much money)."""
    return {intent for intent in intents if intent in UNIT_ASKS} or intents


def _occurrences(term: str, text: str) -> list[int]:
    starts, start = [], text.find(term)
    while start >= 0:
        starts.append(start)
        start = text.find(term, start + 1)
    return starts


def _echoed(hits: list[Hit]) -> float:
    """How much of the first hit's highlighted sentence the second hit's says too, when the
    second is an item of another plan (plans often repeat each other's sentences)."""
    if len(hits) < 2 or "part" in (hits[0].unit.kind, hits[1].unit.kind) or (
            hits[0].unit.plan == hits[1].unit.plan):
        return 0.0
    first, second = (set(bigram_keys(normalize(h.sentence))[0].tolist()) for h in hits[:2])
    return len(first & second) / max(1, min(len(first), len(second)))


def _names_a(kind: str, text: str) -> bool:
    """Whether a text quotes a name of that kind (“新苗工程”, “星火”行动)."""
    return any((m.group(2) or m.group(1)).endswith(kind) for m in _QUOTED.finditer(text))


def _parts_hit(parts: list[Unit]) -> Hit:
    """One answer holding several plans' parts of the number a question counts to, each
    under its plan's title: a member who did not say which plan sees every candidate."""
    text = "\n".join(f"《{unit.title}》{unit.text}" for unit in parts)
    if len(text) > MAX_ANSWER_CHARS:
        text = text[:MAX_ANSWER_CHARS - 1] + "…"
    first = parts[0]
    unit = Unit(first.plan, first.section, "part", text, "", f"{len(parts)}份要点中的这一部分")
    return Hit(unit, 1.0, first.text.split("\n")[0], text)


def _ancestor_headings(plan: ParsedPlan, section: Section) -> list[str]:
    """Headings of the parts and subsections above a section: their terms apply to it."""
    headings = []
    parent = section.parent
    while parent is not None:
        above = plan.sections[parent]
        if above.level in ("part", "subsection"):
            headings.append(above.heading)
        parent = above.parent
    return headings


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
    """`normalize` of many one-line texts, a slice of them per call (normalising never adds or
    removes newlines in practice; if it ever did, fall back to one call per text)."""
    normalized: list[str] = []
    for first, last in text_slices(texts):
        lines = normalize("\n".join(texts[first:last])).split("\n")
        normalized.extend(lines if len(lines) == last - first
                          else [normalize(t) for t in texts[first:last]])
    return normalized


def _sentences_matching(pattern: re.Pattern[str], sentences: list[str]) -> np.ndarray:
    """Which sentences the pattern matches, by one scan of the joined text."""
    joined = "\n".join(sentences)
    starts = np.cumsum([0] + [len(s) + 1 for s in sentences[:-1]])
    hits = np.fromiter((m.start() for m in pattern.finditer(joined)), dtype=np.int64)
    flags = np.zeros(len(sentences), dtype=bool)
    flags[np.searchsorted(starts, hits, side="right") - 1] = True
    return flags


def _sentences_stating_amounts(sentences: list[str]) -> dict[str, np.ndarray]:
    """For each unit of UNIT_ASKS, which sentences state an amount in it, by one scan."""
    joined = "\n".join(sentences)
    starts = np.cumsum([0] + [len(s) + 1 for s in sentences[:-1]])
    flags = {unit: np.zeros(len(sentences), dtype=bool) for unit in UNIT_ASKS}
    for match in AMOUNT_PATTERN.finditer(joined):
        flags[UNITS[match.group(1)]][np.searchsorted(starts, match.start(), side="right") - 1] = (
            True)
    return flags


def _bigram_index(texts: list[str], owners: np.ndarray, n_owners: int) -> Bm25Index:
    """BM25 over the character bigrams of the texts, each counted for its owner (the item a
    sentence belongs to). Two passes over slices: the distinct bigrams first, then one int64
    key per occurrence, straight into the array the index is built from."""
    distinct, total = [], 0
    for first, last in text_slices(texts):
        grams = bigram_keys("\n".join(texts[first:last]))[0]
        distinct.append(np.unique(grams))
        total += len(grams)
    vocabulary = np.unique(np.concatenate(distinct)) if distinct else np.zeros(0, np.int64)
    del distinct
    keys = np.empty(total, dtype=np.int64)
    lengths = np.zeros(n_owners, dtype=np.int64)
    filled = 0
    for first, last in text_slices(texts):
        chunk = texts[first:last]
        grams, positions = bigram_keys("\n".join(chunk))
        starts = np.cumsum([0] + [len(t) + 1 for t in chunk[:-1]])
        owner = owners[np.searchsorted(starts, positions, side="right") - 1 + first]
        lengths += np.bincount(owner, minlength=n_owners)
        part = keys[filled:filled + len(grams)]
        np.multiply(np.searchsorted(vocabulary, grams), max(n_owners, 1), out=part)
        part += owner
        filled += len(grams)
    return Bm25Index.from_keys(vocabulary, keys, n_owners, lengths)


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
