"""Webhook updates in the database: stored (and claimed by the replica that received them) before
Telegram is answered 200, claimed by one replica at a time under a lease that its holder renews
while it lives, marked done once handled, and deleted a day later.

Leases are timed by the database server's clock on PostgreSQL, so replicas whose clocks drift
still agree when one has expired; a SQLite file has one machine, hence one clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from storage.models import PENDING, InboundUpdate

LEASE = timedelta(seconds=15)
"""How long a claim holds without renewal: a replica that died leaves its updates to the others
this long after its last renewal."""
KEEP = timedelta(days=1)
"""How long a handled update's id is kept to drop a repeat: Telegram keeps an update it could
not deliver for 24 hours."""
_statements: dict[str, Any] = {}


def _now(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.now()
    return datetime.now(UTC)


def store(session: Session, updates: Sequence[tuple[int, str]], worker: str) -> set[int]:
    """Insert the updates (id, JSON), claimed by `worker`, in one statement; the ids inserted,
    which leaves out a repeat of a stored id, whichever replica received it first."""
    dialect = session.get_bind().dialect.name
    rows = [{"update_id": update_id, "payload": payload, "worker": worker}
            for update_id, payload in updates]
    if dialect != "postgresql":
        now = datetime.now(UTC)
        rows = [row | {"now": now, "until": now + LEASE} for row in rows]
    return set(session.connection().execute(_store_statement(dialect), rows).scalars())


def _store_statement(dialect: str) -> Any:
    """Built once per dialect: statement building and compiling cost more than the insert."""
    if dialect not in _statements:
        table = InboundUpdate.__table__  # type: ignore[attr-defined]
        if dialect == "postgresql":
            now, until, insert = func.now(), func.now() + LEASE, postgresql.insert
        else:
            now, until, insert = bindparam("now"), bindparam("until"), sqlite.insert
        _statements[dialect] = insert(table).values(
            update_id=bindparam("update_id"), payload=bindparam("payload"), received_at=now,
            status="pending", claimed_by=bindparam("worker"), claimed_until=until, attempts=1,
        ).on_conflict_do_nothing(index_elements=["update_id"]).returning(table.c.update_id)
    return _statements[dialect]


def finish(session: Session, update_ids: Iterable[int], status: str = "done") -> None:
    """Mark updates handled (or given up: `failed`)."""
    if "finish" not in _statements:
        _statements["finish"] = update(InboundUpdate).where(
            col(InboundUpdate.update_id).in_(bindparam("ids", expanding=True)),
        ).values(status=bindparam("status"), claimed_until=None)
    session.connection().execute(_statements["finish"],
                                 {"ids": list(update_ids), "status": status})


def renew(session: Session, worker: str) -> None:
    """Extend the claims `worker` holds on updates not yet handled."""
    session.execute(update(InboundUpdate).where(
        text(PENDING), col(InboundUpdate.claimed_by) == worker,
    ).values(claimed_until=_now(session) + LEASE))


def take_over(session: Session, worker: str, *, own: bool = False, limit: int = 500
              ) -> list[tuple[int, str, int]]:
    """Claim for `worker` the pending updates whose claim has expired (with `own`, also those
    claimed under `worker`'s own name: the same replica before a restart), oldest first, at most
    `limit`; (update_id, payload, times taken up) of each. Two replicas never get the same one:
    the claim re-checks the expiry on the row it locks."""
    now = _now(session)
    due = col(InboundUpdate.claimed_until) < now
    if own:
        due = or_(due, col(InboundUpdate.claimed_by) == worker)
    pending = text(PENDING)  # literally, so that the databases use the partial index
    oldest = (select(col(InboundUpdate.update_id)).where(pending, due)
              .order_by(col(InboundUpdate.update_id)).limit(limit))
    rows = session.execute(
        update(InboundUpdate)
        .where(col(InboundUpdate.update_id).in_(oldest), pending, due)
        .values(claimed_by=worker, claimed_until=now + LEASE,
                attempts=col(InboundUpdate.attempts) + 1)
        .returning(col(InboundUpdate.update_id), col(InboundUpdate.payload),
                   col(InboundUpdate.attempts))
    ).all()
    return sorted((int(i), str(p), int(a)) for i, p, a in rows)


def prune(session: Session, keep: timedelta = KEEP) -> None:
    """Delete the updates handled (or given up) more than `keep` ago."""
    session.execute(delete(InboundUpdate).where(
        col(InboundUpdate.status).in_(["done", "failed"]),
        col(InboundUpdate.received_at) < _now(session) - keep))

