"""Three workers share one queue of 20,000 parts; one is killed mid-way; every part reaches the
simulated SMSC exactly once and ends Delivered.

On PostgreSQL the three claim batches side by side (``FOR UPDATE SKIP LOCKED``) and the killed
worker's claimed batches are claimed again once their lease lapses. On SQLite one worker
delivers at a time and a standing-by worker takes over when it dies.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, Row, func, select

from smsgate.domain.states import MessageState
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade
from smsgate.store.schema import messages, simulator_parts
from tests.api.helpers import assert_ok, balance, creds, wait_for
from tests.conftest import new_account
from tests.scale.processes import WorkerProcess, lease_holders
from tests.server import ServerProcess, http_client

PARTS = 20_000
BULK = 5_000
BATCH = 200
BATCHES_IN_FLIGHT = 4  # the dispatcher's default
WORKER_SETTINGS = {
    "simulator_delay": "0.2",
    "dispatch_batch": str(BATCH),
    "dispatch_lease_seconds": "3",
    "ownership_lease_seconds": "1.5",
}


# 20,000 parts through four processes: ~30 s on a quiet machine, more when it is shared.
@pytest.mark.timeout(300)
def test_three_workers_kill_one_every_part_sent_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    database = Database(database_url)
    upgrade(database.write_engine)
    api = ServerProcess(database_url, tmp_path).start("--no-dispatch")
    workers = [
        WorkerProcess(database_url, tmp_path, f"worker-{n}", **WORKER_SETTINGS) for n in (1, 2, 3)
    ]
    try:
        # Every worker up before there is anything to take: one started alone could send the
        # whole queue while the others start (20,000 parts in about a second here).
        for worker in workers:
            worker.launch()
        for worker in workers:
            worker.wait_started()
        with http_client(api.url, timeout=120) as client:
            account = new_account(AccountAdmin(database), client, balance=str(PARTS))
            for start in range(0, PARTS, BULK):
                # Ending in 1: never the simulator's 0000 (NotDelivered) or 9999 (silent).
                recipients = ",".join(
                    str(79_160_000_001 + 10 * n) for n in range(start, start + BULK)
                )
                response = client.post(
                    "/rest/Send/SendBulk/",
                    data={
                        **creds(account),
                        "sourceAddress": "SMS Info",
                        "destinationAddresses": recipients,
                        "data": "Shared queue",
                    },
                )
                assert len(assert_ok(response)) == BULK
            assert balance(account) == 0

            wait_for(lambda: _taken(database) >= PARTS // 10, timeout=60, interval=0.01)
            victim = _victim(database, workers)
            victim.kill()
            killed_at = _taken(database)
            assert killed_at < PARTS, "the kill came too late to test anything"

            wait_for(lambda: _final(database) == PARTS, timeout=180, interval=0.5)
            parts, submissions = database.read_sync(_outcome)
            assert len(parts) == PARTS
            # One SMSC message per part, and it is the one the part recorded.
            assert all(row.smsc_id == row.simulator_smsc_id for row in parts), "smsc ids differ"
            assert {row.state for row in parts} == {MessageState.DELIVERED.value}
            # Only what the killed worker held in flight may have been offered twice (and the
            # SMSC, keyed by part id, took none of it twice).
            assert submissions <= BATCH * BATCHES_IN_FLIGHT, submissions
            assert balance(account) == Decimal(0)  # nothing refunded, nothing billed twice
            print(f"killed after {killed_at} parts; {submissions} parts were offered again")
    finally:
        for worker in workers:
            worker.kill()
        api.stop()
        database.close()


def _taken(database: Database) -> int:
    return int(
        database.read_sync(
            lambda connection: connection.execute(
                select(func.count()).select_from(simulator_parts)
            ).scalar_one()
        )
    )


def _final(database: Database) -> int:
    return int(
        database.read_sync(
            lambda connection: connection.execute(
                select(func.count())
                .select_from(messages)
                .where(messages.c.state == MessageState.DELIVERED.value)
            ).scalar_one()
        )
    )


def _victim(database: Database, workers: list[WorkerProcess]) -> WorkerProcess:
    """On SQLite the worker that delivers (the others stand by); on PostgreSQL any."""
    if database.dialect != "sqlite":
        return workers[0]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        holder = database.read_sync(lease_holders).get("delivery")
        for worker in workers:
            if holder is not None and f":{worker.pid}:" in holder[0]:
                return worker
        time.sleep(0.05)
    raise AssertionError("no worker holds the delivery lease")


def _outcome(connection: Connection) -> tuple[list[Row[int, str, str | None, str]], int]:
    parts = connection.execute(
        select(
            messages.c.id,
            messages.c.state,
            messages.c.smsc_id,
            simulator_parts.c.smsc_id.label("simulator_smsc_id"),
        ).join(simulator_parts, simulator_parts.c.part_id == messages.c.id)
    ).all()
    offered_again = connection.execute(
        select(func.coalesce(func.sum(simulator_parts.c.submissions - 1), 0))
    ).scalar_one()
    return list(parts), int(offered_again)
