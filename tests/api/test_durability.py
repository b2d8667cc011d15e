"""A server killed with SIGKILL while parts are queued and in flight delivers each of them
exactly once after a restart on the same database and data folder."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

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

JOURNAL_LINE = re.compile(r"(\+ (\S+) (\S+)|- (\S+))\n")


def numbers(count: int, prefix: str) -> str:
    return ",".join(f"{prefix}{1_000_001 + i:07d}" for i in range(count))


def check_journal(path: Path) -> None:
    """Every line well formed, and every report the simulator owed was delivered."""
    owed: set[str] = set()
    for line in path.read_text("ascii").splitlines(keepends=True):
        match = JOURNAL_LINE.fullmatch(line)
        assert match, f"malformed journal line {line!r}"
        if match.group(2):
            assert match.group(2) not in owed, f"owed twice: {line!r}"
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


def test_sigkill_with_parts_queued_delivers_each_exactly_once(
    spawn: Callable[..., Deployment],
) -> None:
    deployment = spawn(simulator_delay="0.3")
    account = deployment.make_account(balance="10000", price=Decimal("1"))
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
    ids += assert_ids(assert_ok(client.post("/rest/Send/SendBulk/", data=immediate)), 2000)
    deployment.process.kill()

    deployment.process.start()
    assert statistic(account)["Sent"] == 2300

    def settled() -> dict[str, int] | None:
        stats = statistic(account)
        return stats if stats["InProgress"] == 0 else None

    stats = wait_for(settled, timeout=60, interval=0.2)
    assert stats == {
        "Sent": 2300,
        "Delivered": 2300,
        "NotDelivered": 0,
        "InProgress": 0,
        "InProcess": 0,
        "Expired": 0,
        "DeliveryRatio": 100,
    }
    assert balance(account) == 10000 - 2300
    assert len(set(ids)) == 2300

    def stored(connection: object) -> tuple[int, int, int]:
        mine = (
            messages.c.account_id
            == select(messages.c.account_id).where(messages.c.id == ids[0]).scalar_subquery()
        )
        parts, smsc_ids = connection.execute(  # type: ignore[attr-defined]
            select(func.count(), func.count(func.distinct(messages.c.smsc_id))).where(mine)
        ).one()
        orphans = connection.execute(  # type: ignore[attr-defined]
            select(func.count()).select_from(early_receipts)
        ).scalar_one()
        return parts, smsc_ids, orphans

    parts, smsc_ids, orphans = deployment.database.read_sync(stored)
    assert (parts, smsc_ids) == (2300, 2300)
    # a report for an id no part holds means some part went to the SMSC twice
    assert orphans == 0
    journal = deployment.process.workdir / "var" / "simulator" / "reports.journal"
    # the simulator crosses a report off after our side has recorded it: allow a moment
    wait_for(lambda: journal_settled(journal), timeout=3)
    check_journal(journal)
