"""How sure an answer is: high (the passage answers), low (related, may not answer), none
(nothing related).

Two models over the ranking's evidence, fitted offline on question sets by
`bench/fit_confidence.py` and stored with their cross-validated figures in
`content/dict/confidence.json`: P(the first passage answers) and P(the plans say nothing about
it). Each is a sum of small regression trees (gradient boosting): the evidence weighs
differently together than apart (a clear lead says little when the passage lacks the
question's heaviest word), which the trees learn and a weighted sum did not. The level is the
one with the least expected cost under the costs stored beside them (showing a wrong passage
as the answer costs more than hedging a right one), so no threshold is set by hand.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).resolve().parent / "dict" / "confidence.json"
LEVELS = ("high", "low", "none")


@dataclass(frozen=True)
class Evidence:
    """What the ranking knows about its first answer."""

    margin: float  # (first - second) / first fused score; 1 for a part the question names
    agreement: float  # mean share of each ranker's best score that the first passage gets
    coverage: float  # weighted share of the question's concepts the first passage contains
    intent_missed: bool  # the question asks 多久/几次/谁 and the passage's highlighted
    # sentence states no frequency, number or who (an amount in the unit asked, 多少钱, when
    # the question asks one)
    unknown: float  # weighted share of the question's words the plans never reach
    part: bool  # the answer is a whole part (a programme, 第六块)
    said: float  # share of the question's own character bigrams that the passage contains
    echoed: float = 0.0  # share of the highlighted sentence's bigrams that the second passage's,
    # from another plan, also has: a close second that says the same is agreement, not doubt
    intent_apart: float = 0.0  # how far from the question's main words the highlighted
    # sentence states what it asks for (0 beside them, 1 far or not at all)
    heaviest_missing: float = 0.0  # how much of the question's heaviest concept the passage
    # lacks (0 all there, 1 none of it): 职称 or 差额 missing says more than a light word

    @classmethod
    def nothing(cls) -> Evidence:
        return cls(0.0, 0.0, 0.0, False, 1.0, False, 0.0, 0.0, 0.0, 1.0)

    @classmethod
    def of(cls, vector: list[float]) -> Evidence:
        """The evidence a `vector` was made of (its own fields come first)."""
        own = vector[:len(_FIELDS)]
        return cls(*own)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)] + [f"{a}*{b}" for a, b in INTERACTIONS]

    def vector(self) -> list[float]:
        own = [float(getattr(self, name)) for name in _FIELDS]
        return own + [float(getattr(self, a)) * float(getattr(self, b)) for a, b in INTERACTIONS]


INTERACTIONS: tuple[tuple[str, str], ...] = (("margin", "intent_missed"), ("margin", "intent_apart"))
"""Products the models also read: a clear lead means less when the passage does not state
what is asked. Trees could find these themselves, but fit better given them (leaving each set
out, log loss of P(right) 0.266 -> 0.258)."""
_FIELDS = [f.name for f in fields(Evidence)]


class Trees:
    """Boosted regression trees read from their stored arrays: every tree's nodes in one
    array each (a leaf points to itself), walked together, one step a level."""

    def __init__(self, data: dict) -> None:
        self.baseline = float(data["baseline"])
        self.depth = int(data["depth"])
        self.roots = np.asarray(data["roots"], dtype=np.int64)
        self.feature = np.asarray(data["feature"], dtype=np.int64)
        self.threshold = np.asarray(data["threshold"], dtype=np.float64)
        self.left = np.asarray(data["left"], dtype=np.int64)
        self.right = np.asarray(data["right"], dtype=np.int64)
        self.value = np.asarray(data["value"], dtype=np.float64)

    def probability(self, features: list[float]) -> float:
        x = np.asarray(features, dtype=np.float64)
        # where every node sends these features: the walk is then one lookup a level
        step = np.where(x[self.feature] <= self.threshold, self.left, self.right)
        node = self.roots
        for _ in range(self.depth):
            node = step[node]
        z = self.baseline + float(self.value[node].sum())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Model:
    answers: Trees  # P(the first passage answers the question)
    unrelated: Trees  # P(the plans do not answer the question at all)
    costs: dict[str, dict[str, float]]  # level -> outcome (right, wrong, unrelated) -> cost

    def level(self, evidence: Evidence) -> str:
        if evidence == Evidence.nothing():
            return "none"
        features = evidence.vector()
        right = self.answers.probability(features)
        unrelated = min(self.unrelated.probability(features), 1.0 - right)
        outcome = {"right": right, "wrong": 1.0 - right - unrelated, "unrelated": unrelated}
        expected = {level: sum(self.costs[level][o] * p for o, p in outcome.items())
                    for level in LEVELS}
        return min(LEVELS, key=lambda level: expected[level])

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> Model:
        data = json.loads(path.read_text("utf-8"))
        if data["features"] != Evidence.names():
            raise ValueError(f"{path} was fitted on other features: {data['features']}")
        return cls(Trees(data["answers"]), Trees(data["unrelated"]), data["costs"])


@functools.cache
def model() -> Model:
    return Model.load()


def level(evidence: Evidence) -> str:
    return model().level(evidence)
