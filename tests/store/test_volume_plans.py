"""Reads that must stay a range of an index however many parts and sessions the store holds
(months of traffic: millions of rows), whatever the statistics say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from smsgate.services.accounts import AccountAdmin
from smsgate.store.accounts import delete_sessions, insert_session
from smsgate.store.database import Database
from smsgate.store.messages import count_by_state, insert_parts
from smsgate.store.retention import delete_expired_sessions
from tests.store.parts import part_row
from tests.store.plans import plans_of

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def analyzed(database: Database) -> None:
    database.write_sync(lambda connection: connection.exec_driver_sql("ANALYZE"))


def test_statistic_counts_a_period_by_state_from_the_account_time_index(
    database: Database,
) -> None:
    """A table page per part, on the pages every account's parts share, took 0.7 s for a
    month of a busy account among 5 million parts; from the index alone (PostgreSQL) 45 ms."""
    admin = AccountAdmin(database)
    accounts = [admin.create(f"counted-{n}", password="secret-password") for n in range(4)]
    rows = [part_row(i, accounts[i % 4], NOW - timedelta(seconds=i)) for i in range(1, 20_001)]
    database.write_sync(lambda connection: insert_parts(connection, rows))
    analyzed(database)

    def count(connection: Connection) -> None:
        counts = count_by_state(connection, accounts[0], NOW - timedelta(days=1), NOW)
        assert sum(counts.values()) == 5_000

    (plan,) = database.read_sync(lambda connection: plans_of(connection, count))
    assert "ix_messages_account_id_created_at" in plan, plan
    if database.dialect == "postgresql":
        # An index-only scan where the visibility map allows (autovacuum keeps it so on a
        # live store; a test's VACUUM cannot promise it beside other sessions' snapshots).
        definition = text("SELECT indexdef FROM pg_indexes WHERE indexname = :name")
        name = {"name": "ix_messages_account_id_created_at"}
        found = database.read_sync(lambda c: c.execute(definition, name).scalar_one())
        assert found.endswith("INCLUDE (state)"), found


@pytest.mark.parametrize("expired", [True, False])
def test_sessions_are_swept_by_expiry_and_revoked_by_account_from_an_index(
    database: Database, expired: bool
) -> None:
    """With a session lifetime set, clients that open a session per send leave millions of
    rows: the sweep every 10 minutes read them all (166 ms a sweep on SQLite, where the event
    loop waits for it, for 2 million), and so did revoking an account's."""
    admin = AccountAdmin(database)
    accounts = [admin.create(f"opener-{n}", password="secret-password") for n in range(20)]

    def open_sessions(connection: Connection) -> None:
        for n in range(4_000):  # 1% of them expired: each sweep takes what expired since
            lifetime = timedelta(hours=-1 if n % 100 == 0 else 1)
            insert_session(connection, f"{n:032d}", accounts[n % 20], NOW, NOW + lifetime)

    database.write_sync(open_sessions)
    analyzed(database)

    def sweep(connection: Connection) -> None:
        assert delete_expired_sessions(connection, NOW, limit=30) == 30

    def revoke(connection: Connection) -> None:
        assert delete_sessions(connection, accounts[1]) == 200

    plans = database.write_sync(lambda c: plans_of(c, sweep if expired else revoke))
    index = "ix_sessions_expires_at" if expired else "ix_sessions_account_id"
    assert any(index in plan for plan in plans), plans
