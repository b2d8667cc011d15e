"""The group-committing writer keeps one connection, and gives it up when a write fails."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from smsgate.store.database import Database, Lane


def fail(_connection: Connection) -> None:
    raise RuntimeError("this write fails")


def test_a_failed_write_leaves_the_writer_working(database: Database) -> None:
    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="this write fails"):
            await database.write(fail)
        assert await database.write(lambda c: c.execute(text("SELECT 1")).scalar()) == 1

    asyncio.run(scenario())


def test_a_lost_connection_costs_one_write(database: Database) -> None:
    """The writer's connection goes away underneath it (on PostgreSQL its server process ends:
    a restart, a failover); the write that finds out fails, the next runs on a fresh one."""

    def driver_connection(connection: Connection) -> Any:
        return connection.connection.dbapi_connection

    def lose(driver: Any) -> None:
        if database.dialect == "postgresql":
            terminate = text("SELECT pg_terminate_backend(:pid)")
            database.read_sync(lambda c: c.execute(terminate, {"pid": driver.info.backend_pid}))
        else:
            driver.close()

    async def scenario() -> None:
        lost = await database.write(driver_connection)
        lose(lost)
        with pytest.raises((DBAPIError, sqlite3.Error)):
            await database.write(lambda c: c.execute(text("SELECT 1")).scalar())
        assert await database.write(lambda c: c.execute(text("SELECT 1")).scalar()) == 1
        assert await database.write(driver_connection) is not lost

    asyncio.run(scenario())


def test_outcomes_commit_beside_a_busy_main_lane(database: Database) -> None:
    """On PostgreSQL the lanes are two connections and threads: a slow write on one (a claim
    waiting for the server) holds up nothing on the other."""
    if database.dialect == "sqlite":
        return  # one write lock, one writer: the lanes are one (and drain on the event loop)
    release = threading.Event()

    def slow(_connection: Connection) -> str:
        assert release.wait(10)
        return "main"

    async def scenario() -> None:
        main = asyncio.ensure_future(database.write(slow))
        await asyncio.sleep(0.05)
        outcome = database.write(lambda c: c.execute(text("SELECT 1")).scalar(), Lane.OUTCOMES)
        assert await asyncio.wait_for(outcome, 5) == 1
        assert not main.done()
        release.set()
        assert await main == "main"

    asyncio.run(scenario())
