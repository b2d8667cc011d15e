"""The group-committing writer keeps one connection, and gives it up when a write fails."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from smsgate.store.database import Database


def fail(_connection: Connection) -> None:
    raise RuntimeError("this write fails")


def test_a_failed_write_leaves_the_writer_working(database: Database) -> None:
    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="this write fails"):
            await database.write(fail)
        assert await database.write(lambda c: c.execute(text("SELECT 1")).scalar()) == 1

    asyncio.run(scenario())


def test_a_lost_connection_costs_one_write(database: Database) -> None:
    """PostgreSQL: the writer's server process ends (a restart, a failover); the write that
    finds out fails, and the next one runs on a fresh connection."""
    if database.dialect != "postgresql":
        pytest.skip("a SQLite connection cannot be lost")

    def backend_pid(connection: Connection) -> int:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

    async def scenario() -> None:
        pid = await database.write(backend_pid)
        database.read_sync(
            lambda c: c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        )
        with pytest.raises(OperationalError):
            await database.write(backend_pid)
        assert await database.write(backend_pid) != pid

    asyncio.run(scenario())
