"""The retention sweep: final parts and incoming messages past it go, a batch at a time, and
so do expired sessions; nothing else does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from smsgate.domain.states import MessageState
from smsgate.services import retention
from smsgate.services.accounts import AccountAdmin
from smsgate.store.accounts import insert_session
from smsgate.store.database import Database
from smsgate.store.messages import insert_parts
from smsgate.store.reports import insert_report
from smsgate.store.schema import incoming_messages, messages, reports, sessions
from tests.store.parts import part_row

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
KEPT = timedelta(days=30)
OLD = NOW - KEPT - timedelta(minutes=1)
RECENT = NOW - KEPT + timedelta(minutes=1)


def incoming_row(account_id: int, text: str, created_at: datetime) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "prefix": "",
        "source": "79115687451",
        "destination": "2420",
        "text": text,
        "connector": "test",
        "created_at": created_at,
    }


def test_the_sweep_deletes_what_is_past_the_retention_and_final_only(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 3)  # several batches, one ending mid-way
    account_id = AccountAdmin(database).create("old", password="account-password")
    delivered = MessageState.DELIVERED.value
    parts = [part_row(i, account_id, OLD, state=delivered) for i in range(1, 6)]
    parts.append(part_row(6, account_id, OLD, state=MessageState.SENT.value))  # not yet final
    parts += [part_row(i, account_id, OLD, state=MessageState.EXPIRED.value) for i in (7, 8)]
    # Scheduled further ahead than the retention, and delivered a minute ago: went at once.
    parts.append(
        part_row(9, account_id, OLD, state=delivered, reported_at=NOW - timedelta(minutes=1))
    )
    parts += [part_row(i, account_id, RECENT, state=delivered) for i in (10, 11)]
    database.write_sync(lambda c: insert_parts(c, parts))
    incoming = [incoming_row(account_id, f"old {i}", OLD) for i in range(4)]
    incoming.append(incoming_row(account_id, "recent", RECENT))
    database.write_sync(lambda c: c.execute(incoming_messages.insert(), incoming))

    def open_session(session_id: str, expires_at: datetime | None) -> None:
        database.write_sync(lambda c: insert_session(c, session_id, account_id, OLD, expires_at))

    # Report records were never deleted: one report a minute is half a million rows a year.
    def order_report(created_at: datetime, status: str) -> None:
        def write(connection: Any) -> None:
            report_id = insert_report(connection, account_id, {}, created_at)
            connection.execute(
                update(reports).where(reports.c.id == report_id).values(status=status)
            )

        database.write_sync(write)

    for status in ("deleted", "failed", "ready", "expired", "building"):
        order_report(OLD, status)
    order_report(RECENT, "deleted")

    for letter in "aefg":  # more than a batch: a client opening a session per send
        open_session(letter * 32, NOW - retention.EXPIRED_SESSIONS_KEPT - timedelta(seconds=1))
    open_session("d" * 32, NOW - timedelta(seconds=1))  # still answers "SessionID expired"
    open_session("b" * 32, NOW + timedelta(hours=1))
    open_session("c" * 32, None)

    deleted = asyncio.run(retention.sweep(database, KEPT, NOW))
    assert deleted == 7 + 4 + 2 + 4

    def left(connection: Any) -> tuple[list[int], list[str], list[str], int]:
        part_ids = connection.execute(select(messages.c.id).order_by(messages.c.id)).scalars()
        texts = connection.execute(select(incoming_messages.c.text)).scalars()
        report_statuses = connection.execute(select(reports.c.status).order_by(reports.c.id))
        kept_sessions = len(connection.execute(select(sessions.c.id)).all())
        return list(part_ids), list(texts), list(report_statuses.scalars()), kept_sessions

    kept_reports = ["ready", "expired", "building", "deleted"]
    assert database.read_sync(left) == ([6, 9, 10, 11], ["recent"], kept_reports, 3)
    # Without a retention only sessions are swept.
    assert asyncio.run(retention.sweep(database, None, NOW + timedelta(days=999))) == 2
    assert database.read_sync(left) == ([6, 9, 10, 11], ["recent"], kept_reports, 1)
