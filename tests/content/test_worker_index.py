"""The index built in the parse worker (the running bot's rebuild after an upload) answers
exactly as one built in the bot's process, with the bot's tokenizer; a worker that fails leaves
the bot building it itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import content.worker
from bot.services.qa import QAService
from content.ingest import OverLimit, ParsedPlan, parse_plan
from content.search import KnowledgeBase
from content.tokenize import Tokenizer
from content.worker import ParseWorker
from storage.db import Database

SAMPLE = Path(__file__).resolve().parents[2] / "content" / "plans" / "2026年党建工作要点.txt"
QUESTIONS = ["宣传主题多久定一次？", "廉政党课谁来讲", "领航工程是什么", "职工住院怎么互助",
             "今年要开几次中心组学习", "食堂菜单"]


@pytest.fixture(scope="module")
def plans() -> list[ParsedPlan]:
    return [parse_plan(SAMPLE.name, SAMPLE.read_text(encoding="utf-8")),
            parse_plan("youth.txt", "团委工作要点\n一、青年工作\n1.开展青年读书会。每季度一次。\n")]


@pytest.fixture(scope="module")
def worker() -> Iterator[ParseWorker]:
    started = ParseWorker()
    yield started
    started.close()


def answers(kb: KnowledgeBase, question: str) -> tuple[str, list[tuple[str, str, float]]]:
    found = kb.search(question, k=3)
    return found.confidence, [(h.source, h.text, round(h.score, 9)) for h in found.hits]


def test_an_index_built_in_the_worker_answers_as_one_built_here(
        plans: list[ParsedPlan], worker: ParseWorker) -> None:
    tokenizer = Tokenizer()
    here = KnowledgeBase(plans, tokenizer)
    there = worker.index(plans, tokenizer)
    assert there.plans is plans and there.tokenizer is tokenizer  # the bot's, not copies
    for question in QUESTIONS:
        assert answers(there, question) == answers(here, question)


def test_the_worker_segments_with_the_words_the_bots_tokenizer_was_given(
        plans: list[ParsedPlan], worker: ParseWorker) -> None:
    """A word added to the bot's tokenizer is one word in the worker's index too."""
    tokenizer = Tokenizer(["青年读书会"])
    assert "青年读书会" in worker.index(plans, tokenizer).known_words
    assert "青年读书会" not in worker.index(plans, Tokenizer()).known_words


def test_a_worker_without_the_memory_to_build_refuses_with_the_bound(
        plans: list[ParsedPlan]) -> None:
    starved = ParseWorker(memory_bytes=64 * 2**20)
    try:
        with pytest.raises(OverLimit, match="建立索引所需内存超过 64MB 的上限"):
            starved.index(plans, Tokenizer())
    finally:
        starved.close()


def test_the_bot_builds_the_index_itself_when_the_worker_fails(
        sqlite_db: Database, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    starved = ParseWorker(memory_bytes=64 * 2**20)
    monkeypatch.setattr(content.worker, "WORKER", starved)
    qa = QAService(sqlite_db, plans_dir=SAMPLE.parent)
    try:
        qa.load(in_worker=True)
    finally:
        starved.close()
    assert "在解析进程中建立索引失败" in caplog.text
    assert qa.ask("廉政党课谁来讲").confidence != "none"
