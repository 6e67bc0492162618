"""The QA service: documents stored in the database, shared by replicas, bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.services.errors import UserError
from bot.services.qa import QAService
from content.tokenize import Tokenizer
from storage.models import Document, Passage

PLAN = "2030年团建工作要点\n一、加强青年工作\n1.开展青年大学习。每季度组织一次青年大学习专题活动。\n"


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


def test_an_ingested_file_is_stored_with_its_passages_and_answers_at_once(db, tokenizer, tmp_path):
    qa = QAService(db, plans_dir=None, tokenizer=tokenizer)
    qa.load()
    assert qa.ask("青年大学习多久一次").abstained
    path = tmp_path / "youth.txt"
    path.write_text(PLAN, encoding="utf-8")
    report = qa.ingest_paths([path])
    assert report.added == [("youth.txt", 2)] and report.failed == []
    with db.session() as session:
        document = session.exec(select(Document)).one()
        passages = session.exec(select(Passage).order_by(Passage.ordinal)).all()
    assert document.title == "2030年团建工作要点"
    assert [p.level for p in passages] == ["part", "item"]
    answer = qa.ask("青年大学习多久一次").answers[0]
    assert "每季度" in answer.highlight
    assert answer.source == "《2030年团建工作要点》 一、加强青年工作 › 1.开展青年大学习"


def test_ingesting_the_same_name_again_replaces_the_document(db, tokenizer):
    qa = QAService(db, tokenizer=tokenizer)
    qa.ingest_upload("youth.txt", PLAN.encode())
    qa.ingest_upload("youth.txt", PLAN.replace("每季度", "每月").encode())
    with db.session() as session:
        assert len(session.exec(select(Document)).all()) == 1
    assert "每月" in qa.ask("青年大学习多久一次").answers[0].text


def test_a_directory_is_walked_and_an_unreadable_file_is_reported_not_fatal(db, tokenizer,
                                                                             tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "good.md").write_text(PLAN, encoding="utf-8")
    (tmp_path / "broken.docx").write_bytes(b"not a docx")
    (tmp_path / "notes.xls").write_bytes(b"x")
    report = QAService(db, tokenizer=tokenizer).ingest_paths([tmp_path])
    assert [name for name, _ in report.added] == ["good.md"]
    assert sorted(Path(name).name for name, _ in report.failed) == ["broken.docx", "notes.xls"]


def test_another_replica_sees_a_document_stored_by_the_first(db, tokenizer, monkeypatch):
    first = QAService(db, tokenizer=tokenizer)
    second = QAService(db, tokenizer=tokenizer)
    second.load()
    first.ingest_upload("youth.txt", PLAN.encode())
    second._checked_at = 0.0  # as if the reload interval had passed
    assert not second.ask("青年大学习多久一次").abstained


def test_plans_directory_documents_are_indexed_without_being_stored(db, tokenizer, tmp_path):
    (tmp_path / "plan.txt").write_text(PLAN, encoding="utf-8")
    qa = QAService(db, plans_dir=tmp_path, tokenizer=tokenizer)
    assert not qa.ask("青年大学习多久一次").abstained
    with db.session() as session:
        assert session.exec(select(Document)).all() == []


@pytest.mark.parametrize(("question", "reason"), [("", "请输入问题"), ("   ", "请输入问题"),
                                                  ("党" * 501, "问题太长")])
def test_empty_and_oversized_questions_get_a_reason(sqlite_db, tokenizer, question, reason):
    with pytest.raises(UserError, match=reason):
        QAService(sqlite_db, tokenizer=tokenizer).ask(question)


def test_an_upload_that_cannot_be_read_is_a_user_error(sqlite_db, tokenizer):
    qa = QAService(sqlite_db, tokenizer=tokenizer)
    with pytest.raises(UserError, match="无法读取"):
        qa.ingest_upload("plan.docx", b"garbage")
    with pytest.raises(UserError, match="没有识别出任何段落|无法读取"):
        qa.ingest_upload("plan.txt", b"\n\n")


OTHER = "2030年工会工作要点\n一、职工之家\n1.开展职工读书会。每月组织一次职工读书会。\n"


def test_answers_can_be_limited_to_the_documents_a_user_may_see(db, tokenizer, tmp_path):
    """Stored documents count only when their id is given; the plans directory's always do."""
    (tmp_path / "directory.txt").write_text(OTHER, encoding="utf-8")
    qa = QAService(db, plans_dir=tmp_path, tokenizer=tokenizer)
    qa.ingest_upload("youth.txt", PLAN.encode())
    with db.session() as session:
        [stored] = session.exec(select(Document)).all()
    seen = qa.ask("青年大学习多久一次", documents={stored.id})
    assert "青年大学习" in seen.answers[0].text
    hidden = qa.ask("青年大学习多久一次", documents=set())
    assert all("青年大学习" not in answer.text for answer in hidden.answers)
    assert "读书会" in qa.ask("职工读书会多久一次", documents=set()).answers[0].text
    assert "青年大学习" in qa.ask("青年大学习多久一次").answers[0].text  # None: every document


def test_a_result_says_how_sure_it_is_and_abstains_exactly_when_none(sqlite_db, tokenizer):
    qa = QAService(sqlite_db, tokenizer=tokenizer)
    qa.ingest_upload("youth.txt", PLAN.encode())
    answered = qa.ask("每季度组织一次青年大学习专题活动")
    assert answered.confidence == "high" and not answered.abstained
    assert answered.to_json()["confidence"] == "high"
    unrelated = qa.ask("加班费怎么算")
    assert unrelated.confidence == "none" and unrelated.to_json()["abstained"] is True
