"""Segmentation: jieba with the domain dictionary, plus character bigrams against typos.

Text is normalised first (traditional -> simplified, full-width -> half-width, lower case), so a
question typed in 繁體 or with full-width digits meets the plan's own words.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
from array import array
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import jieba
import numpy as np

from content.lexicon import STOPWORDS

DOMAIN_DICT = Path(__file__).resolve().parent / "dict" / "domain.txt"
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)

PARALLEL_ABOVE_CHARS = 2_000_000
RARITY_FLOOR, RARITY_SPAN = 8.0, 5.0  # general-language idf: ≤ 8 everyday, ≥ 13 specific
CJK_FIRST, CJK_LAST = 0x4E00, 0x9FFF
SOUND_BASE = 0x110000

jieba.setLogLevel(logging.WARNING)


def cache_dir() -> Path:
    """Where jieba's prefix dictionary is cached between runs (fast CLI start-up)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "dangjian"
    path.mkdir(parents=True, exist_ok=True)
    return path


@lru_cache(maxsize=1)
def _converter():  # type: ignore[no-untyped-def]
    from opencc import OpenCC

    return OpenCC("t2s")


@lru_cache(maxsize=1)
def _traditional_only() -> frozenset[str]:
    """Characters that OpenCC's t2s table changes: text without them needs no conversion."""
    import opencc

    table = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    chars = {
        line.split("\t", 1)[0]
        for line in table.read_text("utf-8").splitlines()
        if "\t" in line and len(line.split("\t", 1)[0]) == 1
        and line.split("\t", 1)[0] not in line.split("\t", 1)[1].split()
    }
    return frozenset(chars)


# full-width ASCII forms (what phone keyboards type: ＡＢＣ１２３，？) and the ideographic space
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")


def _half_width(match: re.Match[str]) -> str:
    char = match.group()
    return " " if char == "\u3000" else chr(ord(char) - 0xFEE0)


def normalize(text: str) -> str:
    """Full-width -> half-width, lower case, traditional -> simplified. (A regular expression
    over the full-width block rather than NFKC: the same for Chinese text, five times faster
    on a large corpus.)"""
    text = _FULL_WIDTH.sub(_half_width, text).lower()
    if not _traditional_only().isdisjoint(text):
        text = _converter().convert(text)
    return text


class Tokenizer:
    """jieba word segmentation with the domain dictionary; one instance per process."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        self._jieba = jieba.Tokenizer()
        self._jieba.tmp_dir = str(cache_dir())
        self._jieba.initialize()
        self._jieba.load_userdict(str(DOMAIN_DICT))
        for word in extra_words:
            self._jieba.add_word(word, freq=1500)

    def add_words(self, words: Iterable[str]) -> None:
        for word in words:
            if len(word) >= 2:
                self._jieba.add_word(word, freq=1500)

    def words(self, text: str, *, normalized: bool = False) -> list[str]:
        """Content words of `text` (stopwords and punctuation dropped)."""
        text = text if normalized else normalize(text)
        return [
            token for token in self._jieba.lcut(text, HMM=False)
            if token.strip() and token not in STOPWORDS and not _NOISE.fullmatch(token)
        ]

    def index_words(self, texts: list[str]) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        """(vocabulary, term id, text id) of every word of many normalised texts, as compact
        arrays; large corpora are segmented by worker processes (jieba is pure Python)."""
        chunk_size = max(1, -(-len(texts) // 16))
        chunks = [texts[i:i + chunk_size] for i in range(0, len(texts), chunk_size)]
        if sum(map(len, texts)) < PARALLEL_ABOVE_CHARS or (os.cpu_count() or 1) < 2:
            parts = [self._word_ids(chunk) for chunk in chunks]
        else:
            global _worker_tokenizer
            _worker_tokenizer = self
            with multiprocessing.get_context("fork").Pool(min(os.cpu_count() or 2, 4)) as pool:
                parts = pool.map(_word_ids_of_chunk, chunks)
        vocabulary: dict[str, int] = {}
        term_ids, doc_ids = [], []
        first_doc = 0
        for (local_words, local_ids, lengths), chunk in zip(parts, chunks, strict=True):
            to_global = np.fromiter(
                (vocabulary.setdefault(w, len(vocabulary)) for w in local_words),
                dtype=np.int64, count=len(local_words),
            )
            term_ids.append(to_global[local_ids].astype(np.int32))
            doc_ids.append(np.repeat(np.arange(first_doc, first_doc + len(chunk),
                                               dtype=np.int32), lengths))
            first_doc += len(chunk)
        if not parts:
            return vocabulary, np.zeros(0, np.int32), np.zeros(0, np.int32)
        return vocabulary, np.concatenate(term_ids), np.concatenate(doc_ids)

    def _word_ids(self, texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Local vocabulary, word ids and per-text word counts of one chunk of texts."""
        local: dict[str, int] = {}
        ids = array("l")
        lengths = array("l")
        for text in texts:
            words = self.words(text, normalized=True)
            ids.extend(local.setdefault(w, len(local)) for w in words)
            lengths.append(len(words))
        return list(local), np.frombuffer(ids, dtype=np.int64), np.frombuffer(lengths,
                                                                                dtype=np.int64)

    def subwords(self, word: str) -> list[str]:
        """Shorter dictionary words inside `word` (组织学 -> 组织), as jieba's search mode finds."""
        return [w for w in self._jieba.cut_for_search(word, HMM=False) if w != word and len(w) > 1]

    def in_dictionary(self, word: str) -> bool:
        """Whether jieba knows the word (a word it does not know may be a typo)."""
        return self._jieba.FREQ.get(word, 0) > 0

    def rarity(self, word: str) -> float:
        """How specific a word is in general Chinese, from 0.1 (因为, 单位) to 1.0 (加班费).

        Taken from jieba's dictionary frequencies; a word jieba does not know is as rare as its
        rarest character allows (a run like 名拿 is ordinary, 将堂 a typo of something rarer).
        """
        freq = self._jieba.FREQ.get(word, 0)
        if not freq:
            if len(word) > 1:
                return max(self.rarity(ch) for ch in word)
            return 1.0
        general_idf = math.log(self._jieba.total / freq)
        return min(1.0, max(0.1, (general_idf - RARITY_FLOOR) / RARITY_SPAN))

    def raw_words(self, text: str) -> list[str]:
        """Every token of normalised text in order, stopwords kept."""
        return [t for t in self._jieba.lcut(text, HMM=False) if t.strip()]

    __call__ = words


_worker_tokenizer: Tokenizer | None = None


def _word_ids_of_chunk(texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    assert _worker_tokenizer is not None
    return _worker_tokenizer._word_ids(texts)


def bigram_keys(text: str, sounds: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of adjacent CJK/alphanumeric character pairs of normalised `text`, and the
    position of each pair; pairs never span punctuation. With `sounds`, each Chinese character
    stands for its toneless pinyin syllable, so homophone typos (将堂/讲堂) share keys.
    Vectorised for corpus-sized text."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    cjk = (codes >= CJK_FIRST) & (codes <= CJK_LAST)
    keep = cjk | ((codes >= 0x30) & (codes <= 0x39)) | ((codes >= 0x61) & (codes <= 0x7A))
    if sounds:
        codes = codes.copy()
        codes[cjk] = SOUND_BASE + pinyin_table()[codes[cjk] - CJK_FIRST]
    pair = keep[:-1] & keep[1:]
    positions = np.nonzero(pair)[0]
    return (codes[positions] << 21) | codes[positions + 1], positions


def syllables(word: str) -> tuple[int, ...]:
    """Toneless pinyin syllable ids of a Chinese word (0 for other characters)."""
    table = pinyin_table()
    return tuple(
        int(table[ord(ch) - CJK_FIRST]) if CJK_FIRST <= ord(ch) <= CJK_LAST else 0
        for ch in word
    )


@lru_cache(maxsize=1)
def pinyin_table() -> np.ndarray:
    """Syllable id of every CJK unified ideograph (pypinyin), cached on disk for fast starts."""
    path = cache_dir() / "pinyin-table.npy"
    if path.exists():
        return np.load(path)
    from pypinyin import Style, lazy_pinyin

    syllables: dict[str, int] = {}
    table = np.zeros(CJK_LAST - CJK_FIRST + 1, dtype=np.int64)
    for offset in range(len(table)):
        reading = lazy_pinyin(chr(CJK_FIRST + offset), style=Style.NORMAL, errors="ignore")
        table[offset] = syllables.setdefault(reading[0] if reading else "", len(syllables))
    partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(partial, table)
    os.replace(partial, path)
    return table
