"""Answer quality on question sets, measured through `dangjian ask --json` as users meet it,
with every plan in one knowledge base (the two real plans and the project's third, a .docx).

The confidence model was fitted on the tune set (bench/sets) and on the older held-out sets
among others (bench/qa_sets.SPENT_SETS); those were written by people who never saw the code,
but the colloquial lexicon later grew on some of their misses. The bounds guard against
regressions; the issue's targets are for unseen sets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from real_plans import DEV_SET, PLANS, needs_real_plans

ROOT = Path(__file__).resolve().parents[2]
THIRD_PLAN = ROOT / "bench" / "plans" / "江澜能源集团2026年党建工作要点.docx"
SETS = {
    "tune": ROOT / "bench" / "sets" / "qa_tune.jsonl",
    "dev": DEV_SET,
    "heldout": ROOT / "tests" / "content" / "qa_heldout.jsonl",
    "heldout2": ROOT / "tests" / "content" / "qa_heldout2.jsonl",
}
# at least: top-1, top-3, answerable answered high; at most: high and wrong (of answerable),
# unanswerable answered high, answerable refused (none)
BOUNDS = {
    "tune": (0.85, 0.90, 0.65, 0.07, 0.20, 0.05),
    "dev": (0.85, 0.95, 0.80, 0.10, 0.50, 0.05),
    "heldout": (0.90, 0.95, 0.75, 0.08, 0.25, 0.05),
    "heldout2": (0.80, 0.85, 0.72, 0.07, 0.20, 0.08),
}


def ask_all(questions: list[str], tmp_path: Path) -> list[dict]:
    plans = tmp_path / "plans"
    plans.mkdir()
    for path in [*PLANS.iterdir(), THIRD_PLAN]:
        shutil.copy(path, plans / path.name)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'qa.db'}",
           "DANGJIAN_PLANS_DIR": str(plans)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--json", "-k", "3"], input="\n".join(questions),
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


@needs_real_plans
@pytest.mark.parametrize("name", list(SETS))
def test_question_set_stays_within_its_bounds(name: str, tmp_path: Path):
    if not SETS[name].exists():
        pytest.skip(f"{SETS[name]} is not here")
    rows = [json.loads(line) for line in SETS[name].read_text("utf-8").splitlines() if line]
    answers = ask_all([r["question"] for r in rows], tmp_path)
    assert [a["question"] for a in answers] == [r["question"] for r in rows]
    for answer in answers:
        assert all(len(item["text"]) <= 600 for item in answer["answers"])
        assert answer["abstained"] == (answer["confidence"] == "none")
        assert answer["abstained"] == (answer["answers"] == [])

    def right(row: dict, answer: dict) -> bool:
        return bool(answer["answers"]) and any(
            phrase in answer["answers"][0]["text"] for phrase in row["expect_any"])

    answerable = [(r, a) for r, a in zip(rows, answers, strict=True) if r["answerable"]]
    unanswerable = [a for r, a in zip(rows, answers, strict=True) if not r["answerable"]]
    n = len(answerable)
    figures = (
        sum(right(r, a) for r, a in answerable) / n,
        sum(any(p in x["text"] for p in r["expect_any"] for x in a["answers"])
            for r, a in answerable) / n,
        sum(a["confidence"] == "high" for _, a in answerable) / n,
        sum(a["confidence"] == "high" and not right(r, a) for r, a in answerable) / n,
        sum(a["confidence"] == "high" for a in unanswerable) / len(unanswerable),
        sum(a["confidence"] == "none" for _, a in answerable) / n,
    )
    shown = " ".join(f"{f:.3f}" for f in figures)
    top1, top3, high, high_wrong, unanswerable_high, refused = figures
    least_top1, least_top3, least_high, most_wrong, most_unanswerable, most_refused = (
        BOUNDS[name])
    assert top1 >= least_top1 and top3 >= least_top3 and high >= least_high, shown
    assert high_wrong <= most_wrong and unanswerable_high <= most_unanswerable, shown
    assert refused <= most_refused, shown
