"""Members' names as the roster learns them from group chatter."""

from __future__ import annotations

from sqlmodel import select

from bot.services.people import name_member
from storage.db import Database
from storage.models import Member


def test_a_member_is_named_once_and_renamed_without_a_clash(db: Database) -> None:
    """Naming a member the bot already knows (another replica got there first) updates the
    name instead of failing on the key; a member never named is inserted."""
    with db.session() as session:
        session.add(Member(id=7, display_name="旧名"))
    with db.session() as session:
        name_member(session, 7, "张三", "zhangsan")
        name_member(session, 8, "李四", None)
        name_member(session, 8, "李四", None)
    with db.session() as session:
        rows = session.exec(select(Member.id, Member.display_name, Member.username)
                            .order_by(Member.id)).all()
    assert [tuple(row) for row in rows] == [(7, "张三", "zhangsan"), (8, "李四", None)]


def test_an_event_that_names_nobody_never_blanks_a_name(db: Database) -> None:
    """A member first seen in an event with no name (a DingTalk tap) is stored under their id;
    once named, a nameless event leaves the name."""
    with db.session() as session:
        name_member(session, 9, "", None, unnamed="staff9")
    with db.session() as session:
        assert session.get(Member, 9).display_name == "staff9"
        name_member(session, 9, "王五", None)
        name_member(session, 9, "", None, unnamed="staff9")
    with db.session() as session:
        assert session.get(Member, 9).display_name == "王五"
