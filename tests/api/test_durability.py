"""A server killed with SIGKILL while parts are queued or in flight delivers each of them
exactly once after a restart on the same database and data folder."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from smsgate.store.schema import early_receipts, messages
from tests.api.helpers import (
    SENDER,
    Deployment,
    api_date,
    assert_ids,
    assert_ok,
    balance,
    creds,
    statistic,
    wait_for,
)
from tests.conftest import Account

JOURNAL_LINE = re.compile(r"\+ (\d+) (\S+) (delivered|not_delivered|expired|silent)\n|- (\S+)\n")


def numbers(count: int, prefix: str) -> str:
    return ",".join(f"{prefix}{1_000_001 + i:07d}" for i in range(count))


def journal_path(deployment: Deployment) -> Path:
    return deployment.process.workdir / "var" / "simulator" / "reports.journal"


def check_journal(path: Path) -> None:
    """Every line well formed, each part taken once, and every report owed was delivered."""
    owed: set[str] = set()
    taken: set[str] = set()
    for line in path.read_text("ascii").splitlines(keepends=True):
        match = JOURNAL_LINE.fullmatch(line)
        assert match, f"malformed journal line {line!r}"
        if match.group(1):
            assert match.group(1) not in taken, f"part taken twice: {line!r}"
            taken.add(match.group(1))
            if match.group(3) != "silent":
                owed.add(match.group(2))
        else:
            assert match.group(4) in owed, f"reported but never owed: {line!r}"
            owed.remove(match.group(4))
    assert not owed, f"{len(owed)} reports still owed"


def journal_settled(path: Path) -> bool:
    try:
        check_journal(path)
    except AssertionError:
        return False
    return True


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
    # the simulator crosses a report off after our side recorded it: allow a moment
    journal = journal_path(deployment)
    wait_for(lambda: journal_settled(journal), timeout=3)
    check_journal(journal)


def test_sigkill_with_parts_queued_delivers_each_exactly_once(
    spawn: Callable[..., Deployment],
) -> None:
    deployment = spawn(simulator_delay="0.3")
    account = deployment.make_account(balance="10000", price=Decimal("1"))
    ids = queue_parts(deployment, account)
    deployment.process.kill()
    deployment.process.start()
    check_each_delivered_once(deployment, account, ids)


def recorded_submits(deployment: Deployment) -> int:
    return int(
        deployment.database.read_sync(
            lambda c: c.execute(
                select(func.count()).where(messages.c.smsc_id.is_not(None))
            ).scalar_one()
        )
    )


def journal_submits(deployment: Deployment) -> int:
    path = journal_path(deployment)
    return path.read_text("ascii").count("+ ") if path.exists() else 0


def kill_between_submit_and_record(deployment: Deployment, timeout: float = 10) -> bool:
    """SIGKILL the server while the SMSC holds parts it has not recorded as submitted.

    The process is frozen (SIGSTOP) when the journal is ahead of the database, the gap checked
    again, then killed; True if such a moment was caught.
    """
    process = deployment.process.process
    assert process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal_submits(deployment) > recorded_submits(deployment):
            os.kill(process.pid, signal.SIGSTOP)
            if journal_submits(deployment) > recorded_submits(deployment):
                deployment.process.kill()
                return True
            os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.001)
    deployment.process.kill()
    return False


def test_sigkill_with_parts_in_flight_delivers_each_exactly_once(
    spawn: Callable[..., Deployment],
) -> None:
    deployment = spawn(simulator_delay="0.3")
    account = deployment.make_account(balance="10000", price=Decimal("1"))
    ids = queue_parts(deployment, account)
    caught = kill_between_submit_and_record(deployment)
    deployment.process.start()
    check_each_delivered_once(deployment, account, ids)
    assert caught, "never saw parts submitted but not yet recorded; nothing in flight was killed"
