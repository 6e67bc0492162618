"""Segmentation: jieba's dictionary and behaviour through jieba-rs (the `rjieba` binding, the
same words as jieba's own `lcut(HMM=False)`, a test checks it on the plans, at a tenth of the
time and with no start-up load), plus character bigrams against typos.

Text is normalised first (traditional -> simplified, full-width -> half-width, lower case), so a
question typed in 繁體 or with full-width digits meets the plan's own words.
"""

from __future__ import annotations

import marshal
import math
import os
import re
from array import array
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import rjieba

from content.lexicon import STOPWORDS

DOMAIN_DICT = Path(__file__).resolve().parent / "dict" / "domain.txt"
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)

DOMAIN_WORD_FREQ = 1500
SLICE_CHARS = 200_000
RARITY_FLOOR, RARITY_SPAN = 8.0, 5.0  # general-language idf: ≤ 8 everyday, ≥ 13 specific
CJK_FIRST, CJK_LAST = 0x4E00, 0x9FFF
SOUND_BASE = 0x110000


def cache_dir() -> Path:
    """Where tables derived from packages' data are cached between runs (fast CLI start-up)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "dangjian"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_atomically(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Write through a temporary file, so a concurrent reader never sees half a table."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with partial.open("wb") as handle:
        write(handle)
    os.replace(partial, path)


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


@lru_cache(maxsize=1)
def _traditional_table() -> np.ndarray:
    """`_traditional_only` as a lookup table over every code point."""
    table = np.zeros(SOUND_BASE, dtype=bool)
    table[[ord(ch) for ch in _traditional_only()]] = True
    return table


# full-width ASCII forms (what phone keyboards type: ＡＢＣ１２３，？) and the ideographic space
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: ord(" ")}
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")
ARRAY_CHARS = 100  # from this length on, normalising as an array of code points is quicker


def normalize(text: str) -> str:
    """Full-width -> half-width, lower case, traditional -> simplified. (A translation table
    for the full-width block rather than NFKC: the same for Chinese text, many times faster
    on a large corpus. Longer text is folded as an array of code points: a translation table
    and a set look each character up one by one.)"""
    if len(text) >= ARRAY_CHARS:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
        _fold_width(codes)
        traditional = bool(_traditional_table()[codes].any())
        text = codes.tobytes().decode("utf-32-le", "surrogatepass").lower()
    else:
        if _FULL_WIDTH.search(text):
            text = text.translate(_HALF_WIDTH)
        text = text.lower()
        traditional = not _traditional_only().isdisjoint(text)
    return _converter().convert(text) if traditional else text


def _fold_width(codes: np.ndarray) -> None:
    """Full-width ASCII forms and the ideographic space to their half-width forms, in place."""
    codes[(codes >= 0xFF01) & (codes <= 0xFF5E)] -= 0xFEE0
    codes[codes == 0x3000] = ord(" ")


@lru_cache(maxsize=1)
def general_frequencies() -> tuple[int, dict[str, int]]:
    """The total count of jieba's own dictionary and the words common enough to matter for
    `rarity` (the rest count as rare), cached on disk: jieba's figures without loading jieba."""
    from importlib import metadata

    path = cache_dir() / f"general-frequencies-{metadata.version('jieba')}.marshal"
    if path.exists():
        return marshal.loads(path.read_bytes())
    import jieba

    frequencies: dict[str, int] = {}
    with (Path(jieba.__file__).parent / "dict.txt").open(encoding="utf-8") as lines:
        for line in lines:
            word, count, _ = line.split(" ", 2)
            frequencies[word] = int(count)
    total = sum(frequencies.values())
    least = total * math.exp(-(RARITY_FLOOR + RARITY_SPAN))
    common = {word: count for word, count in frequencies.items() if count > least}
    save_atomically(path, lambda handle: marshal.dump((total, common), handle))
    return total, common


def text_slices(texts: list[str], chars: int = SLICE_CHARS) -> Iterator[tuple[int, int]]:
    """(first, last) bounds of consecutive texts of about `chars` characters in all: a large
    corpus is processed a slice at a time, so temporaries stay small."""
    first = 0
    while first < len(texts):
        last, size = first, 0
        while last < len(texts) and size < chars:
            size += len(texts[last]) + 1
            last += 1
        yield first, last
        first = last


def is_content(token: str) -> bool:
    """Not a stopword, not whitespace or punctuation."""
    return bool(token.strip()) and token not in STOPWORDS and not _NOISE.fullmatch(token)


class Tokenizer:
    """jieba word segmentation (jieba-rs) with the domain dictionary; one instance per process."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        self._jieba = rjieba.Jieba()
        self._added: dict[str, int] = {}
        # the words added beyond the domain dictionary: Tokenizer(extra_words) is an equal
        # tokenizer (the parse worker builds indexes with one)
        self.extra_words: list[str] = []
        for line in DOMAIN_DICT.read_text("utf-8").splitlines():
            word, *rest = line.split() or [""]
            if word:
                self._add(word, int(rest[0]) if rest else DOMAIN_WORD_FREQ,
                          rest[1] if len(rest) > 1 else None)
        self.add_words(extra_words)

    def _add(self, word: str, freq: int, tag: str | None = None) -> None:
        self._added[word] = self._jieba.add_word(word, freq, tag)

    def add_words(self, words: Iterable[str]) -> None:
        for word in words:
            if len(word) >= 2:
                self._add(word, DOMAIN_WORD_FREQ)
                self.extra_words.append(word)

    def words(self, text: str, *, normalized: bool = False) -> list[str]:
        """Content words of `text` (stopwords and punctuation dropped)."""
        text = text if normalized else normalize(text)
        return [token for token in self._jieba.cut(text, False) if is_content(token)]

    def index_words(self, texts: list[str]) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        """(vocabulary, term id, text id) of every content word of many normalised one-line
        texts, as compact arrays. The texts are segmented a slice at a time, joined by newlines
        (a separator to jieba: the same words as one call per text, with far fewer calls);
        which tokens are content words is decided once per distinct token."""
        every: dict[str, int] = {"\n": 0}
        ids = array("i")
        for first, last in text_slices(texts):
            tokens = self._jieba.cut("\n".join(texts[first:last]), False)
            ids.extend([every.setdefault(t, len(every)) for t in tokens])
            ids.append(0)
        all_ids = np.frombuffer(ids, dtype=np.int32)
        breaks = all_ids == 0
        text_of = np.cumsum(breaks, dtype=np.int32)
        text_of -= breaks  # the text each token belongs to
        content = [t for t in every if is_content(t)]
        new_id = np.full(len(every), -1, dtype=np.int32)
        new_id[[every[t] for t in content]] = np.arange(len(content), dtype=np.int32)
        mapped = new_id[all_ids]
        del all_ids, ids
        keep = mapped >= 0
        vocabulary = {t: n for n, t in enumerate(content)}
        return vocabulary, mapped[keep], text_of[keep]

    def subwords(self, word: str) -> list[str]:
        """Shorter dictionary words inside `word` (组织学 -> 组织), as jieba's search mode finds."""
        return [w for w in self._jieba.cut_for_search(word, False) if w != word and len(w) > 1]

    def in_dictionary(self, word: str) -> bool:
        """Whether jieba knows the word (a word it does not know may be a typo)."""
        return self._jieba.has_word(word)

    def rarity(self, word: str) -> float:
        """How specific a word is in general Chinese, from 0.1 (因为, 单位) to 1.0 (加班费).

        Taken from jieba's dictionary frequencies; a word jieba does not know is as rare as its
        rarest character allows (a run like 名拿 is ordinary, 将堂 a typo of something rarer).
        """
        if not self._jieba.has_word(word) and len(word) > 1:
            return max(self.rarity(ch) for ch in word)
        total, common = general_frequencies()
        freq = self._added.get(word) or common.get(word)
        if not freq:
            return 1.0
        return min(1.0, max(0.1, (math.log(total / freq) - RARITY_FLOOR) / RARITY_SPAN))

    def raw_words(self, text: str) -> list[str]:
        """Every token of normalised text in order, stopwords kept."""
        return [t for t in self._jieba.cut(text, False) if t.strip()]

    __call__ = words


def normalized_codes(text: str) -> np.ndarray:
    """The code points of `normalize(text)`, with width and case folded on the array (many
    times faster than str.translate for a query-time read of a few items); text with
    traditional characters goes through `normalize` itself."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    if _traditional_table()[codes].any():
        codes = np.frombuffer(normalize(text).encode("utf-32-le"),
                              dtype=np.uint32).astype(np.int64)
    _fold_width(codes)
    upper = (codes >= 0x41) & (codes <= 0x5A)
    codes[upper] += 0x20
    return codes


def bigram_keys(text: str | np.ndarray, sounds: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of adjacent CJK/alphanumeric character pairs of normalised `text` (or of
    its `normalized_codes`), and the position of each pair; pairs never span punctuation.
    With `sounds`, each Chinese character stands for its toneless pinyin syllable, so
    homophone typos (将堂/讲堂) share keys. Vectorised for corpus-sized text."""
    codes = (text.copy() if isinstance(text, np.ndarray) else
             np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64))
    _numerals_as_digits(codes)
    keep = _IN_BIGRAMS[codes]
    if sounds:
        cjk = (codes >= CJK_FIRST) & (codes <= CJK_LAST)
        codes[cjk] = SOUND_BASE + pinyin_table()[codes[cjk] - CJK_FIRST]
    positions = np.flatnonzero(keep[:-1] & keep[1:])
    return (codes[positions] << 21) | codes[positions + 1], positions


_IN_BIGRAMS = np.zeros(SOUND_BASE, dtype=bool)  # CJK, digits and (lower-case) letters
_IN_BIGRAMS[CJK_FIRST:CJK_LAST + 1] = True
_IN_BIGRAMS[ord("0"):ord("9") + 1] = True
_IN_BIGRAMS[ord("a"):ord("z") + 1] = True


_NUMERALS = {ord(n): ord(d) for n, d in zip("一二两三四五六七八九", "1223456789", strict=True)}
_IS_NUMERAL = np.zeros(SOUND_BASE, dtype=bool)
_IS_NUMERAL[list(_NUMERALS)] = True
_IS_COUNTER = np.zeros(SOUND_BASE, dtype=bool)
_IS_COUNTER[[ord(c) for c in "次个名项条年月天周人场篇批家届倍学课期"]] = True


def _numerals_as_digits(codes: np.ndarray) -> None:
    """A numeral before a counter is its digit (一次 -> 1次, 两个 -> 2个), in place: the plans
    write both, and so do members."""
    if len(codes) < 2:
        return
    where = np.nonzero(_IS_NUMERAL[codes[:-1]] & _IS_COUNTER[codes[1:]])[0]
    for position in where.tolist():
        codes[position] = _NUMERALS[int(codes[position])]


def syllables(word: str) -> tuple[int, ...]:
    """Toneless pinyin syllable ids of a Chinese word (-1 for other characters, which sound
    like no Chinese character)."""
    table = pinyin_table()
    return tuple(
        int(table[ord(ch) - CJK_FIRST]) if CJK_FIRST <= ord(ch) <= CJK_LAST else -1
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
    save_atomically(path, lambda handle: np.save(handle, table))
    return table
