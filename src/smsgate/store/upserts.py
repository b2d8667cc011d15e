"""Upserts: the INSERT ... ON CONFLICT of the connection's backend (SQLite and PostgreSQL spell
it alike, but SQLAlchemy builds it per dialect)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import UpdateBase

from smsgate.store.prepared import Prepared

DialectInsert = Callable[[Table], postgresql.Insert | sqlite.Insert]


def upsert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``table`` that can say what to do on a conflict of keys."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class PreparedUpsert:
    """An upsert on a hot path, prepared once per backend: ``build`` is given the backend's
    ``insert`` to build it with."""

    def __init__(self, build: Callable[[DialectInsert], UpdateBase]) -> None:
        self._by_dialect = {
            "sqlite": Prepared(build(sqlite.insert)),
            "postgresql": Prepared(build(postgresql.insert)),
        }

    def on(self, connection: Connection) -> Prepared:
        """The statement for ``connection``'s backend."""
        return self._by_dialect[connection.dialect.name]
