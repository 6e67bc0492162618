"""Knowledge base scopes and bad files: a branch's document answers only its members and never
replaces the organization's; /docs rights; bounded parsing refuses a zip bomb and stores
nothing; the plans directory cannot silently be empty."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bad_files import zip_bomb_docx
from sqlmodel import select

from bot.services import knowledge, organization
from bot.services.errors import UserError
from bot.services.people import Actor
from bot.services.qa import QAService, read_plans_dir
from content.ingest import Limits, OverLimit, PlansDirError, parse_plan
from content.tokenize import Tokenizer
from content.worker import parse_in_worker
from storage.models import AuditLog, BranchMembership, Document, RoleGrant

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
GROUP, OTHER = -1001, -1002
ADMIN, SECRETARY, MEMBER, OUTSIDER = 900, 501, 502, 503
NAME = "2026年党建工作要点.txt"
ORG_PLAN = "2026年党建工作要点\n一、组织建设\n1.党费收缴。党费每季度收缴一次。\n"
FAKE_PLAN = "2026年党建工作要点\n一、组织建设\n1.党费收缴。党费每十年收缴一次。\n"


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


def member(user_id: int, chat_id: int, **kwargs: object) -> Actor:
    return Actor(user_id=user_id, name=f"用户{user_id}", chat_id=chat_id,
                 chat_type="private" if chat_id > 0 else "supergroup", **kwargs)


def answer(qa: QAService, db, actor: Actor) -> str:
    with db.session() as session:
        documents = knowledge.visible_documents(session, actor, open_mode=False)
    return qa.ask("党费多久交一次", documents=documents).answers[0].text


def test_a_branch_upload_never_shadows_the_organizations_document(db, tokenizer) -> None:
    """Same file name: the organization's stays for everyone else and for the duty calendar;
    only the uploading branch's members see the branch's version, in the group or privately."""
    qa = QAService(db, tokenizer=tokenizer)
    qa.ingest_upload(NAME, ORG_PLAN.encode(), added_by=ADMIN)
    qa.ingest_upload(NAME, FAKE_PLAN.encode(), chat_id=GROUP, added_by=SECRETARY)
    with db.session() as session:
        for chat_id in (GROUP, OTHER):
            organization.register(session, chat_id, f"支部{-chat_id}", ADMIN, NOW)
        session.add(BranchMembership(chat_id=GROUP, user_id=MEMBER, joined_at=NOW))
        session.add(BranchMembership(chat_id=OTHER, user_id=OUTSIDER, joined_at=NOW))
    assert "每季度" in answer(qa, db, member(OUTSIDER, OTHER))
    assert "每季度" in answer(qa, db, member(OUTSIDER, OUTSIDER))
    for where in (GROUP, MEMBER):
        with db.session() as session:
            seen = knowledge.visible_documents(session, member(MEMBER, where), open_mode=False)
        texts = [a.text for a in qa.ask("党费多久交一次", k=3, documents=seen).answers]
        assert any("每十年" in t for t in texts) and any("每季度" in t for t in texts)
    assert [p.text for p in qa.plans()] == [parse_plan(NAME, ORG_PLAN).text]
    with db.session() as session:
        actions = [(a.action, a.chat_id) for a in session.exec(select(AuditLog))]
    assert ("add", None) in actions and ("add", GROUP) in actions


def test_docs_lists_what_a_user_sees_and_removal_needs_the_adding_rights(db, tokenizer) -> None:
    """Members see the organization's and their branch's; only a global admin removes the
    organization's, a branch's secretary (or global admin) the branch's; removal is audited."""
    qa = QAService(db, tokenizer=tokenizer)
    org = qa.ingest_upload(NAME, ORG_PLAN.encode(), added_by=ADMIN).document_id
    branch = qa.ingest_upload("支部.txt", FAKE_PLAN.encode(), chat_id=GROUP).document_id
    outsider = member(OUTSIDER, OTHER)
    secretary = member(SECRETARY, GROUP, is_chat_admin=True)
    with db.session() as session:
        seen = knowledge.list_documents(session, outsider, False, [("示例.txt", "示例")])
        assert [(d.number, d.scope) for d in seen] == [(None, "组织文件"), (org, "组织文件")]
        mine = knowledge.list_documents(session, secretary, False, [])
        assert [d.number for d in mine] == [org, branch]
        with pytest.raises(UserError, match="只有添加该文件"):
            knowledge.remove_document(session, secretary, str(org), set())
        with pytest.raises(UserError, match="只有添加该文件"):
            knowledge.remove_document(session, member(SECRETARY, SECRETARY), str(branch), set())
        with pytest.raises(UserError, match="没有编号"):
            knowledge.remove_document(session, secretary, "999", set())
        knowledge.remove_document(session, member(SECRETARY, SECRETARY), str(branch), [GROUP])
        session.flush()
        assert session.get(Document, branch) is None
        assert session.exec(select(AuditLog).where(AuditLog.action == "remove")).one()


def test_uploads_go_where_the_uploader_is_secretary(db) -> None:
    """A global admin's upload is the organization's; a group admin's is the group's; in
    private, the branches (seen there) the user administers; a member is refused."""
    with db.session() as session:
        organization.register(session, GROUP, "一支部", ADMIN, NOW)
        organization.register(session, OTHER, "二支部", ADMIN, NOW)
        for chat_id in (GROUP, OTHER):
            session.add(BranchMembership(chat_id=chat_id, user_id=SECRETARY, joined_at=NOW))
        session.flush()
        admin = member(ADMIN, ADMIN, is_global_admin=True)
        assert knowledge.upload_branches(session, admin, set()) is None
        in_group = member(SECRETARY, GROUP, is_chat_admin=True)
        assert knowledge.upload_branches(session, in_group, set()) == [GROUP]
        private = member(SECRETARY, SECRETARY)
        assert organization.secretary_candidates(session, private, False) == ([], [OTHER, GROUP])
        assert knowledge.upload_branches(session, private, {GROUP, OTHER}) == [OTHER, GROUP]
        assert knowledge.upload_branches(session, private, {GROUP}) == [GROUP]
        with pytest.raises(UserError, match="只有支部书记"):
            knowledge.upload_branches(session, private, set())
        with pytest.raises(UserError, match="只有支部书记"):
            knowledge.upload_branches(session, member(MEMBER, GROUP), set())


def test_a_group_unbound_is_no_longer_among_a_secretarys_branches(db) -> None:
    """From a private chat a secretary acts only for branches: after /unbind their old group,
    granted or seen, is neither offered nor listed for a global admin."""
    admin = member(ADMIN, ADMIN, is_global_admin=True)
    private = member(SECRETARY, SECRETARY)
    with db.session() as session:
        for chat_id, name in ((GROUP, "一支部"), (OTHER, "二支部")):
            organization.register(session, chat_id, name, ADMIN, NOW)
        session.add(BranchMembership(chat_id=GROUP, user_id=SECRETARY, joined_at=NOW))
        session.add(RoleGrant(chat_id=OTHER, user_id=SECRETARY, role="secretary"))
        session.flush()
        assert organization.secretary_candidates(session, private, False) == ([OTHER], [GROUP])
        assert organization.secretary_candidates(session, admin, False) == ([OTHER, GROUP], [])
        organization.unbind(session, admin, str(GROUP))
        organization.unbind(session, admin, str(OTHER))
        session.flush()
        assert organization.secretary_candidates(session, private, False) == ([], [])
        assert organization.secretary_candidates(session, admin, False) == ([], [])
        assert organization.secretary_candidates(session, private, True) == ([OTHER], [GROUP])



def test_a_zip_bomb_docx_is_refused_naming_the_bound_and_nothing_is_stored(db, tokenizer) -> None:
    bomb = zip_bomb_docx(60 * 2**20)
    assert len(bomb) < 200_000
    qa = QAService(db, tokenizer=tokenizer)
    with pytest.raises(UserError, match="docx 解压后超过 50MB 的上限"):
        qa.ingest_upload("bomb.docx", bomb)
    with db.session() as session:
        assert session.exec(select(Document)).all() == []


def test_each_bound_is_named_when_exceeded() -> None:
    """Text length, the time limit (the worker is killed) and the file size."""
    text = ("一、总则\n" + "党建工作。" * 100).encode()
    with pytest.raises(OverLimit, match="文字超过"):
        parse_in_worker("plan.txt", text, Limits(text_chars=100))
    long_plan = "".join(f"{n}.第{n}项工作。党建工作要抓实抓细。\n" for n in range(1, 40_000))
    with pytest.raises(OverLimit, match="时限"):  # killed, and replaced for the next file
        parse_in_worker("plan.txt", long_plan.encode(), Limits(parse_seconds=0.0))
    with pytest.raises(OverLimit, match="1MB 的上限"):
        parse_in_worker("plan.txt", b"a" * (2**20 + 1), Limits(file_bytes=2**20))
    assert parse_in_worker("plan.txt", text).sections


def test_a_missing_or_empty_plans_directory_is_an_error(tmp_path: Path, caplog) -> None:
    with pytest.raises(PlansDirError, match="不存在"):
        read_plans_dir(tmp_path / "missing")
    with pytest.raises(PlansDirError, match="没有"):
        read_plans_dir(tmp_path)
    (tmp_path / "坏文件.docx").write_bytes(b"not a zip")
    with pytest.raises(PlansDirError, match="都无法读取"):
        read_plans_dir(tmp_path)
    (tmp_path / "plan.txt").write_text(ORG_PLAN, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert [p.title for p in read_plans_dir(tmp_path)] == ["2026年党建工作要点"]
    assert "坏文件.docx" in caplog.text


def test_titles_come_from_the_text() -> None:
    """A title line wherever it stands before the body; a plan that starts with its body is
    named by its year; else the file name."""
    assert parse_plan("x.txt", "集团党委文件\n《2027年党建工作要点》\n一、总则\n1.内容。").title \
        == "2027年党建工作要点"
    body = "2022年是关键之年，党建工作要全面提升。\n一、政治建设\n1.坚持党的领导。"
    assert parse_plan("000_9744bd6702739719.txt", body).title == "2022年党建工作要点"
    assert parse_plan("说明.txt", "这是一段说明文字，没有标题。\n第二段也是说明。").title == "说明"
