"""A server killed with SIGKILL while parts are queued or in flight delivers each of them
exactly once after a restart on the same database; the simulated SMSC's own table shows
what it took and reported."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from smsgate.domain.states import MessageState
from smsgate.services.accounts import account_of
from smsgate.store.accounts import change_balance
from smsgate.store.messages import allocate_ids, insert_parts
from smsgate.store.schema import early_receipts, messages, simulator_parts
from smsgate.store.simulator import TakenPart, take_parts
from tests.api.helpers import (
    SENDER,
    Deployment,
    api_date,
    assert_ids,
    assert_ok,
    balance,
    creds,
    state,
    statistic,
    wait_for,
)
from tests.conftest import Account
from tests.store.parts import part_row

# What a killed server held is taken over within seconds, not the default minute: on PostgreSQL
# its claimed parts and the reports its simulator owed, on SQLite its delivery lease.
SETTINGS = {
    "simulator_delay": "0.3",
    "dispatch_lease_seconds": "10",
    "ownership_lease_seconds": "5",
}


def numbers(count: int, prefix: str) -> str:
    return ",".join(f"{prefix}{1_000_001 + i:07d}" for i in range(count))


def simulator_takes(deployment: Deployment) -> dict[int, int]:
    """How often the simulated SMSC was handed each part it took, by part id."""
    query = select(simulator_parts.c.part_id, simulator_parts.c.submissions)
    return dict(deployment.database.read_sync(lambda c: list(c.execute(query))))


def simulator_count(deployment: Deployment) -> int:
    """The number of parts the simulated SMSC took."""
    query = select(func.count()).select_from(simulator_parts)
    return int(deployment.database.read_sync(lambda c: c.execute(query).scalar_one()))


def reports_owed(deployment: Deployment) -> int:
    """Reports the simulated SMSC has not yet delivered (nor crossed off)."""
    query = select(func.count()).where(simulator_parts.c.lease_until.is_not(None))
    return int(deployment.database.read_sync(lambda c: c.execute(query).scalar_one()))


def check_simulator(deployment: Deployment, ids: list[int]) -> None:
    """The SMSC took each part under the one smsc id our side recorded, and reported it."""
    # it crosses a report off after our side recorded it: allow a moment
    wait_for(lambda: reports_owed(deployment) == 0, timeout=3)
    query = select(
        simulator_parts.c.part_id,
        simulator_parts.c.smsc_id,
        simulator_parts.c.reported_at,
        messages.c.smsc_id.label("recorded"),
    ).join(messages, messages.c.id == simulator_parts.c.part_id)
    rows = deployment.database.read_sync(lambda c: c.execute(query).all())
    assert sorted(row.part_id for row in rows) == sorted(ids)
    assert all(row.smsc_id == row.recorded for row in rows), "a part holds another smsc id"
    assert all(row.reported_at is not None for row in rows), "a report never delivered"


def queue_parts(deployment: Deployment, account: Account) -> list[int]:
    """300 parts due in 4 s and 2,000 due now; their ids."""
    client = deployment.client
    later = api_date(datetime.now(UTC) + timedelta(seconds=4))
    scheduled = {
        **creds(account),
        "sourceAddress": SENDER,
        "destinationAddresses": numbers(300, "7916"),
        "data": "Later",
        "sendDate": later,
    }
    ids = assert_ids(assert_ok(client.post("/rest/Send/SendBulk/", data=scheduled)), 300)
    immediate = {
        **creds(account),
        "sourceAddress": SENDER,
        "destinationAddresses": numbers(2000, "7900"),
        "data": "Now",
    }
    return ids + assert_ids(assert_ok(client.post("/rest/Send/SendBulk/", data=immediate)), 2000)


def check_each_delivered_once(deployment: Deployment, account: Account, ids: list[int]) -> None:
    assert statistic(account)["Sent"] == len(ids) == len(set(ids))

    def settled() -> dict[str, int] | None:
        stats = statistic(account)
        return stats if stats["InProgress"] == 0 else None

    stats = wait_for(settled, timeout=60, interval=0.2)
    assert stats == {
        "Sent": len(ids),
        "Delivered": len(ids),
        "NotDelivered": 0,
        "InProgress": 0,
        "InProcess": 0,
        "Expired": 0,
        "DeliveryRatio": 100,
    }
    assert balance(account) == 10000 - len(ids)

    def stored(connection: Any) -> tuple[int, int, int]:
        parts, smsc_ids = connection.execute(
            select(func.count(), func.count(func.distinct(messages.c.smsc_id))).where(
                messages.c.id.in_(ids)
            )
        ).one()
        orphans = connection.execute(select(func.count()).select_from(early_receipts)).scalar_one()
        return parts, smsc_ids, orphans

    parts, smsc_ids, orphans = deployment.database.read_sync(stored)
    assert (parts, smsc_ids) == (len(ids), len(ids))
    # a report for an SMSC id no part holds: that part went to the SMSC twice
    assert orphans == 0, f"{orphans} parts were submitted twice"
    check_simulator(deployment, ids)


def test_sigkill_with_parts_queued_delivers_each_exactly_once(
    spawn: Callable[..., Deployment],
) -> None:
    deployment = spawn(**SETTINGS)
    account = deployment.make_account(balance="10000", price=Decimal("1"))
    ids = queue_parts(deployment, account)
    deployment.process.kill()
    deployment.process.start()
    check_each_delivered_once(deployment, account, ids)


def submits_not_recorded(deployment: Deployment) -> bool:
    """Whether the SMSC holds parts the database does not record as submitted, read in one
    statement: one snapshot, and a sample twice as often as two reads (the gap is a few ms,
    and a loaded machine samples it seldom)."""
    taken = select(func.count()).select_from(simulator_parts).scalar_subquery()
    recorded = select(func.count()).where(messages.c.smsc_id.is_not(None)).scalar_subquery()
    query = select(taken > recorded)
    return bool(deployment.database.read_sync(lambda c: c.execute(query).scalar_one()))


def kill_between_submit_and_record(deployment: Deployment, timeout: float = 10) -> bool:
    """SIGKILL the server while the SMSC holds parts it has not recorded as submitted.

    The process is frozen (SIGSTOP) when the SMSC has taken more parts than the database
    records as submitted, the gap checked again, then killed; True if such a moment was caught.
    """
    process = deployment.process.process
    assert process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if submits_not_recorded(deployment):
            os.kill(process.pid, signal.SIGSTOP)
            if submits_not_recorded(deployment):
                deployment.process.kill()
                return True
            os.kill(process.pid, signal.SIGCONT)
    deployment.process.kill()
    return False


def test_sigkill_with_parts_in_flight_delivers_each_exactly_once(
    spawn: Callable[..., Deployment],
) -> None:
    deployment = spawn(**SETTINGS)
    account = deployment.make_account(balance="10000", price=Decimal("1"))
    ids = queue_parts(deployment, account)
    caught = kill_between_submit_and_record(deployment)
    deployment.process.start()
    check_each_delivered_once(deployment, account, ids)
    assert caught, "never saw parts submitted but not yet recorded; nothing in flight was killed"


def test_a_part_whose_claim_lapsed_past_its_validity_is_submitted_once_more(
    spawn: Callable[..., Deployment],
) -> None:
    """Its dispatcher died after the SMSC took it and before writing so, and its validity ran
    out before the claim lapsed. Refunded as never sent, it read Expired while the SMSC had
    delivered it (its report waiting unmatched). Submitted once more, the SMSC answers with the
    id it kept; one the SMSC never took is refused past its validity, and then refunded."""
    deployment = spawn(**SETTINGS)
    account = deployment.make_account(balance="10", price=Decimal("1"))
    deployment.process.kill()
    now = datetime.now(UTC)

    def claimed_by_a_dead_dispatcher(connection: Any) -> tuple[int, int]:
        account_id = account_of(connection, account.login).id
        taken = allocate_ids(connection, 2)
        never_taken = taken + 1
        lapsed = {
            "state": MessageState.SUBMITTING.value,
            "price": Decimal("1"),
            "due_at": now - timedelta(minutes=2),
            "expires_at": now - timedelta(minutes=1),
        }
        created = now - timedelta(minutes=2)
        insert_parts(
            connection,
            [part_row(part_id, account_id, created, **lapsed) for part_id in (taken, never_taken)],
        )
        connection.execute(
            update(messages)
            .where(messages.c.id.in_([taken, never_taken]))
            .values(lease_until=now - timedelta(seconds=1))
        )
        change_balance(connection, account_id, Decimal("-2"))
        report = TakenPart(taken, "dead0001", "delivered", now - timedelta(minutes=1), now)
        take_parts(connection, [report])
        return taken, never_taken

    taken, never_taken = deployment.database.write_sync(claimed_by_a_dead_dispatcher)
    deployment.process.start()

    def final() -> tuple[int, int] | None:
        states = (state(account, str(taken))["State"], state(account, str(never_taken))["State"])
        return states if -1 not in states else None

    assert wait_for(final, timeout=30, interval=0.2) == (0, 46)  # Delivered, Expired
    assert balance(account) == 10 - 1  # the one the SMSC never took is refunded
