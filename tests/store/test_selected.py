"""Claims update the rows a limited subquery picks (``AmongSelected``): on PostgreSQL by the
primary key, never by a scan of the whole table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from smsgate.domain.states import MessageState
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.messages import _CLAIM, claim_due, insert_parts
from smsgate.store.schema import messages
from tests.store.parts import part_row
from tests.store.plans import query_plan

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SENT = MessageState.SENT.value


def test_a_claim_takes_the_due_parts_by_the_primary_key(database: Database) -> None:
    account_id = AccountAdmin(database).create("claims", password="secret-password")
    queued = [part_row(i, account_id, NOW) for i in range(1, 1_001)]
    done = [part_row(i, account_id, NOW, state=SENT) for i in range(1_001, 20_001)]
    database.write_sync(lambda c: insert_parts(c, queued + done))
    if database.dialect == "postgresql":
        database.write_sync(lambda c: c.exec_driver_sql("ANALYZE messages"))
    later = NOW + timedelta(seconds=1)

    claim = _CLAIM[MessageState.QUEUED.value]
    params = {"now": later, "lease_until": later, "limit": 500}
    shown = database.read_sync(lambda c: query_plan(c, claim, params))
    assert "Seq Scan on messages" not in shown and "SCAN messages" not in shown, shown
    claimed = database.write_sync(lambda c: claim_due(c, later, later, 500))
    assert [part.id for part in claimed] == list(range(1, 501))


def test_claiming_a_scheduled_part_dates_its_change_to_queued(database: Database) -> None:
    account_id = AccountAdmin(database).create("scheduled", password="secret-password")
    scheduled = part_row(1, account_id, NOW, state=MessageState.SCHEDULED.value)
    queued = part_row(2, account_id, NOW)
    database.write_sync(lambda c: insert_parts(c, [scheduled, queued]))
    later = NOW + timedelta(minutes=5)
    database.write_sync(lambda c: claim_due(c, later, later, 10))
    reported = database.read_sync(
        lambda c: dict(c.execute(select(messages.c.id, messages.c.reported_at)).all())
    )
    # State then reads Queued instead of Scheduled; a queued part's State does not change.
    assert reported == {1: later, 2: NOW}
