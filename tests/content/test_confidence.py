"""The confidence levels: the least expected cost under calibrated probabilities, and the
shipped model fitted on the features the search computes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from content.confidence import MODEL_FILE, Evidence, Model, Trees, model

COSTS = {
    "high": {"right": 0.0, "wrong": 4.0, "unrelated": 4.0},
    "low": {"right": 1.0, "wrong": 1.0, "unrelated": 2.0},
    "none": {"right": 4.0, "wrong": 1.0, "unrelated": 0.0},
}
N = len(Evidence.names())
COVERAGE = Evidence.names().index("coverage")


def on(feature: int, cuts: list[float], values: list[float]) -> Trees:
    """One tree that reads one feature: values[n] (log-odds) up to cuts[n], the last value
    above the last cut (a chain of splits, each leaf pointing to itself)."""
    feature_of, threshold, left, right, value = [], [], [], [], []
    for n, cut in enumerate(cuts):
        split, leaf = 2 * n, 2 * n + 1
        feature_of += [feature, 0]
        threshold += [cut, 0.0]
        left += [leaf, leaf]
        right += [split + 2, leaf]
        value += [0.0, values[n]]
    last = 2 * len(cuts)
    feature_of.append(0)
    threshold.append(0.0)
    left.append(last)
    right.append(last)
    value.append(values[-1])
    return Trees({"baseline": 0.0, "depth": len(cuts), "roots": [0], "feature": feature_of,
                  "threshold": threshold, "left": left, "right": right, "value": value})


# P(right) rises with coverage (about 0.93 between 0.6 and 0.9), P(unrelated) falls with it
MODEL = Model(on(COVERAGE, [0.25, 0.6, 0.9], [-6.0, 0.0, 2.6, 6.0]),
              on(COVERAGE, [0.25, 0.6, 0.9], [6.0, 0.0, -6.0, -6.0]), COSTS)
SOME = Evidence(margin=0.3, agreement=0.7, coverage=0.5, intent_missed=False, unknown=0.1,
                part=False, said=0.5)


@pytest.mark.parametrize(("coverage", "level"), [(1.0, "high"), (0.5, "low"), (0.0, "none")])
def test_the_level_is_the_least_costly_under_the_models_probabilities(coverage, level):
    assert MODEL.level(replace(SOME, coverage=coverage)) == level


def test_costlier_confident_mistakes_make_high_rarer():
    evidence = replace(SOME, coverage=0.72)  # P(right) ≈ 0.93
    assert MODEL.level(evidence) == "high"
    wary = {**COSTS, "high": {"right": 0.0, "wrong": 20.0, "unrelated": 20.0}}
    assert Model(MODEL.answers, MODEL.unrelated, wary).level(evidence) == "low"


def test_no_answer_at_all_is_none():
    assert MODEL.level(Evidence.nothing()) == "none"


def test_the_shipped_model_fits_the_searchs_evidence_and_records_its_figures():
    data = json.loads(MODEL_FILE.read_text("utf-8"))
    assert data["features"] == Evidence.names()
    assert data["fitted_on"][0] == "bench/sets/qa_tune.jsonl"
    for figures in data["cross_validated"].values():
        assert {"answerable answered high", "high and wrong (of answerable)"} <= set(figures)
    model = Model.load()
    strong = Evidence(margin=0.8, agreement=1.0, coverage=1.0, intent_missed=False,
                      unknown=0.0, part=False, said=1.0)
    assert model.level(strong) == "high"
    assert model.level(replace(strong, margin=0.0, agreement=0.2, coverage=0.0, unknown=1.0,
                               said=0.0)) == "none"


def test_a_model_fitted_on_other_features_is_refused(tmp_path: Path):
    data = json.loads(MODEL_FILE.read_text("utf-8"))
    data["features"] = ["margin"]
    stale = tmp_path / "confidence.json"
    stale.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ValueError, match="other features"):
        Model.load(stale)


def test_a_lead_counts_for_less_when_the_passage_does_not_state_what_is_asked() -> None:
    """The fitted products: the same clear lead, with the asked-for amount not stated (or
    stated far from the asked words), is less likely the answer; the vector keeps the
    evidence it was made of."""
    stated = Evidence(margin=0.6, agreement=0.8, coverage=0.7, intent_missed=False, unknown=0.1,
                      part=False, said=0.4, echoed=0.0, intent_apart=0.0)
    missed = replace(stated, intent_missed=True, intent_apart=1.0)
    answers = model().answers
    assert answers.probability(missed.vector()) < answers.probability(stated.vector())
    assert len(stated.vector()) == len(Evidence.names()) and Evidence.of(stated.vector()) == stated
