"""Questions about the plans: load the knowledge base, answer, abstain honestly, ingest files."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from bot.services.errors import UserError
from content.ingest import (
    SUPPORTED_SUFFIXES,
    ParsedPlan,
    Section,
    UnreadableDocument,
    parse_plan,
    read_document,
    read_document_bytes,
)
from content.search import MAX_QUESTION_CHARS, KnowledgeBase
from content.tokenize import Tokenizer
from storage.db import Database
from storage.models import Document, Passage

RELOAD_CHECK_SECONDS = 10.0
ABSTAIN_TEXT = "工作要点中没有找到与这个问题直接相关的内容，建议向支部书记咨询。"


@dataclass(frozen=True)
class Answer:
    text: str
    source: str
    score: float
    highlight: str


@dataclass(frozen=True)
class QAResult:
    question: str
    abstained: bool
    answers: list[Answer]

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
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
        for number, answer in enumerate(self.answers, 1):
            lines.append(f"[{number}] {answer.source}\n{answer.text}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class UploadReport:
    title: str
    sections: int


@dataclass
class IngestReport:
    added: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


class QAService:
    """Holds the index of the shipped/configured plans plus those stored in the database.

    Replicas share documents through the database; each notices a change within
    RELOAD_CHECK_SECONDS and rebuilds its own index.
    """

    def __init__(self, db: Database, plans_dir: Path | None = None,
                 tokenizer: Tokenizer | None = None) -> None:
        self.db = db
        self.plans_dir = plans_dir
        self._tokenizer = tokenizer
        self._kb: KnowledgeBase | None = None
        self._plans: list[ParsedPlan] = []
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
        if self._kb is None:
            self.load()
        assert self._kb is not None
        return self._kb

    def load(self) -> None:
        """(Re)build the index from the plans directory and the stored documents."""
        with self._lock:
            self._plans, self._stamp = self._gather()
            self._kb = KnowledgeBase(self._plans, self.tokenizer)
            self._checked_at = time.monotonic()

    def _gather(self) -> tuple[list[ParsedPlan], tuple[int, object]]:
        """The directory's plans, overridden by name by those stored in the database."""
        plans = {plan.name: plan for plan in self._directory_plans()}
        with self.db.session() as session:
            stamp = self._db_stamp(session)
            documents = {d.id: d for d in session.exec(select(Document).order_by(col(Document.id)))}
            passages = session.exec(
                select(Passage).order_by(col(Passage.document_id), col(Passage.ordinal))
            )
            for document_id, rows in itertools.groupby(passages, key=lambda p: p.document_id):
                document = documents[document_id]
                plans[document.name] = _plan_from_rows(document, list(rows))
        return list(plans.values()), stamp

    def _directory_plans(self) -> Iterable[ParsedPlan]:
        if not self.plans_dir or not Path(self.plans_dir).is_dir():
            return []
        plans = []
        for path in sorted(Path(self.plans_dir).rglob("*")):
            if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                try:
                    plans.append(parse_plan(path.name, read_document(path)))
                except UnreadableDocument:
                    continue
        return plans

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
        """The plans the answers come from (directory and database), for the duty calendar;
        read without building the index when it is not loaded (the CLI)."""
        if self._kb is None:
            return self._gather()[0]
        self._refresh_quietly()
        return list(self._plans)

    def _refresh_if_changed(self) -> None:
        if time.monotonic() - self._checked_at < RELOAD_CHECK_SECONDS:
            return
        self._checked_at = time.monotonic()
        with self.db.session() as session:
            stamp = self._db_stamp(session)
        if stamp != self._stamp:
            self.load()

    def ask(self, question: str, k: int = 3) -> QAResult:
        """The best passages for a question, or an abstention when the plans do not say."""
        question = (question or "").strip()
        if not question:
            raise UserError("请输入问题，例如：/ask 宣传主题多久定一次？")
        if len(question) > MAX_QUESTION_CHARS:
            raise UserError(f"问题太长了（{len(question)} 字），请精简到 {MAX_QUESTION_CHARS} 字以内再问。")
        self._refresh_quietly()
        hits = self.knowledge_base.search(question, k=max(1, k))
        answers = [Answer(h.text, h.source, h.score, h.sentence) for h in hits]
        return QAResult(question=question, abstained=not answers, answers=answers)

    # -- ingestion ------------------------------------------------------------------------

    def ingest_upload(self, name: str, data: bytes) -> UploadReport:
        """Add or replace one uploaded document; a bad file becomes a UserError with the reason."""
        try:
            plan = parse_plan(name, read_document_bytes(name, data))
        except UnreadableDocument as exc:
            raise UserError(f"无法读取「{name}」：{exc}") from exc
        if not plan.sections:
            raise UserError(f"「{name}」中没有识别出任何段落，请检查文件内容。")
        with self.db.session() as session:
            self._store(session, plan)
        self.load()
        return UploadReport(title=f"《{plan.title}》", sections=len(plan.sections))

    def ingest_paths(self, paths: Iterable[Path], progress: bool = False) -> IngestReport:
        """Ingest files and directories (walked); unreadable files are reported and skipped."""
        files = _expand(paths)
        report = IngestReport()
        iterator: Iterable[Path] = files
        if progress and len(files) > 5:
            from tqdm import tqdm

            iterator = tqdm(files, desc="导入", unit="个")
        for path in iterator:
            try:
                plan = parse_plan(path.name, read_document(path))
                with self.db.session() as session:
                    self._store(session, plan)
                report.added.append((path.name, len(plan.sections)))
            except (UnreadableDocument, OSError) as exc:
                report.failed.append((str(path), str(exc)))
        if report.added:
            self.load()
        return report

    @staticmethod
    def _store(session: Session, plan: ParsedPlan) -> None:
        existing = session.exec(select(Document).where(Document.name == plan.name)).first()
        if existing is not None:
            session.exec(delete(Passage).where(col(Passage.document_id) == existing.id))
            session.delete(existing)
            session.flush()
        document = Document(name=plan.name, title=plan.title, content_hash=plan.content_hash,
                            text=plan.text)
        session.add(document)
        session.flush()
        assert document.id is not None
        session.add_all(
            Passage(document_id=document.id, ordinal=s.ordinal, parent_ordinal=s.parent,
                    level=s.level, heading=s.heading, path=s.path_text, text=s.text)
            for s in plan.sections
        )


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
