"""Claims update the rows a limited subquery picks (``AmongSelected``): on PostgreSQL by the
primary key, never by a scan of the whole table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from smsgate.domain.states import MessageState
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.messages import (
    _CLAIM,
    MAX_ATTEMPTS_COUNTED,
    claim_due,
    expired_waiting,
    finish_unsent,
    insert_parts,
)
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


def test_a_part_claimed_after_the_expiry_sweep_found_it_is_not_refunded(
    database: Database,
) -> None:
    # Two dispatchers whose clocks differ by a moment: one finds the part expired, the other,
    # meanwhile, claims it as still valid and sends it.
    admin = AccountAdmin(database)
    account_id = admin.create("race", password="secret-password", balance=Decimal(0))
    expires_at = NOW + timedelta(minutes=1)
    part = part_row(1, account_id, NOW, expires_at=expires_at)
    database.write_sync(lambda c: insert_parts(c, [part]))
    sweeper_now = expires_at + timedelta(milliseconds=5)
    found = database.read_sync(lambda c: expired_waiting(c, sweeper_now, 10))
    claimer_now = expires_at - timedelta(milliseconds=5)
    claimed = database.write_sync(lambda c: claim_due(c, claimer_now, sweeper_now, 10))
    assert found == [1] and [claimed_part.id for claimed_part in claimed] == [1]
    ended = database.write_sync(
        lambda c: finish_unsent(
            c, found, MessageState.EXPIRED, sweeper_now, "ran out", claimed_until=None
        )
    )
    assert ended == 0
    state = database.read_sync(
        lambda c: c.execute(select(messages.c.state).where(messages.c.id == 1)).scalar_one()
    )
    assert state == MessageState.SUBMITTING.value
    assert Decimal(admin.show("race")["balance"]) == 0


def test_a_part_claimed_the_most_times_a_count_keeps_is_claimed_again(
    database: Database,
) -> None:
    account_id = AccountAdmin(database).create("retried", password="secret-password")
    part = part_row(1, account_id, NOW, attempts=MAX_ATTEMPTS_COUNTED)
    database.write_sync(lambda c: insert_parts(c, [part]))
    later = NOW + timedelta(seconds=1)
    # PostgreSQL failed the whole claim on it ("smallint out of range"): no part was claimed.
    (claimed,) = database.write_sync(lambda c: claim_due(c, later, later, 10))
    assert claimed.attempts == MAX_ATTEMPTS_COUNTED


def test_a_backlog_of_either_waiting_state_holds_back_none_of_the_other(
    database: Database,
) -> None:
    account_id = AccountAdmin(database).create("backlog", password="secret-password")
    scheduled = MessageState.SCHEDULED.value
    queued = [part_row(i, account_id, NOW) for i in range(1, 101)]
    due = [part_row(i, account_id, NOW, state=scheduled) for i in range(101, 106)]
    database.write_sync(lambda c: insert_parts(c, queued + due))
    later = NOW + timedelta(seconds=1)
    # Queued parts that fill batch after batch: the scheduled ones still go in the first.
    first = database.write_sync(lambda c: claim_due(c, later, later, 10))
    assert [part.id for part in first] == [*range(1, 6), *range(101, 106)]
    # The room one state leaves goes to the other.
    second = database.write_sync(lambda c: claim_due(c, later, later, 10))
    assert [part.id for part in second] == list(range(6, 16))
    # And the other way round: a scheduled campaign and a few parts sent meanwhile.
    campaign = [part_row(i, account_id, NOW, state=scheduled) for i in range(201, 301)]
    codes = [part_row(i, account_id, NOW) for i in range(301, 304)]
    database.write_sync(lambda c: c.execute(messages.delete()))
    database.write_sync(lambda c: insert_parts(c, campaign + codes))
    third = database.write_sync(lambda c: claim_due(c, later, later, 10))
    assert [part.id for part in third] == [*range(201, 208), *range(301, 304)]
