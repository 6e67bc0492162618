"""Questions about the plans: load the knowledge base, answer with a confidence (high, low or
none: content.confidence), restrict answers to the documents a user may see, ingest files."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from bot.services.errors import UserError
from content.ingest import (
    SUPPORTED_SUFFIXES,
    OverLimit,
    ParsedPlan,
    PlansDirError,
    Section,
    UnreadableDocument,
)
from content.search import MAX_QUESTION_CHARS, KnowledgeBase
from content.tokenize import Tokenizer
from content.worker import index_in_worker, parse_bounded, parse_in_worker
from storage.db import Database
from storage.models import AuditLog, Document, Passage

log = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 10.0
ABSTAIN_TEXT = "工作要点中没有找到与这个问题直接相关的内容，建议向支部书记咨询。"
LOW_CONFIDENCE_TEXT = "工作要点中没有直接写到这一点，最相关的是："
ASK_IN_CHINESE = ("请用中文提问，例如：党费怎么交？三会一课多久开一次？\n"
                  "(Please ask in Chinese: the work plan is written in Chinese.)")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
HAN = re.compile(r"[\u3400-\u9fff]")


def in_english(question: str) -> bool:
    """A question written in English (two words or more and not a Chinese character), which
    the Chinese plans cannot answer: `how often do we meet`, not `PPT 怎么做` or `/me`."""
    return HAN.search(question) is None and len(ENGLISH_WORD.findall(question)) >= 2


@dataclass(frozen=True)
class Answer:
    text: str
    source: str
    score: float
    highlight: str


@dataclass(frozen=True)
class QAResult:
    """Answers best first and how sure the first is: `high` (it answers), `low` (the most
    related passage, which may not answer) or `none` (nothing related: no answers)."""

    question: str
    confidence: str
    answers: list[Answer]

    @property
    def abstained(self) -> bool:
        return self.confidence == "none"

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "confidence": self.confidence,
            "abstained": self.abstained,
            "answers": [
                {"text": a.text, "source": a.source, "score": round(a.score, 4)}
                for a in self.answers
            ],
        }

    def to_text(self) -> str:
        if self.abstained:
            return f"问：{self.question}\n答：{ABSTAIN_TEXT}\n"
        lines = [f"问：{self.question}"]
        if self.confidence == "low":
            lines.append(LOW_CONFIDENCE_TEXT)
        for number, answer in enumerate(self.answers, 1):
            lines.append(f"[{number}] {answer.source}\n{answer.text}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class UploadReport:
    title: str
    sections: int
    document_id: int
    replaced: bool


@dataclass
class IngestReport:
    added: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


class QAService:
    """Holds the index of the shipped/configured plans plus those stored in the database.

    Replicas share documents through the database; each notices a change within
    RELOAD_CHECK_SECONDS and rebuilds its own index.
    """

    def __init__(self, db: Database | None, plans_dir: Path | None = None,
                 tokenizer: Tokenizer | None = None) -> None:
        self.db = db  # None: a database never migrated, so no stored documents (`ask`)
        self.plans_dir = plans_dir
        self._tokenizer = tokenizer
        # the index and the document id of each of its plans (None: the plans directory),
        # replaced together so that a reload never pairs one with the other's predecessor
        self._loaded: tuple[KnowledgeBase, list[int | None]] | None = None
        self._plans: list[ParsedPlan] = []  # the organization's (duties come from these only)
        self._directory: list[ParsedPlan] | None = None
        self.organization_documents: frozenset[int] = frozenset()  # stored ones, in the index
        self._stamp: tuple[int, object] | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = Tokenizer()
        return self._tokenizer

    @property
    def knowledge_base(self) -> KnowledgeBase:
        return self._index()[0]

    def _index(self) -> tuple[KnowledgeBase, list[int | None]]:
        if self._loaded is None:
            self.load()
        assert self._loaded is not None
        return self._loaded

    def load(self, in_worker: bool = False) -> None:
        """(Re)build the index from the plans directory and the stored documents; built in the
        parse worker process when `in_worker` (the running bot: the build's CPU then does not
        slow the threads answering members), in this process if the worker fails."""
        with self._lock:
            plans, plan_documents, organization, self._stamp = self._gather()
            self._plans = [plan for plan, ours in zip(plans, organization, strict=True) if ours]
            self.organization_documents = frozenset(
                document for document, ours in zip(plan_documents, organization, strict=True)
                if ours and document is not None)
            self._loaded = (self._build(plans, in_worker), plan_documents)
            self._checked_at = time.monotonic()

    def _build(self, plans: list[ParsedPlan], in_worker: bool) -> KnowledgeBase:
        if in_worker:
            try:
                return index_in_worker(plans, self.tokenizer)
            except OverLimit as exc:
                log.warning("在解析进程中建立索引失败（%s），改在本进程建立", exc)
        return KnowledgeBase(plans, self.tokenizer)

    def _gather(self) -> tuple[list[ParsedPlan], list[int | None], list[bool],
                               tuple[int, object]]:
        """The directory's plans, overridden by name by the organization's stored documents,
        then the branches' (each its own: a branch's never replaces the organization's), with
        the id of the document each comes from (None: the plans directory) and whether it is
        the organization's."""
        plans: dict[tuple[str, int | None], tuple[ParsedPlan, int | None]] = {
            (plan.name, None): (plan, None) for plan in self.directory_plans()}
        stamp: tuple[int, object] = (0, None)
        if self.db is not None:
            with self.db.session() as session:
                stamp = self._db_stamp(session)
                documents = {d.id: d for d in session.exec(
                    select(Document).order_by(col(Document.id)))}
                passages = session.exec(
                    select(Passage).order_by(col(Passage.document_id), col(Passage.ordinal)))
                for document_id, rows in itertools.groupby(passages, key=lambda p: p.document_id):
                    document = documents[document_id]
                    plans[(document.name, document.chat_id)] = (
                        _plan_from_rows(document, list(rows)), document_id)
        return ([p for p, _ in plans.values()], [d for _, d in plans.values()],
                [scope is None for _, scope in plans], stamp)

    def directory_plans(self) -> list[ParsedPlan]:
        """The plans directory, read once; missing, empty or unreadable is an error (each
        unreadable file a warning naming it)."""
        if self.plans_dir is None:
            return []
        if self._directory is None:
            self._directory = read_plans_dir(Path(self.plans_dir))
        return self._directory

    @staticmethod
    def _db_stamp(session: Session) -> tuple[int, object]:
        """Changes when a document is added, replaced or removed (by any replica)."""
        count, latest = session.exec(
            select(func.count(col(Document.id)), func.max(col(Document.created_at)))
        ).one()
        return int(count), latest

    def _refresh_quietly(self) -> None:
        try:
            self._refresh_if_changed()
        except Exception:  # what is in memory still serves while the database is down
            self._checked_at = time.monotonic()

    def plans(self) -> list[ParsedPlan]:
        """The organization's plans (directory and database; branches' documents aside), for
        the duty calendar; read without building the index when it is not loaded (the CLI)."""
        if self._loaded is None:
            plans, _, organization, _ = self._gather()
            return [plan for plan, ours in zip(plans, organization, strict=True) if ours]
        self._refresh_quietly()
        return list(self._plans)

    def _refresh_if_changed(self) -> None:
        if self.db is None or time.monotonic() - self._checked_at < RELOAD_CHECK_SECONDS:
            return
        self._checked_at = time.monotonic()
        with self.db.session() as session:
            stamp = self._db_stamp(session)
        if stamp != self._stamp:
            self.load()

    def ask(self, question: str, k: int = 3,
            documents: Collection[int] | None = None) -> QAResult:
        """The best passages for a question and how sure the first is; no passages when the
        plans say nothing related.

        `documents` limits the answers to those stored documents (ids), e.g. the organization's
        and the asker's branch's; plans read from the plans directory are organization
        documents and always count. None: every document. The limit applies inside the
        ranking, so k visible passages come back whenever that many match."""
        question = (question or "").strip()
        if not question:
            raise UserError("请输入问题，例如：/ask 宣传主题多久定一次？")
        if len(question) > MAX_QUESTION_CHARS:
            raise UserError(f"问题太长了（{len(question)} 字），请精简到 {MAX_QUESTION_CHARS} 字以内再问。")
        self._refresh_quietly()
        knowledge_base, plan_documents = self._index()
        plans = None if documents is None else {
            number for number, document in enumerate(plan_documents)
            if document is None or document in documents}
        found = knowledge_base.search(question, k=max(1, k), plans=plans)
        answers = [] if found.confidence == "none" else [
            Answer(h.text, h.source, h.score, h.sentence) for h in found.hits]
        return QAResult(question=question, confidence=found.confidence if answers else "none",
                        answers=answers)

    # -- ingestion ------------------------------------------------------------------------

    def ingest_upload(self, name: str, data: bytes, *, chat_id: int | None = None,
                      added_by: int | None = None) -> UploadReport:
        """Add or replace one uploaded document, the organization's (`chat_id` None) or a
        branch's: parsed in a worker process within the bounds, stored, the index rebuilt.
        Blocking: async code awaits `add_upload`. A bad file: UserError with the reason,
        nothing stored."""
        plan = _parse_upload(name, data)
        with self._database().session() as session:
            stored = self._store(session, plan, chat_id, added_by)
        self.load()
        return UploadReport(f"《{plan.title}》", len(plan.sections), *stored)

    async def add_upload(self, name: str, data: bytes, *, chat_id: int | None = None,
                         added_by: int | None = None) -> UploadReport:
        """`ingest_upload` without holding up the event loop: the parse in a worker process,
        the write with the database's other writes, the index rebuilt in a thread."""
        plan = await asyncio.to_thread(_parse_upload, name, data)
        stored = await self._database().run(
            lambda session: self._store(session, plan, chat_id, added_by))
        await asyncio.to_thread(self.load, True)
        return UploadReport(f"《{plan.title}》", len(plan.sections), *stored)

    def ingest_paths(self, paths: Iterable[Path], progress: bool = False) -> IngestReport:
        """Ingest files and directories (walked) as organization documents, each parsed in a
        worker process within the bounds; unreadable files are reported and skipped."""
        files = _expand(paths)
        report = IngestReport()
        iterator: Iterable[Path] = files
        if progress and len(files) > 5:
            from tqdm import tqdm

            iterator = tqdm(files, desc="导入", unit="个")
        for path in iterator:
            try:
                plan = parse_in_worker(path.name, path.read_bytes())
                with self._database().session() as session:
                    self._store(session, plan, None, None)
                report.added.append((path.name, len(plan.sections)))
            except (UnreadableDocument, OSError) as exc:
                report.failed.append((str(path), str(exc)))
        if report.added:
            self.load()
        return report

    def _database(self) -> Database:
        if self.db is None:
            raise RuntimeError("storing documents needs a database")
        return self.db

    @staticmethod
    def _store(session: Session, plan: ParsedPlan, chat_id: int | None,
               added_by: int | None) -> tuple[int, bool]:
        """Store the plan in its scope, replacing the same name in the same scope only; the
        change goes to the audit log. Returns the document's id and whether it replaced one."""
        existing = session.exec(select(Document).where(
            Document.name == plan.name,
            col(Document.chat_id).is_(None) if chat_id is None else Document.chat_id == chat_id,
        )).first()
        if existing is not None:
            session.exec(delete(Passage).where(col(Passage.document_id) == existing.id))
            session.delete(existing)
            session.flush()
        document = Document(name=plan.name, title=plan.title, content_hash=plan.content_hash,
                            text=plan.text, chat_id=chat_id, added_by=added_by)
        session.add(document)
        session.flush()
        assert document.id is not None
        session.execute(insert(Passage), [  # one executemany: a long plan has thousands
            {"document_id": document.id, "ordinal": s.ordinal, "parent_ordinal": s.parent,
             "level": s.level, "heading": s.heading, "path": s.path_text, "text": s.text}
            for s in plan.sections])
        session.add(AuditLog(actor_id=added_by, chat_id=chat_id,
                             action="replace" if existing else "add", entity="document",
                             entity_id=str(document.id), detail=f"{plan.name}《{plan.title}》"))
        return document.id, existing is not None


def _parse_upload(name: str, data: bytes) -> ParsedPlan:
    """An uploaded file's plan, parsed in a worker process within the bounds; UserError with
    the reason (naming the bound) otherwise."""
    try:
        plan = parse_in_worker(name, data)
    except OverLimit as exc:
        raise UserError(f"「{name}」{exc}，未加入知识库。") from exc
    except UnreadableDocument as exc:
        raise UserError(f"无法读取「{name}」：{exc}") from exc
    if not plan.sections:
        raise UserError(f"「{name}」中没有识别出任何段落，请检查文件内容。")
    return plan


def read_plans_dir(folder: Path) -> list[ParsedPlan]:
    """Every readable plan of the plans directory; raises PlansDirError when the directory is
    missing or yields nothing, and logs a warning naming each file it cannot read."""
    if not folder.is_dir():
        raise PlansDirError(f"DANGJIAN_PLANS_DIR 不存在或不是目录：{folder}")
    files = [path for path in sorted(folder.rglob("*"))
             if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES]
    if not files:
        raise PlansDirError(f"DANGJIAN_PLANS_DIR 中没有 txt、md、docx 或 pdf 文件：{folder}")
    plans = []
    for path in files:
        try:
            plans.append(parse_bounded(path.name, path.read_bytes()))
        except (UnreadableDocument, OSError) as exc:
            log.warning("计划目录中的文件无法读取，已跳过：%s（%s）", path, exc)
    if not plans:
        raise PlansDirError(f"DANGJIAN_PLANS_DIR 中的文件都无法读取：{folder}")
    return plans


def _expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file()
                         and not p.name.startswith("."))
        else:
            files.append(path)
    return files


def _plan_from_rows(document: Document, passages: list[Passage]) -> ParsedPlan:
    sections = [
        Section(ordinal=p.ordinal, level=p.level, style=p.level, heading=p.heading, text=p.text,
                parent=p.parent_ordinal, path=p.path.split(" › ") if p.path else [])
        for p in passages
    ]
    for section in sections:
        if section.parent is not None:
            sections[section.parent].children.append(section.ordinal)
    return ParsedPlan(name=document.name, title=document.title, text=document.text,
                      sections=sections)
