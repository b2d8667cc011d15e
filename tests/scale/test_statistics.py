"""Planner statistics: a busy table that changed enough is analyzed (PostgreSQL); SQLite's
planner needs none, so the upkeep does nothing there."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection

from smsgate.store.database import Database
from smsgate.store.simulator import add_incoming
from smsgate.store.statistics import (
    MIN_CHANGES,
    STATISTICS_TARGET,
    analyze_stale,
    keep_statistics,
    stale_tables,
)


@pytest.mark.parametrize("databases", ["sqlite"], indirect=True)
def test_on_sqlite_there_are_no_statistics_to_keep(database: Database) -> None:
    # Returns at once instead of looping.
    asyncio.run(asyncio.wait_for(keep_statistics(database, interval=0), 1))


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_table_that_grew_is_analyzed_once(database: Database) -> None:
    default_target = database.read_sync(_statistics_target)
    now = datetime.now(UTC)
    messages = [("79001234567", "1234", f"message {index}") for index in range(MIN_CHANGES + 1)]
    database.write_sync(lambda connection: add_incoming(connection, messages, now))
    # A backend publishes its activity counters when idle, within 10 s of its last report.
    deadline = time.monotonic() + 30
    while "simulator_inbox" not in database.read_sync(stale_tables):
        assert time.monotonic() < deadline, "the inserts never showed in pg_stat_user_tables"
        time.sleep(0.1)
    assert "simulator_inbox" in database.read_sync(analyze_stale)
    assert "simulator_inbox" not in database.read_sync(stale_tables)
    # The small sample: every text differs, so a target of 100 (the server's default) would
    # keep 101 histogram bounds of them; the connection is left with the server's default.
    bounds = database.read_sync(
        lambda connection: connection.exec_driver_sql(
            "SELECT array_length(histogram_bounds, 1) FROM pg_stats"
            " WHERE tablename = 'simulator_inbox' AND attname = 'text'"
        ).scalar_one()
    )
    assert 2 <= bounds <= STATISTICS_TARGET + 1
    assert database.read_sync(_statistics_target) == default_target


def _statistics_target(connection: Connection) -> str:
    return str(connection.exec_driver_sql("SHOW default_statistics_target").scalar())
