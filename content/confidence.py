"""How sure an answer is: high (the passage answers), low (related, may not answer), none
(nothing related).

Two logistic regressions over the ranking's evidence, fitted offline on a question set by
`bench/fit_confidence.py` and stored with their cross-validated figures in
`content/dict/confidence.json`: P(the first passage answers) and P(the plans say nothing about
it). The level is the one with the least expected cost under the costs stored beside them
(showing a wrong passage as the answer costs more than hedging a right one), so no threshold is
set by hand.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

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

    @classmethod
    def nothing(cls) -> Evidence:
        return cls(0.0, 0.0, 0.0, False, 1.0, False, 0.0, 0.0, 0.0)

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
"""Products the model also weighs: a clear lead means less when the passage does not state
what is asked (leaving each set out, unanswerable questions answered high 0.162 -> 0.118 at
the same share of answerable ones, 0.840 -> 0.842; tried beside margin x unknown, coverage x
margin, coverage x unknown, said x unknown, agreement x intent_missed, which did not earn it)."""
_FIELDS = [f.name for f in fields(Evidence)]


@dataclass(frozen=True)
class Logistic:
    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, features: list[float]) -> float:
        z = self.intercept + sum(
            c * (x - m) / s for c, x, m, s in zip(self.coef, features, self.mean, self.scale,
                                                   strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def from_json(cls, data: dict) -> Logistic:
        return cls(tuple(data["coef"]), float(data["intercept"]), tuple(data["mean"]),
                   tuple(data["scale"]))


@dataclass(frozen=True)
class Model:
    answers: Logistic  # P(the first passage answers the question)
    unrelated: Logistic  # P(the plans do not answer the question at all)
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
        return cls(Logistic.from_json(data["answers"]), Logistic.from_json(data["unrelated"]),
                   data["costs"])


@functools.cache
def model() -> Model:
    return Model.load()


def level(evidence: Evidence) -> str:
    return model().level(evidence)
