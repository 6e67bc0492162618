"""A BM25 index stored as compressed postings (CSR arrays), built from (term, document) pairs.

The tokenizer is injected (rank_bm25's design): jieba words or character bigrams in production,
whitespace in tiny exact-score tests. Building from pairs lets one tokenization of sentences
serve both the sentence index and the item index (pairs regrouped by item).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

Tokenize = Callable[[str], list[str]]
M_MMAP_THRESHOLD = -3
NEGLIGIBLE_IDF = 0.1


@functools.cache
def tune_allocator() -> None:
    """Keep glibc from raising its mmap threshold after large numpy temporaries are freed;
    otherwise later index builds reuse the heap and the process keeps hundreds of MB it no
    longer needs (measured: 750 MB vs 400 MB resident after a 1,000-document build)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 256 * 1024)


class Bm25Index:
    """Okapi BM25 (k1, b) with idf = ln(1 + (N - df + 0.5) / (df + 0.5)), never negative."""

    def __init__(
        self,
        texts: Sequence[str] | None = None,
        *,
        tokenize: Tokenize = str.split,
        tokens: Iterable[Sequence[Hashable]] | None = None,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        token_lists = tokens if tokens is not None else (tokenize(t) for t in texts or ())
        vocabulary: dict[Hashable, int] = {}
        term_ids: list[int] = []
        doc_ids: list[int] = []
        n_docs = 0
        for doc_id, doc_tokens in enumerate(token_lists):
            n_docs = doc_id + 1
            term_ids.extend(vocabulary.setdefault(t, len(vocabulary)) for t in doc_tokens)
            doc_ids.extend([doc_id] * len(doc_tokens))
        self.tokenize = tokenize
        docs = np.asarray(doc_ids, dtype=np.int64)
        keys = np.asarray(term_ids, dtype=np.int64) * max(n_docs, 1) + docs
        self._build(vocabulary, keys, n_docs, np.bincount(docs, minlength=n_docs), k1, b)

    @classmethod
    def from_pairs(
        cls, vocabulary: Mapping[Any, int] | np.ndarray, term_ids: np.ndarray,
        doc_ids: np.ndarray, n_docs: int, *, k1: float = 1.2, b: float = 0.75,
    ) -> Bm25Index:
        """Build from one (term id, document id) pair per token occurrence.

        `vocabulary` maps terms to ids; it may be shared between indexes (it is not copied),
        or be a sorted array of integer terms whose positions are their ids (compact for the
        hundreds of thousands of character bigrams of a large corpus)."""
        keys = term_ids.astype(np.int64)
        keys *= max(n_docs, 1)
        keys += doc_ids
        return cls.from_keys(vocabulary, keys, n_docs, np.bincount(doc_ids, minlength=n_docs),
                             k1=k1, b=b)

    @classmethod
    def from_keys(
        cls, vocabulary: Mapping[Any, int] | np.ndarray, keys: np.ndarray, n_docs: int,
        lengths: np.ndarray, *, k1: float = 1.2, b: float = 0.75,
    ) -> Bm25Index:
        """Build from one key (term id × n_docs + document id) per token occurrence, and each
        document's length. `keys` is sorted in place and consumed: one array is all a large
        corpus needs besides the index itself."""
        index = cls.__new__(cls)
        index.tokenize = str.split
        index._build(vocabulary, keys, n_docs, lengths, k1, b)
        return index

    def _build(self, vocabulary: Mapping[Any, int] | np.ndarray, keys: np.ndarray,
               n_docs: int, lengths: np.ndarray, k1: float, b: float) -> None:
        self.k1, self.b, self.size = k1, b, n_docs
        self.vocabulary = vocabulary
        self.lengths = lengths.astype(np.float32)
        avgdl = float(self.lengths.mean()) if n_docs else 1.0
        # sorted (term, doc) keys: runs of equal keys are term frequencies
        keys.sort()
        first_of_run = np.empty(len(keys), dtype=bool)
        if len(keys):
            first_of_run[0] = True
            np.not_equal(keys[1:], keys[:-1], out=first_of_run[1:])
        starts = np.flatnonzero(first_of_run)
        del first_of_run
        distinct = keys[starts]
        total = len(keys)
        if keys.flags.owndata:
            keys.resize(0, refcheck=False)  # consumed: freed now, not when the caller lets go
        # run lengths, term and document ids written straight into 32-bit arrays
        tf = np.empty(len(starts), dtype=np.float32)
        np.subtract(starts[1:], starts[:-1], out=tf[:-1], casting="unsafe")
        if len(starts):
            tf[-1] = total - starts[-1]
        del starts
        terms = np.empty(len(distinct), dtype=np.int32)
        np.floor_divide(distinct, max(n_docs, 1), out=terms, casting="unsafe")
        self.doc_ids = np.empty(len(distinct), dtype=np.int32)
        np.remainder(distinct, max(n_docs, 1), out=self.doc_ids, casting="unsafe")
        del distinct
        n_terms = len(vocabulary)
        df = np.bincount(terms, minlength=n_terms)
        self.offsets = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self.idf_array = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = (k1 * (1 - b + b * self.lengths / max(avgdl, 1e-9))).astype(np.float32)
        tf /= tf + norm[self.doc_ids]
        tf *= self.idf_array[terms] * (k1 + 1)
        self.weights = tf

    def __len__(self) -> int:
        return self.size

    def _row(self, term: Hashable) -> int | None:
        """The term's id if some document contains it."""
        if isinstance(self.vocabulary, np.ndarray):
            row = int(np.searchsorted(self.vocabulary, term))  # type: ignore[call-overload]
            if row >= len(self.vocabulary) or self.vocabulary[row] != term:
                return None
        else:
            found = self.vocabulary.get(term)
            if found is None:
                return None
            row = found
        return row if self.offsets[row + 1] > self.offsets[row] else None

    def __contains__(self, term: Hashable) -> bool:
        return self._row(term) is not None

    def idf(self, term: Hashable) -> float | None:
        row = self._row(term)
        return None if row is None else float(self.idf_array[row])

    def idf_weighted(self, weighted: Mapping[Any, float]) -> tuple[np.ndarray, np.ndarray]:
        """The terms of a weighted query that this index (of integer keys) has postings for,
        ascending, and each one's weight times its idf."""
        assert isinstance(self.vocabulary, np.ndarray), "terms of an array vocabulary only"
        rows, weights = self._rows(weighted)
        order = np.argsort(rows)
        rows = rows[order]
        return self.vocabulary[rows], weights[order] * self.idf_array[rows]

    def max_idf(self) -> float:
        """The idf a term would have if it occurred once: what an unseen term is worth."""
        return math.log(1 + (self.size - 1 + 0.5) / 1.5) if self.size else 0.0

    def scores(self, query: Sequence[Any] | Mapping[Any, float]) -> np.ndarray:
        """BM25 score of every document; a mapping weights its terms. The postings of all the
        query's terms are summed in one count, whatever their number (a question has dozens of
        character bigrams)."""
        weighted: Mapping[Any, float]
        if isinstance(query, Mapping):
            weighted = query
        else:
            weighted = {}
            for term in query:
                weighted[term] = weighted.get(term, 0.0) + 1.0  # type: ignore[index]
        return self._summed(*self._rows(weighted))

    def scores_of(self, query: Mapping[Any, float], docs: np.ndarray) -> np.ndarray:
        """BM25 scores of the given documents only (ascending ids): each term's postings are
        sorted by document, so they are found by binary search instead of scoring the whole
        corpus, unless the terms' postings and a pass over every document are fewer than the
        searches would make (a small corpus). The sums are taken term by term either way."""
        rows, term_weights = self._rows(query)
        if not rows.size:
            return np.zeros(len(docs), dtype=np.float64)
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        if int((ends - starts).sum()) + self.size <= len(docs) * len(rows):
            return self._summed(rows, term_weights)[docs]
        # for each term in turn and each document, where it is (or would be) in the postings
        docs = docs.astype(self.doc_ids.dtype)  # searched as they are, not cast every time
        at = np.concatenate([np.searchsorted(self.doc_ids[start:end], docs)
                             for start, end in zip(starts.tolist(), ends.tolist(), strict=True)])
        at += np.repeat(starts, len(docs))
        np.minimum(at, np.repeat(ends - 1, len(docs)), out=at)  # past the last: not there
        present = self.doc_ids[at] == np.tile(docs, len(rows))
        weights = self.weights[at[present]] * np.repeat(
            term_weights.astype(np.float32), len(docs))[present]
        return np.bincount(np.tile(np.arange(len(docs)), len(rows))[present], weights=weights,
                           minlength=len(docs))

    def _summed(self, rows: np.ndarray, term_weights: np.ndarray) -> np.ndarray:
        """Every document's sum of the rows' postings, each times its term's weight, term by
        term: the postings of all the terms gathered and summed in one count."""
        if not rows.size:
            return np.zeros(self.size, dtype=np.float64)
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        bounds = list(zip(starts.tolist(), ends.tolist(), strict=True))
        weights = np.concatenate([self.weights[start:end] for start, end in bounds])
        weights *= np.repeat(term_weights.astype(np.float32), ends - starts)
        return np.bincount(np.concatenate([self.doc_ids[start:end] for start, end in bounds]),
                           weights=weights, minlength=self.size)

    def _rows(self, weighted: Mapping[Any, float]) -> tuple[np.ndarray, np.ndarray]:
        """Rows (term ids with postings) of the weighted terms this index knows, and weights."""
        if isinstance(self.vocabulary, np.ndarray):
            terms = np.fromiter(weighted.keys(), dtype=np.int64, count=len(weighted))
            weights = np.fromiter(weighted.values(), dtype=np.float64, count=len(weighted))
            rows = np.searchsorted(self.vocabulary, terms)
            found = rows < len(self.vocabulary)
            found[found] = self.vocabulary[rows[found]] == terms[found]
            rows, weights = rows[found], weights[found]
        else:
            rows = np.fromiter((self.vocabulary.get(t, -1) for t in weighted), dtype=np.int64,
                               count=len(weighted))
            weights = np.fromiter(weighted.values(), dtype=np.float64, count=len(weighted))
            known = rows >= 0
            rows, weights = rows[known], weights[known]
        # a term in (nearly) every document adds (nearly) nothing, and costs the most
        telling = self.idf_array[rows] >= NEGLIGIBLE_IDF
        return rows[telling], weights[telling]

    def get_scores(self, text: str) -> np.ndarray:
        return self.scores(self.tokenize(text))
