"""BM25 on tiny corpora with exact expected scores (whitespace tokenizer injected)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from content.index import Bm25Index


def bm25(tf: int, df: int, n: int, length: int, avgdl: float, k1=1.2, b=0.75) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))


def test_scores_match_the_okapi_formula_exactly():
    docs = ["a b c a", "b c d", "a a a e", "f"]
    index = Bm25Index(docs)
    avgdl = (4 + 3 + 4 + 1) / 4
    expected = [
        bm25(2, 2, 4, 4, avgdl) + bm25(1, 2, 4, 4, avgdl),
        bm25(1, 2, 4, 3, avgdl),
        bm25(3, 2, 4, 4, avgdl),
        0.0,
    ]
    assert index.get_scores("a c") == pytest.approx(expected, rel=1e-5)


def test_weighted_query_scales_each_term_and_unknown_terms_score_nothing():
    index = Bm25Index(["x y", "y z", "z z"])
    plain = index.scores(["x", "z"])
    weighted = index.scores({"x": 2.0, "z": 0.5, "unknown": 9.0})
    x_only, z_only = index.scores(["x"]), index.scores(["z"])
    assert weighted == pytest.approx(2.0 * x_only + 0.5 * z_only)
    assert plain == pytest.approx(x_only + z_only)
    assert "unknown" not in index and index.idf("unknown") is None


def test_pairs_and_token_lists_build_the_same_index():
    """One tokenisation serves sentence and item indexes: building from pairs is equivalent."""
    tokens = [["a", "b"], ["b", "b", "c"], ["c"]]
    vocabulary = {"a": 0, "b": 1, "c": 2}
    terms = np.array([vocabulary[t] for doc in tokens for t in doc])
    docs = np.array([d for d, doc in enumerate(tokens) for _ in doc])
    from_pairs = Bm25Index.from_pairs(vocabulary, terms, docs, 3)
    from_tokens = Bm25Index(tokens=tokens)
    for query in (["a"], ["b", "c"], ["c", "c"]):
        assert from_pairs.scores(query) == pytest.approx(from_tokens.scores(query))


def test_integer_vocabulary_is_looked_up_by_binary_search():
    keys = np.array([10, 20, 30])
    index = Bm25Index.from_pairs(keys, np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1]), 2)
    assert 20 in index and 25 not in index
    assert index.scores({30: 1.0})[1] > 0 and index.scores({30: 1.0})[0] == 0


def test_rarer_terms_weigh_more():
    index = Bm25Index(["common rare", "common", "common"])
    assert index.idf("rare") > index.idf("common") > 0


def test_scores_of_some_documents_are_exactly_their_scores_either_way():
    """Searched in long postings or summed from short ones, the scores of a few documents are
    those `scores` gives them, to the last bit."""
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(list("abcdefgh"), size=rng.integers(1, 9))) for _ in range(300)]
    index = Bm25Index(texts)
    query = {"a": 1.0, "c": 0.7, "h": 0.35}
    for docs in (np.array([0, 5, 17, 250]), np.arange(300)):
        assert index.scores_of(query, docs).tolist() == index.scores(query)[docs].tolist()
