"""What the database plans to do with a prepared statement (``EXPLAIN``), for tests that pin a
statement to its index."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, event

from smsgate.store.prepared import Prepared


def _plan(connection: Connection, sql: str, params: Any) -> str:
    """The plan's lines: PostgreSQL's ``EXPLAIN``, SQLite's ``EXPLAIN QUERY PLAN``."""
    prefix = "EXPLAIN " if connection.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    return "\n".join(str(row[-1]) for row in connection.exec_driver_sql(prefix + sql, params))


def query_plan(connection: Connection, statement: Prepared, params: Mapping[str, Any]) -> str:
    """The plan of a prepared statement run with ``params``."""
    compiled = statement.compiled(connection.dialect)
    return _plan(connection, compiled.sql, compiled.bind(params))


def every_index_condition_names(plan: str, column: str) -> bool:
    """Whether the plan has index conditions and each names ``column`` (PostgreSQL's
    ``Index Cond`` lines): the column is looked up, not left to a filter."""
    conditions = [line for line in plan.splitlines() if "Index Cond" in line]
    return bool(conditions) and all(column in line for line in conditions)


def plans_of(connection: Connection, work: Callable[[Connection], object]) -> list[str]:
    """The plans of the statements ``work`` runs through SQLAlchemy, with their parameters,
    planned after it ran."""
    ran: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        _connection, _cursor, statement, parameters, *_ = args
        ran.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        work(connection)
    finally:
        event.remove(connection, "before_cursor_execute", record)
    return [_plan(connection, sql, params) for sql, params in ran]
