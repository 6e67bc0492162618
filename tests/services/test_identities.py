"""Numbers for other platforms' ids: the same for the same id on every replica, distinct for
distinct ids even when the number derived from one is taken."""

from __future__ import annotations

from bot.services.identities import OUTSIDE_TELEGRAM, external_of, number_of
from storage.db import Database
from storage.models import Identity


def test_an_id_gets_one_number_on_every_database(db: Database) -> None:
    with db.session() as session:
        person = number_of(session, "feishu", "ou_a", group=False)
        group = number_of(session, "feishu", "oc_a", group=True)
        session.commit()
    other = Database("sqlite://")
    other.migrate()
    with other.session() as session:  # another replica's first sight of the same ids
        assert number_of(session, "feishu", "ou_a", group=False) == person
        assert number_of(session, "feishu", "oc_a", group=True) == group
    other.dispose()
    assert person > OUTSIDE_TELEGRAM and group < -OUTSIDE_TELEGRAM
    with db.session() as session:
        assert number_of(session, "feishu", "ou_a", group=False) == person
        assert external_of(session, person) == ("feishu", "ou_a")
        assert number_of(session, "telegram", "-100123", group=True) == -100123


def test_a_taken_number_moves_the_next_id_on(db: Database) -> None:
    elsewhere = Database("sqlite://")
    elsewhere.migrate()
    with elsewhere.session() as session:  # the number staff1 gets where nothing is taken
        wanted = number_of(session, "dingtalk", "staff1", group=False)
    elsewhere.dispose()
    with db.session() as session:
        session.add(Identity(id=wanted, platform="wecom", external_id="someone"))
        session.commit()
    with db.session() as session:
        moved = number_of(session, "dingtalk", "staff1", group=False)
        session.commit()
        assert moved == wanted + 1
        assert external_of(session, wanted) == ("wecom", "someone")
        assert number_of(session, "dingtalk", "staff1", group=False) == moved
