"""Segmentation: jieba with the domain dictionary, plus character bigrams against typos.

Text is normalised first (traditional -> simplified, full-width -> half-width, lower case), so a
question typed in 繁體 or with full-width digits meets the plan's own words.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import jieba

from content.lexicon import STOPWORDS

DOMAIN_DICT = Path(__file__).resolve().parent / "dict" / "domain.txt"
_CJK_OR_WORD = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]+")
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)

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


def normalize(text: str) -> str:
    """NFKC (full-width -> half-width), lower case, traditional -> simplified."""
    text = unicodedata.normalize("NFKC", text).lower()
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
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

    def raw_words(self, text: str) -> list[str]:
        """Every token of normalised text, stopwords kept (for phrase and intent checks)."""
        return [t for t in self._jieba.lcut(normalize(text), HMM=False) if t.strip()]

    __call__ = words


def bigrams(text: str, *, normalized: bool = False) -> list[str]:
    """Overlapping character bigrams of the CJK/alphanumeric stream, punctuation removed."""
    text = text if normalized else normalize(text)
    chars = _CJK_OR_WORD.findall(text)
    return [chars[i] + chars[i + 1] for i in range(len(chars) - 1)]
