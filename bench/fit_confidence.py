"""Fit the confidence model (content/dict/confidence.json) on question sets, offline.

For every question the knowledge base's evidence about its first answer is recorded with two
labels: the first passage answers it (a key phrase is in it), the plans do not answer it at all.
Each answerable question is also asked with its own plan withheld (as a member who may not see
that document asks it): mostly an on-topic question the visible plans do not answer (unless
another plan says it too, which its key phrases show), at a weight that keeps the sets' own
share of unanswerable questions from being swamped.
Questions written only for fitting (bench/qa_sets.NEGATIVES: on-topic questions the plans do
not answer, checked against the plans) are training rows in every fold, never judged, at a
weight that is a share of the sets' own unanswerable questions.
Two gradient-boosted tree models (scikit-learn's HistGradientBoostingClassifier) learn them,
stored as plain node arrays that content.confidence walks (the bot does not import
scikit-learn); the cross-validated figures are taken with those stored trees. They are fitted
on every labelled question the project may train on: the tune set and the spent sets
(bench/qa_sets.SPENT_SETS: blind sets already reported once, the older held-out sets), never on
a set still to be reported. The figures that matter are cross-validated, each question's level
decided by a model that never saw it: stratified 5-fold, repeated over 10 shuffles, and
leave-one-set-out (each set judged by a model fitted on the others: the closest to a new set
written by other hands).

Run: python bench/fit_confidence.py [--set PATH ...] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import KFold, StratifiedKFold

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.qa_sets import (  # noqa: E402
    NEGATIVES,
    SPENT_SETS,
    TUNE_SET,
    is_right,
    load_questions,
    plan_files,
    plan_of,
)
from content.confidence import LEVELS, MODEL_FILE, Evidence, Model, Trees  # noqa: E402
from content.ingest import parse_plan, read_document  # noqa: E402
from content.search import KnowledgeBase  # noqa: E402
from content.tokenize import Tokenizer  # noqa: E402

# What a member loses, per level shown and what the truth was (right: the first passage
# answers; wrong: it does not, though the plans do; unrelated: the plans say nothing on it).
# Refusing a right answer costs as much as four confident mistakes: the member loses the
# answer itself. Chosen by the cross-validated figures on all the sets (5-fold, and leave one
# set out; high-wrong 3.5: 0.83 answered high, 0.040 high and wrong, 0.045 leaving a set out;
# 4: 0.82, 0.036 and 0.034; refusing a right answer 4: 0.046 of the answerable refused, 8:
# 0.018, 16: 0.011, with the same share answered high). With the questions written for
# fitting in, high-wrong 3.75 keeps the share answered high where 4 had it without them
# (0.836 against 0.841; 4 with them: 0.827), and refusing a right answer 32 keeps the refusals
# down (0.005 of the answerable; 16 with them: 0.016).
COSTS = {
    "high": {"right": 0.0, "wrong": 3.75, "unrelated": 3.75},
    "low": {"right": 1.0, "wrong": 1.0, "unrelated": 2.0},
    "none": {"right": 32.0, "wrong": 1.0, "unrelated": 0.0},
}
# chosen by the log loss leaving each set out (depth 2, 3, 4; 100 to 300 trees; leaves of 20
# or 40): depth 3 fits best (0.258 / 0.154 for P(right) / P(unrelated), logistic regression
# 0.273 / 0.172); 100 trees at a rate of 0.1 as well as 150 at 0.05, and quicker to walk
TREES = {"max_depth": 3, "max_iter": 100, "learning_rate": 0.1, "min_samples_leaf": 40}
# Which way evidence may only move each probability, whatever else it says (1: up, -1: down):
# a passage holding more of the question cannot be less likely its answer. Without these the
# trees learnt, from few questions, corners where a wide lead outweighed a passage lacking
# most of the question (请病假期间工资怎么发, coverage 0.18: P(right) 0.67). Leaving each set
# out: unanswerable answered high 0.144 -> 0.111, the least share of a set's answerable ones
# answered high 0.70 -> 0.76, log loss of P(right) 0.257 -> 0.254 (P(unrelated) 0.151 either
# way; constraining it by more than coverage, or P(right) by intent_apart, did not earn it).
MONOTONIC = {"answers": {"coverage": 1, "said": 1, "heaviest_missing": -1},
             "unrelated": {"coverage": -1}}
FOLDS = 5
REPEATS = 10
# chosen by the cross-validated figures on all the sets (0.1: 0.83 answered high, 0.041 high
# and wrong, 0.13 of the unanswerable answered high; 0.2: 0.82, 0.039, 0.12; 0.5: 0.80, 0.033,
# 0.12)
WITHHELD_SHARE = 0.2
# chosen by the figures on all the sets and on the written questions themselves (each judged
# by a model fitted without it): 0.25: 0.835 answered high, 0.14 of the sets' unanswerable
# and 0.15 of the written ones answered high (none, costs 4 and 16: 0.838, 0.14, 0.20);
# 0.5: 0.82, 0.12, 0.19; 1: 0.80, 0.06, 0.15
NEGATIVES_SHARE = 0.25


def evidence_of(questions: list[dict], knowledge_base: KnowledgeBase,
                files: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, 'first passage answers' and 'plans do not answer' labels, one row per
    question and one per answerable question asked with its plan withheld; and which rows
    are the withheld ones."""
    rows, right, unrelated, withheld = [], [], [], []
    everything = set(range(len(files)))
    for question in questions:
        found = knowledge_base.search(question["question"], 3)
        rows.append(found.evidence.vector())
        first = found.hits[0].text if found.hits else ""
        right.append(question["answerable"] and is_right(question, first))
        unrelated.append(not question["answerable"])
        withheld.append(False)
        own = plan_of(question, files)
        if question["answerable"] and own is not None:
            elsewhere = knowledge_base.search(question["question"], 3, plans=everything - {own})
            texts = [hit.text for hit in elsewhere.hits]
            rows.append(elsewhere.evidence.vector())
            right.append(bool(texts) and is_right(question, texts[0]))  # other plans say it too
            unrelated.append(not any(is_right(question, text) for text in texts))
            withheld.append(True)
    return np.array(rows), np.array(right), np.array(unrelated), np.array(withheld)


def fitted_model(features: np.ndarray, right: np.ndarray, unrelated: np.ndarray,
                 weights: np.ndarray) -> Model:
    """Both probabilities fitted on these rows, under COSTS."""
    return Model(fit(features, right, weights, "answers"),
                 fit(features, unrelated, weights, "unrelated"), COSTS)


def fit(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, kind: str) -> Trees:
    return Trees(fitted_arrays(features, labels, weights, kind))


def fitted_arrays(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, kind: str
                  ) -> dict[str, object]:
    """The trees of P(right) (kind "answers") or P(unrelated) ("unrelated")."""
    monotonic = [MONOTONIC[kind].get(name, 0) for name in Evidence.names()]
    model = HistGradientBoostingClassifier(**TREES, monotonic_cst=monotonic).fit(
        features, labels, sample_weight=weights)
    arrays = tree_arrays(model)
    walked = [Trees(arrays).probability(row.tolist()) for row in features[:50]]
    assert np.allclose(walked, model.predict_proba(features[:50])[:, 1]), "trees read wrongly"
    return arrays


def tree_arrays(model: HistGradientBoostingClassifier) -> dict[str, object]:
    """A fitted binary model's trees as the arrays content.confidence.Trees walks: every
    tree's nodes in one array each, a leaf pointing to itself (the features are never
    missing, so the missing-value branches are not kept)."""
    roots, feature, threshold, left, right, value = [], [], [], [], [], []
    for (tree,) in model._predictors:
        offset = len(feature)
        roots.append(offset)
        for number, node in enumerate(tree.nodes):
            leaf = bool(node["is_leaf"])
            feature.append(0 if leaf else int(node["feature_idx"]))
            threshold.append(0.0 if leaf else float(node["num_threshold"]))
            left.append(offset + (number if leaf else int(node["left"])))
            right.append(offset + (number if leaf else int(node["right"])))
            value.append(float(node["value"]) if leaf else 0.0)
    return {"baseline": float(model._baseline_prediction.ravel()[0]),
            "depth": TREES["max_depth"], "roots": roots, "feature": feature,
            "threshold": threshold, "left": left, "right": right, "value": value}


def outcomes(levels: list[str], right: np.ndarray, unrelated: np.ndarray) -> dict[str, float]:
    answerable = ~unrelated
    high = np.array([level == "high" for level in levels])
    none = np.array([level == "none" for level in levels])
    return {
        "answerable answered high": float((high & answerable).sum() / answerable.sum()),
        "high and wrong (of answerable)": float((high & answerable & ~right).sum()
                                                / answerable.sum()),
        "unanswerable answered high": float((high & unrelated).sum() / max(1, unrelated.sum())),
        "unanswerable said none": float((none & unrelated).sum() / max(1, unrelated.sum())),
        "answerable wrongly refused": float((none & answerable).sum() / answerable.sum()),
    }


def row_weights(unrelated: np.ndarray, withheld: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Withheld-plan rows weigh, all together, WITHHELD_SHARE of the sets' unanswerable
    questions, and the questions written for fitting NEGATIVES_SHARE of them: enough to
    teach what an unanswered question looks like without moving the answerable ones."""
    weights = np.ones(len(unrelated))
    own_unrelated = max(1, (unrelated & ~withheld & ~extra).sum())
    if withheld.any():
        weights[withheld] = WITHHELD_SHARE * own_unrelated / withheld.sum()
    if extra.any():
        weights[extra] = NEGATIVES_SHARE * own_unrelated / extra.sum()
    return weights


def cross_validate(features: np.ndarray, right: np.ndarray, unrelated: np.ndarray,
                   withheld: np.ndarray, extra: np.ndarray, splits: list[list[np.ndarray]]
                   ) -> dict[str, float]:
    """Every question judged by models fitted on the other folds of a split (a split: the
    questions held out in turn; a question and its withheld-plan twin fall in the same fold);
    figures on the sets' own questions, plus how often a withheld-plan question was answered
    high, averaged over the splits."""
    own = np.flatnonzero(~withheld & ~extra)
    runs: list[dict[str, float]] = []
    for split in splits:
        levels, p_right, p_unrelated = judged(features, right, unrelated, withheld, extra,
                                              split)
        figures = outcomes([levels[i] for i in own], right[own], unrelated[own])
        figures["withheld-plan questions answered high"] = float(np.mean(
            [levels[i] == "high" for i in np.flatnonzero(withheld)])) if withheld.any() else 0.0
        figures["log loss, answers (CV)"] = float(log_loss(right[own], p_right[own]))
        figures["Brier, answers (CV)"] = float(brier_score_loss(right[own], p_right[own]))
        figures["log loss, unrelated (CV)"] = float(log_loss(unrelated[own], p_unrelated[own]))
        runs.append(figures)
    averaged = {name: float(np.mean([run[name] for run in runs])) for name in runs[0]}
    averaged["log loss, answers (base rate)"] = float(
        log_loss(right[own], np.full(len(own), right[own].mean())))
    averaged["log loss, unrelated (base rate)"] = float(
        log_loss(unrelated[own], np.full(len(own), unrelated[own].mean())))
    return averaged


def judged(features: np.ndarray, right: np.ndarray, unrelated: np.ndarray, withheld: np.ndarray,
           extra: np.ndarray, split: list[np.ndarray]
           ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each row's level and probabilities from the model fitted without its fold (rows
    written for fitting are in no fold)."""
    group = np.where(extra, -1, np.cumsum(~withheld) - 1)  # each row's question
    weights = row_weights(unrelated, withheld, extra)
    levels = [""] * len(features)
    p_right, p_unrelated = np.zeros(len(features)), np.zeros(len(features))
    for held_out in split:
        train = ~np.isin(group, held_out)
        model = fitted_model(features[train], right[train], unrelated[train], weights[train])
        for i in np.flatnonzero(~train):
            p_right[i] = model.answers.probability(features[i].tolist())
            p_unrelated[i] = model.unrelated.probability(features[i].tolist())
            levels[i] = model.level(Evidence.of(features[i].tolist()))
    return levels, p_right, p_unrelated


def written_judged(features: np.ndarray, right: np.ndarray, unrelated: np.ndarray,
                   withheld: np.ndarray, extra: np.ndarray) -> dict[str, float]:
    """The share of each level among the questions written for fitting, each judged by a model
    fitted without its fold of them (FOLDS folds, REPEATS shuffles): how the model meets
    unanswered questions written by another hand than the sets'."""
    rows = np.flatnonzero(extra)
    weights = row_weights(unrelated, withheld, extra)
    levels: list[str] = []
    for seed in range(REPEATS):
        for _, held in KFold(FOLDS, shuffle=True, random_state=seed).split(rows):
            train = np.ones(len(features), dtype=bool)
            train[rows[held]] = False
            model = fitted_model(features[train], right[train], unrelated[train],
                                 weights[train])
            levels.extend(model.level(Evidence.of(features[i].tolist())) for i in rows[held])
    return {level: levels.count(level) / len(levels) for level in LEVELS}


def shuffled_folds(right: np.ndarray, unrelated: np.ndarray) -> list[list[np.ndarray]]:
    """Stratified FOLDS-fold splits of the questions, one per REPEATS shuffles (a few hundred
    questions make any one split noisy)."""
    strata = right.astype(int) + 2 * unrelated.astype(int)
    return [[held for _, held in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(
        strata, strata)] for seed in range(REPEATS)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", type=Path, action="append", dest="sets")
    parser.add_argument("--negatives", type=Path, default=NEGATIVES,
                        help="questions written for fitting only ('none': without)")
    parser.add_argument("--write", action="store_true", help=f"write {MODEL_FILE}")
    args = parser.parse_args()
    sets = args.sets or [TUNE_SET, *SPENT_SETS]
    files = plan_files()
    plans = [parse_plan(p.name, read_document(p)) for p in files]
    knowledge_base = KnowledgeBase(plans, Tokenizer(), judge=lambda _: "high")
    by_set = [load_questions(path) for path in sets]
    questions = [q for set_questions in by_set for q in set_questions]
    features, right, unrelated, withheld = evidence_of(questions, knowledge_base, files)
    extra = np.zeros(len(features), dtype=bool)
    negatives = [] if args.negatives.name == "none" else load_questions(args.negatives)
    if negatives:
        more = evidence_of(negatives, knowledge_base, files)
        features, right, unrelated, withheld = (np.concatenate([a, b]) for a, b in zip(
            (features, right, unrelated, withheld), more, strict=True))
        extra = np.concatenate([extra, np.ones(len(more[0]), dtype=bool)])
    print(f"{len(questions)} questions: first passage right {right.sum()}, "
          f"unanswerable {(unrelated & ~withheld & ~extra).sum()}; "
          f"{withheld.sum()} asked with their plan withheld; "
          f"{extra.sum()} written for fitting only")
    question_set = np.repeat(np.arange(len(sets)), [len(qs) for qs in by_set])
    own = ~withheld & ~extra
    splits = {"stratified 5-fold x10": shuffled_folds(right[own], unrelated[own])}
    if len(sets) > 1:
        splits["leave one set out"] = [[np.flatnonzero(question_set == n)
                                        for n in range(len(sets))]]
    figures = {}
    for name, split in splits.items():
        figures[name] = cross_validate(features, right, unrelated, withheld, extra, split)
    print(f"  {'cross-validated':38}" + "".join(f"{name:>24}" for name in figures))
    for key in next(iter(figures.values())):
        print(f"  {key:38}" + "".join(f"{run[key]:24.3f}" for run in figures.values()))
    if "leave one set out" in splits:
        print("  each set judged by the model fitted on the others:")
        levels = judged(features, right, unrelated, withheld, extra,
                        splits["leave one set out"][0])[0]
        for n, path in enumerate(sets):
            rows = np.flatnonzero(own)[question_set == n]
            shown = outcomes([levels[i] for i in rows], right[rows], unrelated[rows])
            print(f"    {path.name:20} " + "  ".join(
                f"{key} {value:.3f}" for key, value in shown.items()
                if key != "unanswerable said none"))
    if extra.any():
        shares = written_judged(features, right, unrelated, withheld, extra)
        print("  questions written for fitting, each judged by a model fitted without it: "
              + "  ".join(f"{level} {share:.3f}" for level, share in shares.items()))
    weights = row_weights(unrelated, withheld, extra)
    answers = fitted_arrays(features, right, weights, "answers")
    related = fitted_arrays(features, unrelated, weights, "unrelated")
    for name, arrays in (("answers", answers), ("unrelated", related)):
        used = np.bincount(np.asarray(arrays["feature"])[
            np.asarray(arrays["left"]) != np.arange(len(arrays["left"]))],
            minlength=len(Evidence.names()))
        print(f"  {name}, splits on each feature: " + "  ".join(
            f"{f}={n}" for f, n in zip(Evidence.names(), used, strict=True)))
    if args.write:
        document = {
            "fitted_on": [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else p.name
                          for p in [*sets, *([args.negatives] if negatives else [])]],
            "features": Evidence.names(),
            "answers": answers,
            "unrelated": related,
            "costs": COSTS,
            "cross_validated": {split: {name: round(value, 4) for name, value in run.items()}
                                for split, run in figures.items()},
        }
        MODEL_FILE.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n",
                              "utf-8")
        print(f"written: {MODEL_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
