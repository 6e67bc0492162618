"""Benchmark of the plan QA: quality on question sets through `dangjian ask --json` (as users
meet it) beside a plain jieba + rank_bm25 baseline, which parts of the colloquial layer earn
their keep (ablation), speed on the real plans and on 1,000 synthetic plan-sized documents,
memory, and the first answer after `dangjian ask` starts.

The knowledge base holds every plan at once: the two real plans (../shared/plans, when there)
and the project's third plan (bench/plans, a .docx).

Run: python bench/qa.py [--set PATH ...] [--docs 1000] [--no-ablation] [--speed-only]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.qa_sets import (  # noqa: E402
    SHARED_PLANS,
    TUNE_SET,
    is_right,
    load_questions,
    plan_files,
    plans_directory,
)
from content.ingest import parse_plan, read_document  # noqa: E402
from content.lexicon import Lexicon, colloquial_entries, quantity_entries, synonym_sets  # noqa: E402
from content.search import WEIGHTS, KnowledgeBase  # noqa: E402
from content.tokenize import Tokenizer  # noqa: E402

EXISTING_SETS = [ROOT.parent / "shared" / "eval" / "qa_dev.jsonl",
                 ROOT / "tests" / "content" / "qa_heldout.jsonl",
                 ROOT / "tests" / "content" / "qa_heldout2.jsonl"]
METRICS = {
    "top1": "top-1 (key phrase in the first answer, high or low)",
    "top3": "top-3",
    "answered_high": "answerable answered high",
    "high_wrong": "high and wrong (of answerable)",
    "unanswerable_high": "unanswerable answered high",
    "unanswerable_none": "unanswerable said none",
    "wrongly_refused": "answerable wrongly refused (none)",
}


def cli_answers(questions: list[dict], db_url: str, plans_dir: Path) -> tuple[list[dict], float]:
    """Run `dangjian ask --json` once over all questions; also time its first answer."""
    env = {**os.environ, "DATABASE_URL": db_url, "DANGJIAN_PLANS_DIR": str(plans_dir)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "ask", "--json", "-k", "3"], cwd=ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdin and process.stdout
    process.stdin.write(questions[0]["question"] + "\n")
    process.stdin.flush()
    first = process.stdout.readline()
    first_latency = time.perf_counter() - started
    rest, _ = process.communicate("".join(q["question"] + "\n" for q in questions[1:]))
    lines = [first, *rest.splitlines()]
    return [json.loads(line) for line in lines if line.strip()], first_latency


def score(questions: list[dict], answers: list[dict]) -> dict[str, float]:
    """The issue's figures; an answer without a confidence (the baseline) counts as high."""
    answerable = [(q, a) for q, a in zip(questions, answers, strict=True) if q["answerable"]]
    unanswerable = [a for q, a in zip(questions, answers, strict=True) if not q["answerable"]]

    def level(answer: dict) -> str:
        return answer.get("confidence", "high")

    def first_right(q: dict, a: dict) -> bool:
        return bool(a["answers"]) and is_right(q, a["answers"][0]["text"])

    n = max(1, len(answerable))
    return {
        "top1": sum(first_right(q, a) for q, a in answerable) / n,
        "top3": sum(any(is_right(q, x["text"]) for x in a["answers"][:3])
                    for q, a in answerable) / n,
        "answered_high": sum(level(a) == "high" for _, a in answerable) / n,
        "high_wrong": sum(level(a) == "high" and not first_right(q, a)
                          for q, a in answerable) / n,
        "unanswerable_high": sum(level(a) == "high" for a in unanswerable)
        / max(1, len(unanswerable)),
        "unanswerable_none": sum(level(a) == "none" for a in unanswerable)
        / max(1, len(unanswerable)),
        "wrongly_refused": sum(level(a) == "none" for _, a in answerable) / n,
    }


class Baseline:
    """jieba + rank_bm25 over whole paragraphs (lines): the reference the issue quotes."""

    def __init__(self, paragraphs: list[str]) -> None:
        import logging

        import jieba
        from rank_bm25 import BM25Okapi

        jieba.setLogLevel(logging.WARNING)
        self.cut = jieba.lcut
        self.paragraphs = paragraphs
        self.bm25 = BM25Okapi([self.cut(p) for p in paragraphs])

    def top(self, question: str, k: int = 3) -> list[str]:
        scores = self.bm25.get_scores(self.cut(question))
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
        return [self.paragraphs[i][:600] for i in order]


def paragraphs_of(paths: list[Path]) -> list[str]:
    return [line for path in paths for line in read_document(path).splitlines() if line.strip()]


def print_quality(name: str, questions: list[dict], ours: list[dict],
                  baseline: Baseline) -> None:
    base = [{"answers": [{"text": t} for t in baseline.top(q["question"])]} for q in questions]
    answerable = sum(q["answerable"] for q in questions)
    print(f"-- {name}: {len(questions)} questions ({answerable} answerable)")
    groups = {"all": list(range(len(questions)))}
    docs = sorted({q.get("doc", "") for q in questions if q.get("doc")})
    if len(docs) > 1:
        for doc in docs:
            groups[f"doc {doc}"] = [i for i, q in enumerate(questions) if q.get("doc") == doc]
    header = "".join(f"{g:>16}" for g in groups)
    print(f"{'':40}{header}")
    for key, label in METRICS.items():
        cells = []
        for indexes in groups.values():
            subset = [questions[i] for i in indexes]
            counted = [q for q in subset if q["answerable"] != key.startswith("unanswerable")]
            if not counted:
                cells.append(f"{'-':>16}")
                continue
            mine = score(subset, [ours[i] for i in indexes])[key]
            theirs = score(subset, [base[i] for i in indexes])[key]
            cells.append(f"{mine:8.3f} ({theirs:.3f})")
        print(f"{label:40}" + "".join(cells))
    print("   (ours, and in brackets plain jieba + rank_bm25, which always answers: high)")


def ablation(sets: dict[str, list[dict]]) -> None:
    """Top-1 / top-3 in process with one part of the matching switched off at a time."""
    tokenizer = Tokenizer()
    plans = [parse_plan(p.name, read_document(p)) for p in plan_files()]
    colloquial, quantities, synonyms = colloquial_entries(), quantity_entries(), synonym_sets
    variants: dict[str, tuple[Lexicon, dict[str, float]]] = {
        "everything": (Lexicon({**colloquial, **quantities}, synonyms), {}),
        "- colloquial word list": (Lexicon(quantities, synonyms), {}),
        "- quantity wordings": (Lexicon(colloquial, synonyms), {}),
        "- synonym sets (cilin)": (Lexicon({**colloquial, **quantities}), {}),
        "- all three": (Lexicon({}), {}),
        "- heading terms on items": (Lexicon({**colloquial, **quantities}, synonyms),
                                     {"item_context": 0.0}),
        "- quoted names": (Lexicon({**colloquial, **quantities}, synonyms), {"names": 0.0}),
        "- one-sentence phrase": (Lexicon({**colloquial, **quantities}, synonyms),
                                  {"phrase": 0.0}),
    }
    print(f"{'':28}" + "".join(f"{name[:22]:>24}" for name in sets))
    saved = dict(WEIGHTS)
    for variant, (lexicon, weights) in variants.items():
        WEIGHTS.update(weights)
        try:
            kb = KnowledgeBase(plans, tokenizer, lexicon, judge=lambda _: "high")
            cells = []
            for questions in sets.values():
                answerable = [q for q in questions if q["answerable"]]
                hits = [kb.search(q["question"], 3).hits for q in answerable]
                top1 = sum(bool(h) and is_right(q, h[0].text) for q, h in zip(
                    answerable, hits, strict=True)) / len(answerable)
                top3 = sum(any(is_right(q, x.text) for x in h) for q, h in zip(
                    answerable, hits, strict=True)) / len(answerable)
                cells.append(f"{top1:11.3f} / {top3:.3f}")
        finally:
            WEIGHTS.clear()
            WEIGHTS.update(saved)
        print(f"{variant:28}" + "".join(f"{c:>24}" for c in cells))
    print("   (top-1 / top-3, in process, all plans in one knowledge base)")


def latency(fn: Callable[[str], object], questions: list[str], rounds: int = 5
            ) -> tuple[float, float, float]:
    """Wall-clock p50 and p99, and the p50 of the process's CPU time, in ms: on a machine
    shared with other work the CPU figure is the one that does not depend on the load."""
    samples, cpu = [], []
    for _ in range(rounds):
        for question in questions:
            started, started_cpu = time.perf_counter(), time.process_time()
            fn(question)
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    samples.sort()
    return (statistics.median(samples), samples[int(len(samples) * 0.99) - 1],
            statistics.median(cpu))


def synthetic_plans(count: int, sources: list[Path], seed: int = 7) -> list[str]:
    """Plan-sized documents built from the plans' parts, items and sentences reshuffled,
    with numbers and programme names varied so the vocabulary grows with the corpus."""
    rng = random.Random(seed)
    parsed = [parse_plan(p.name, read_document(p)) for p in sources]
    items = [s.text for plan in parsed for s in plan.sections if s.level == "item"]
    parts = [s.heading.split("、", 1)[-1] for plan in parsed for s in plan.sections
             if s.level == "part"]
    numerals = "一二三四五六七八九十"
    documents = []
    for n in range(count):
        lines = [f"{2020 + n % 7}年第{n}号单位党建工作要点"]
        item_no = 1
        for part_no in range(8):
            lines.append(f"{numerals[part_no]}、{rng.choice(parts)}（专项{n}-{part_no}）")
            for _ in range(rng.randint(3, 5)):
                body = rng.choice(items).split("、", 1)[-1].split(".", 1)[-1]
                lines.append(f"{item_no}.{body}第{rng.randint(1, 999)}号任务由单位{n}负责。")
                item_no += 1
        documents.append("\n".join(lines))
    return documents


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", type=Path, action="append", dest="sets",
                        help="a question set (JSON lines); repeat for several "
                             "(default: the tune set and the existing sets that are here)")
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="skip quality and ablation")
    parser.add_argument("--synthetic-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.synthetic_only:
        synthetic_benchmark(args.docs)
        return
    paths = [p for p in (args.sets or [TUNE_SET, *EXISTING_SETS]) if p.exists()]
    sets = {path.name: load_questions(path) for path in paths}
    if not args.speed_only:
        quality(sets, ablate=not args.no_ablation)
    speed(sets, args.docs)


def quality(sets: dict[str, list[dict]], ablate: bool) -> None:
    plans_dir = plans_directory()
    print(f"plans: {', '.join(p.name for p in plan_files())}")
    print("\n== quality (dangjian ask --json, -k 3; all plans in one knowledge base) ==")
    baseline = Baseline(paragraphs_of(plan_files()))
    starts = []
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        for name, questions in sets.items():
            answers, first = cli_answers(questions, db_url, plans_dir)
            starts.append(first)
            assert [a["question"] for a in answers] == [q["question"] for q in questions]
            print_quality(name, questions, answers, baseline)
    print(f"\nfirst answer after `dangjian ask` starts: {starts[0]:.2f} s on a new database, "
          f"{min(starts[1:] or starts):.2f} s on an existing one (target ≤ 1.5 s)")
    if ablate:
        print("\n== ablation: what each part of the matching earns ==")
        ablation(sets)


def speed(sets: dict[str, list[dict]], docs: int) -> None:
    from bot.services.qa import QAService
    from storage.db import Database

    real = sorted(SHARED_PLANS.iterdir()) if SHARED_PLANS.is_dir() else plan_files()
    print(f"\n== speed on the real plans ({', '.join(p.name for p in real)}) ==")
    db = Database("sqlite://")
    db.migrate()
    real_dir = Path(tempfile.mkdtemp(prefix="qa-real-"))
    for path in real:
        (real_dir / path.name).write_bytes(path.read_bytes())
    qa = QAService(db, plans_dir=real_dir)
    qa.load()
    questions = [q["question"] for qs in sets.values() for q in qs]
    real_baseline = Baseline(paragraphs_of(real))
    p50, p99, p50_cpu = latency(qa.ask, questions)
    b50, b99, b50_cpu = latency(real_baseline.top, questions)
    print(f"ours:      p50 {p50:.3f} ms  p99 {p99:.3f} ms   (targets ≤ 1 ms, ≤ 5 ms)  "
          f"CPU p50 {p50_cpu:.3f} ms")
    print(f"rank_bm25: p50 {b50:.3f} ms  p99 {b99:.3f} ms  CPU p50 {b50_cpu:.3f} ms")
    print(f"load average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    print(f"\n== synthetic corpus: {docs} plan-sized documents ==")
    # a fresh process, so that its peak memory is the corpus and the index alone
    subprocess.run([sys.executable, __file__, "--synthetic-only", "--docs", str(docs)],
                   check=True)


def synthetic_benchmark(docs: int) -> None:
    """Runs in a process of its own that imports only the content package, so that its peak
    memory is the corpus and the index."""
    questions = [q["question"] for q in load_questions(TUNE_SET)]
    tokenizer = Tokenizer()
    texts = synthetic_plans(docs, plan_files())
    print(f"corpus: {sum(len(t) for t in texts) / 1e6:.1f} M characters")
    plans = [parse_plan(f"synthetic-{n}.txt", text) for n, text in enumerate(texts)]
    del texts
    gc.collect()
    started, started_cpu = time.perf_counter(), time.process_time()
    kb = KnowledgeBase(plans, tokenizer)
    build, build_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s50, s99, s50_cpu = latency(lambda q: kb.search(q, 3), questions, rounds=2)
    print(f"ours:      build {build:.1f} s (≤ 10 s; CPU {build_cpu:.1f} s)  peak RSS {peak:.0f} MB"
          f" (≤ 400 MB)  p50 {s50:.2f} ms (≤ 2 ms; CPU {s50_cpu:.2f} ms)  p99 {s99:.2f} ms  "
          f"items {len(kb.units)}")
    synthetic_paragraphs = [line for t in synthetic_plans(docs, plan_files())
                            for line in t.splitlines()]
    started = time.perf_counter()
    big_baseline = Baseline(synthetic_paragraphs)
    base_build = time.perf_counter() - started
    c50, c99, _ = latency(big_baseline.top, questions[:10], rounds=1)
    print(f"rank_bm25: build {base_build:.1f} s  p50 {c50:.2f} ms  p99 {c99:.2f} ms")


if __name__ == "__main__":
    main()
