"""INSERT … ON CONFLICT on SQLite and PostgreSQL alike: idempotency by constraint, in one statement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

_statements: dict[tuple[Any, ...], tuple[Any, ...]] = {}
"""Statements by shape, each kept with the conditions whose ids are in its key."""


def _statement(dialect: str, table: Table, conflict: tuple[str, ...], update: tuple[str, ...],
               where: ColumnElement[bool] | None,
               conflict_where: ColumnElement[bool] | None) -> Any:
    """Built once per shape and reused with new parameters: compiling is most of the cost."""
    key = (dialect, table.name, conflict, update, id(where), id(conflict_where))
    if key not in _statements:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(table)
        if update:
            statement = statement.on_conflict_do_update(
                index_elements=list(conflict), index_where=conflict_where,
                set_={name: statement.excluded[name] for name in update}, where=where,
            )
        else:
            statement = statement.on_conflict_do_nothing(index_elements=list(conflict),
                                                         index_where=conflict_where)
        # RETURNING, not rowcount: the driver's rowcount is -1 for these on psycopg 3.
        _statements[key] = (statement.returning(table.c[conflict[0]]), where, conflict_where)
    return _statements[key][0]


def upsert(
    session: Session,
    model: type[SQLModel],
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    where: ColumnElement[bool] | None = None,
    conflict_where: ColumnElement[bool] | None = None,
) -> bool:
    """Insert a row; on a clash of the `conflict` key do nothing, or copy the `update` columns
    from the new values (only when `where`, a module-level condition on the existing row, holds).
    `conflict_where` names a partial unique index by its condition (module-level too).

    Returns True when a row was inserted or updated, False when the existing row was left alone,
    so a repeated update or a double tap is told apart from a first one without an error.
    """
    table: Table = model.__table__  # type: ignore[attr-defined]
    statement = _statement(session.get_bind().dialect.name, table, tuple(conflict),
                           tuple(update), where, conflict_where)
    return session.connection().execute(statement, dict(values)).first() is not None
