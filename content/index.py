"""A BM25 index over token lists, stored as per-term posting arrays for fast weighted queries.

The tokenizer is injected (rank_bm25's design): jieba words or character bigrams in production,
whitespace in tiny exact-score tests.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

Tokenize = Callable[[str], list[str]]


class Bm25Index:
    """Okapi BM25 (k1, b) with idf = ln(1 + (N - df + 0.5) / (df + 0.5)), never negative."""

    def __init__(
        self,
        texts: Sequence[str] | None = None,
        *,
        tokenize: Tokenize = str.split,
        tokens: Iterable[Sequence[str]] | None = None,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        self.tokenize = tokenize
        self.k1, self.b = k1, b
        token_lists = tokens if tokens is not None else (tokenize(t) for t in texts or ())
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths: list[int] = []
        for doc_id, doc_tokens in enumerate(token_lists):
            lengths.append(len(doc_tokens))
            for term, tf in Counter(doc_tokens).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(doc_id)
                tfs.append(tf)
        self.size = len(lengths)
        self.lengths = np.asarray(lengths, dtype=np.float32)
        avgdl = float(self.lengths.mean()) if self.size else 1.0
        norm = k1 * (1 - b + b * self.lengths / max(avgdl, 1e-9))
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.idf: dict[str, float] = {}
        for term, (ids, tfs) in postings.items():
            id_array = np.asarray(ids, dtype=np.int32)
            tf_array = np.asarray(tfs, dtype=np.float32)
            idf = math.log(1 + (self.size - len(ids) + 0.5) / (len(ids) + 0.5))
            self.idf[term] = idf
            weights = idf * tf_array * (k1 + 1) / (tf_array + norm[id_array])
            self._postings[term] = (id_array, weights.astype(np.float32))

    def __len__(self) -> int:
        return self.size

    def max_idf(self) -> float:
        """The idf a term would have if it occurred once: what an unseen term is worth."""
        return math.log(1 + (self.size - 1 + 0.5) / 1.5) if self.size else 0.0

    def scores(self, query: Sequence[str] | dict[str, float]) -> np.ndarray:
        """BM25 score of every document; a dict query weights its terms."""
        weighted = query if isinstance(query, dict) else Counter(query)
        scores = np.zeros(self.size, dtype=np.float32)
        for term, weight in weighted.items():
            posting = self._postings.get(term)
            if posting is not None:
                scores[posting[0]] += weight * posting[1]
        return scores

    def get_scores(self, text: str) -> np.ndarray:
        return self.scores(self.tokenize(text))

    def documents_with(self, term: str) -> np.ndarray:
        posting = self._postings.get(term)
        return posting[0] if posting is not None else np.zeros(0, dtype=np.int32)
