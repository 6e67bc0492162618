"""INSERT … ON CONFLICT on SQLite and PostgreSQL alike: idempotency by constraint, in one statement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel


def upsert(
    session: Session,
    model: type[SQLModel],
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Mapping[str, Any] | None = None,
    where: ColumnElement[bool] | None = None,
) -> bool:
    """Insert a row; on a clash of the `conflict` key do nothing, or apply `update` (when `where`).

    Returns True when a row was inserted or updated, False when the existing row was left alone,
    so a repeated update or a double tap is told apart from a first one without an error.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values)  # type: ignore[arg-type]
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=list(conflict), set_=dict(update), where=where
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    key = model.__table__.c[conflict[0]]  # type: ignore[attr-defined]
    # RETURNING, not rowcount: the driver's rowcount is -1 for these statements on psycopg 3.
    return session.exec(statement.returning(key)).first() is not None  # type: ignore[call-overload]
