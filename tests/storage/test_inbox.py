"""Stored webhook updates on SQLite and PostgreSQL: a repeat is refused by the key, a live claim
is left alone, an expired one goes to exactly one replica, a restarted replica takes back its
own at once, renewal keeps a claim, handled updates are pruned after a while.

A claim's lease running out is written as what it is, a `claimed_until` in the past."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import inbox
from storage.db import Database

A, B, C = "host-a:8080", "host-b:8080", "host-c:8080"


def expire(db: Database, update_id: int) -> None:
    with db.session() as session:
        session.execute(text("UPDATE inboundupdate SET claimed_until = :past WHERE update_id = :id"),
                        {"past": "2000-01-01 00:00:00+00:00", "id": update_id})


def row(db: Database, update_id: int) -> tuple[str, str, int] | None:
    with db.session() as session:
        found = session.execute(text("SELECT status, claimed_by, attempts FROM inboundupdate "
                                     "WHERE update_id = :id"), {"id": update_id}).first()
    return None if found is None else (found[0], found[1], found[2])


def test_an_update_is_stored_once_whoever_receives_it(db: Database) -> None:
    """A second insert of a stored id, by any replica, stores nothing."""
    with db.session() as session:
        assert inbox.store(session, [(10, '{"update_id": 10}'), (9, "{}")], A) == {9, 10}
        assert inbox.store(session, [(10, '{"update_id": 10}')], B) == set()  # Telegram's repeat
    assert row(db, 10) == ("pending", A, 1)


def test_a_live_claim_is_left_alone_and_an_expired_one_goes_to_one_replica(db: Database) -> None:
    """A claim still valid is not taken; once expired, one replica takes it, oldest first,
    and no other."""
    with db.session() as session:
        inbox.store(session, [(11, '{"update_id": 11}')], A)
        inbox.store(session, [(12, '{"update_id": 12}')], A)
    with db.session() as session:
        assert inbox.take_over(session, B) == []
    expire(db, 12)
    expire(db, 11)
    with db.session() as session:
        taken = inbox.take_over(session, B)
    with db.session() as session:
        assert inbox.take_over(session, C) == []
    assert taken == [(11, '{"update_id": 11}', 2), (12, '{"update_id": 12}', 2)]  # oldest first
    assert row(db, 11) == ("pending", B, 2)


def test_a_restarted_replica_takes_back_its_own_updates_at_once(db: Database) -> None:
    """A replica restarted under its name takes back its own claims before they expire, and
    only its own."""
    with db.session() as session:
        inbox.store(session, [(13, '{"update_id": 13}')], A)
        inbox.store(session, [(14, '{"update_id": 14}')], B)
    with db.session() as session:
        assert [i for i, _, _ in inbox.take_over(session, A, own=True)] == [13]


def test_renewing_keeps_the_claims_of_unhandled_updates(db: Database) -> None:
    """Renewal extends the claims on pending updates, so nobody takes them over."""
    with db.session() as session:
        inbox.store(session, [(15, '{"update_id": 15}')], A)
        inbox.store(session, [(16, '{"update_id": 16}')], A)
        inbox.finish(session, [16])
    expire(db, 15)
    with db.session() as session:
        inbox.renew(session, A)
    with db.session() as session:
        assert inbox.take_over(session, B) == []
    assert row(db, 16) == ("done", A, 1)


def test_handled_and_given_up_updates_are_pruned_after_a_while(db: Database) -> None:
    """Done and failed rows older than the keep time are deleted; pending ones never."""
    with db.session() as session:
        for update_id in (17, 18, 19):
            inbox.store(session, [(update_id, "{}")], A)
        inbox.finish(session, [17])
        inbox.finish(session, [18], status="failed")
    with db.session() as session:
        inbox.prune(session)  # a day has not passed
    assert row(db, 17) is not None
    with db.session() as session:
        inbox.prune(session, keep=timedelta(seconds=-1))
    assert (row(db, 17), row(db, 18), row(db, 19)) == (None, None, ("pending", A, 1))


@pytest.fixture(params=["sqlite", "postgres"])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database several connections use at once: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    database.migrate()
    yield database
    database.engine.dispose()


def test_replicas_taking_over_at_the_same_moment_never_share_an_update(
        shared_db: Database) -> None:
    """Three replicas sweep 300 expired updates at once: each update goes to exactly one."""
    db = shared_db
    with db.session() as session:
        inbox.store(session, [(n, "{}") for n in range(100, 400)], A)
    with db.session() as session:
        session.execute(text("UPDATE inboundupdate SET claimed_until = :past"),
                        {"past": "2000-01-01 00:00:00+00:00"})
    start = threading.Barrier(3)

    def sweep(worker: str) -> list[int]:
        start.wait()
        taken: list[int] = []
        while True:
            with db.session() as session:
                batch = inbox.take_over(session, worker, limit=20)
            if not batch:
                return taken
            taken += [update_id for update_id, _, _ in batch]

    with ThreadPoolExecutor(3) as pool:
        shares = list(pool.map(sweep, (A, B, C)))
    assert sorted(n for share in shares for n in share) == list(range(100, 400))
