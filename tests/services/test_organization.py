"""The organization boundary's rules: who is served where, registering branches, global admin
ids, and how a branch is named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlmodel import select

from bot.config import Settings, admin_id
from bot.services import organization
from bot.services.branches import branch_label
from bot.services.errors import UserError
from bot.services.people import Actor
from storage.models import AuditLog, BranchMembership, Chat

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
ADMIN, SECRETARY, MEMBER = 900, 501, 502
GROUP, OTHER = -1001, -1002
ADMINS = frozenset({ADMIN})


def admin_in(chat_id: int, chat_type: str = "supergroup") -> Actor:
    return Actor(user_id=ADMIN, name="管理员", chat_id=chat_id, chat_type=chat_type,
                 chat_title="机关一支部群", is_global_admin=True)


def serve(session, chat_id: int, user_id: int, admins=ADMINS) -> str | None:
    return organization.may_serve(session, chat_id=chat_id, in_group=chat_id < 0,
                                  user_id=user_id, admins=admins)


def test_only_registered_groups_are_served_once_admins_are_set(db) -> None:
    """An unregistered group gets the one line (its own admins too); after /bind it is served;
    global admins are served everywhere; open mode serves every group."""
    with db.session() as session:
        assert serve(session, GROUP, SECRETARY) == organization.UNREGISTERED
        assert serve(session, GROUP, ADMIN) is None
        assert serve(session, GROUP, SECRETARY, admins=frozenset()) is None
        organization.bind(session, admin_in(GROUP), "第一党支部", NOW)
        assert serve(session, GROUP, SECRETARY) is None
        assert serve(session, OTHER, SECRETARY) == organization.UNREGISTERED


def test_private_chats_need_a_member_seen_in_a_registered_branch(db) -> None:
    """A stranger is refused privately; a member of an unregistered group too; a member of a
    registered branch is served; one who left no longer is."""
    with db.session() as session:
        assert serve(session, MEMBER, MEMBER) == organization.PRIVATE_REFUSAL
        session.add(BranchMembership(chat_id=GROUP, user_id=MEMBER, joined_at=NOW))
        session.flush()
        assert serve(session, MEMBER, MEMBER) == organization.PRIVATE_REFUSAL
        organization.bind(session, admin_in(GROUP), "第一党支部", NOW)
        assert serve(session, MEMBER, MEMBER) is None
        stay = session.exec(select(BranchMembership)).one()
        stay.left_at = NOW
        session.add(stay)
        session.flush()
        assert serve(session, MEMBER, MEMBER) == organization.PRIVATE_REFUSAL


def test_bind_is_for_global_admins_in_a_group_and_audited(db) -> None:
    """Group admins and private chats are refused; a second /bind renames; /unbind ends it;
    each change is in the audit log."""
    secretary = Actor(user_id=SECRETARY, name="书记", chat_id=GROUP, chat_type="supergroup",
                      is_chat_admin=True)
    with db.session() as session:
        with pytest.raises(UserError, match="组织管理员"):
            organization.bind(session, secretary, "第一党支部", NOW)
        with pytest.raises(UserError, match="支部群内"):
            organization.bind(session, admin_in(ADMIN, "private"), "第一党支部", NOW)
        with pytest.raises(UserError, match="开放模式"):
            organization.bind(session, admin_in(GROUP), "第一党支部", NOW, open_mode=True)
        assert organization.bind(session, admin_in(GROUP), "", NOW).name == "机关一支部群"
        renamed = organization.bind(session, admin_in(GROUP), "第一 党支部", NOW)
        assert renamed.renamed_from == "机关一支部群" and renamed.name == "第一 党支部"
        assert organization.unbind(session, admin_in(ADMIN, "private"), str(GROUP)) == "第一 党支部"
        with pytest.raises(UserError, match="尚未登记"):
            organization.unbind(session, admin_in(GROUP))
        actions = [a.action for a in session.exec(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["bind", "rename", "unbind"]


def test_branches_lists_registered_groups_with_members(db) -> None:
    with db.session() as session:
        organization.bind(session, admin_in(GROUP), "第一党支部", NOW)
        session.add(Chat(id=OTHER, title="未登记的群", type="supergroup"))
        session.add(BranchMembership(chat_id=GROUP, user_id=MEMBER, joined_at=NOW))
        session.flush()
        [branch] = organization.branches(session, admin_in(ADMIN, "private"))
        with pytest.raises(UserError):
            organization.branches(session, Actor(user_id=MEMBER, name="党员", chat_id=MEMBER))
    assert (branch.chat_id, branch.name, branch.members) == (GROUP, "第一党支部", 1)


def test_a_branch_is_named_by_its_registered_name_else_its_title() -> None:
    assert branch_label(Chat(id=GROUP, title="群", branch_name="一支部")) == "一支部"
    assert branch_label(Chat(id=GROUP, title="群")) == "群"
    assert branch_label(Chat(id=GROUP)) == f"未命名支部（{GROUP}）"


@pytest.mark.parametrize(("text", "expected"), [
    ("123", 123), ("telegram:123", 123), ("-5", -5), ("Feishu:ou_abc", "feishu:ou_abc"),
    ("dingtalk:0123", "dingtalk:0123"),
])
def test_admin_ids_keep_telegram_numbers_and_qualify_others(text: str, expected) -> None:
    assert admin_id(text) == expected


def test_bad_admin_ids_are_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="平台:id"):
        Settings(DANGJIAN_ADMINS="12,abc", _env_file=None)
    settings = Settings(DANGJIAN_ADMINS="12, feishu:ou_x", _env_file=None)
    assert settings.admins == {12, "feishu:ou_x"} and not settings.open_mode
    assert Settings(_env_file=None).open_mode
