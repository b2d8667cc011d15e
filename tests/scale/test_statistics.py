"""Planner statistics: a busy table that changed enough is analyzed (PostgreSQL); SQLite's
planner needs none, so the upkeep does nothing there."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from smsgate.store.database import Database
from smsgate.store.simulator import add_incoming
from smsgate.store.statistics import MIN_CHANGES, analyze_stale, keep_statistics, stale_tables


def test_a_table_that_grew_is_analyzed_once(database: Database) -> None:
    if database.dialect == "sqlite":
        # Returns at once instead of looping: nothing to keep.
        asyncio.run(asyncio.wait_for(keep_statistics(database, interval=0), 1))
        return
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
