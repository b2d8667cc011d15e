"""Upserts: the INSERT ... ON CONFLICT of the connection's backend (SQLite and PostgreSQL spell
it alike, but SQLAlchemy builds it per dialect)."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``table`` that can say what to do on a conflict of keys."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
