"""Leases: one holder at a time, taken over once lapsed, and the guarded work stopped when lost."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select, update

from smsgate.store.database import Database
from smsgate.store.leases import Lease, LeaseLost, process_identity
from smsgate.store.schema import leases
from tests.scale.processes import lease_holders
from tests.server import free_port

TTL = timedelta(seconds=0.6)


def test_one_holder_at_a_time_and_a_lapsed_lease_moves(database: Database) -> None:
    # Each step must come within the lease's time of the one before: a write on a loaded
    # machine took longer than TTL, and the second took a lease the first had just renewed.
    ttl = timedelta(seconds=2)

    async def scenario() -> None:
        first = Lease(database, "connector:main", "worker-1", ttl)
        second = Lease(database, "connector:main", "worker-2", ttl)
        assert await first.try_take()
        assert not await second.try_take()
        assert await first.try_take()  # renewing
        await asyncio.sleep(ttl.total_seconds() + 0.1)  # the first stopped renewing
        assert await second.try_take()
        assert not await first.try_take()
        holders = await database.read(lease_holders)
        assert holders["connector:main"][0] == "worker-2"
        await second.release()
        assert "connector:main" not in await database.read(lease_holders)
        assert await first.try_take()  # released: free at once

    asyncio.run(scenario())


def test_other_leases_are_independent(database: Database) -> None:
    async def scenario() -> None:
        assert await Lease(database, "connector:a", "worker-1", TTL).try_take()
        assert await Lease(database, "connector:b", "worker-2", TTL).try_take()

    asyncio.run(scenario())


def test_a_lease_of_a_process_that_is_gone_is_taken_over_at_once(database: Database) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])

    async def scenario() -> None:
        hour = timedelta(hours=1)
        assert await Lease(database, "connector:a", process_identity(gone.pid), hour).try_take()
        assert await Lease(database, "connector:b", process_identity(living.pid), hour).try_take()
        taker = process_identity()
        assert await Lease(database, "connector:a", taker, hour).try_take()
        assert not await Lease(database, "connector:b", taker, hour).try_take()
        # On another host a pid says nothing: only the lease's lapse frees it. Another host
        # may have the same name (and pid namespace), not the same boot.
        host, _, namespace = taker.partition(":")[0].split("/")
        same_name = f"{host}/00000000/{namespace}:{gone.pid}:0000"
        for elsewhere in ("other-host:1:0000", same_name):
            assert await Lease(database, "connector:c", elsewhere, hour).try_take()
            assert not await Lease(database, "connector:c", taker, hour).try_take()
            await database.write(_lapse)
        holders = await database.read(lease_holders)
        assert holders["connector:a"][0] == taker

    try:
        asyncio.run(scenario())
    finally:
        living.kill()
        living.wait()


def test_the_guarded_work_is_cancelled_when_the_lease_is_taken_over(database: Database) -> None:
    async def scenario() -> None:
        holder = Lease(database, "delivery", "worker-1", TTL)
        usurper = Lease(database, "delivery", "worker-2", TTL)
        cancelled, holding = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(guarded(holder, cancelled, holding))
        # Not a fixed pause: on a loaded machine the row was locked before the lease was taken.
        await asyncio.wait_for(holding.wait(), 10)
        assert not await usurper.try_take()
        # A stalled holder: its row lapses, another process takes it over.
        await database.write(_lapse)
        assert await usurper.try_take()
        with pytest.raises(LeaseLost):
            await asyncio.wait_for(running, 5)
        assert cancelled.is_set()
        assert not holder.held
        # Losing it did not give the usurper's lease away.
        assert (await database.read(lease_holders))["delivery"][0] == "worker-2"

    asyncio.run(scenario())


# PostgreSQL only: SQLite writes on the event loop, in the one process that uses the file.
@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_renewal_that_hangs_stops_the_guarded_work_before_the_lease_lapses(
    database: Database,
) -> None:
    # Another transaction holds the lease's row, as a stalled connection or lock would: the
    # holder's renewal waits on it for as long as it is held.
    blocker = database.write_engine.connect()

    async def scenario() -> None:
        holder = Lease(database, "delivery", "worker-1", TTL)
        cancelled, holding = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(guarded(holder, cancelled, holding))
        # Not a fixed pause: on a loaded machine the row was locked before the lease was taken.
        await asyncio.wait_for(holding.wait(), 10)
        with blocker.begin():
            blocker.execute(select(leases).with_for_update()).all()
            # Stopped by the time the lease lapses (0.6 s), while the renewal still waits.
            with pytest.raises(LeaseLost):
                await asyncio.wait_for(running, 3 * TTL.total_seconds())
        assert cancelled.is_set()
        assert not holder.held

    try:
        asyncio.run(scenario())
    finally:
        blocker.close()


def test_hold_waits_until_the_lease_is_free(database: Database) -> None:
    # Nothing here waits for a lapse: a longer lease gives its renewals room on a loaded
    # machine (at 0.6 s one had 0.2 s, and a full run once lost the lease on PostgreSQL).
    ttl = 3 * TTL

    async def scenario() -> None:
        first = Lease(database, "delivery", "worker-1", ttl)
        second = Lease(database, "delivery", "worker-2", ttl)
        order: list[str] = []

        async def take(lease: Lease, name: str, hold_for: float) -> None:
            async with lease.hold():
                order.append(f"{name} took")
                await asyncio.sleep(hold_for)
            order.append(f"{name} let go")

        first_task = asyncio.create_task(take(first, "first", 0.5))
        await asyncio.sleep(0.05)
        await asyncio.gather(first_task, take(second, "second", 0))
        assert order == ["first took", "first let go", "second took", "second let go"]

    asyncio.run(scenario())


async def guarded(holder: Lease, cancelled: asyncio.Event, holding: asyncio.Event) -> None:
    """Work ``holder`` guards for 30 s, ``holding`` set once it began; ``cancelled`` is set
    when the lease's loss stops it."""
    async with holder.hold():
        assert holder.held
        holding.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise


def _lapse(connection: Connection) -> None:
    connection.execute(update(leases).values(expires_at=datetime.now(UTC) - timedelta(hours=1)))


def test_a_lease_the_database_failed_to_give_is_not_said_to_be_anothers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Waiting for a lease while the database cannot serve (a full disk at a restart) logs the
    failure, not "held by another process": there may be no other process at all."""
    caplog.set_level(logging.INFO, logger="smsgate.store.leases")
    unreachable = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/smsgate")
    lease = Lease(unreachable, "delivery", "this process", TTL)

    async def waiting() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(TTL.total_seconds()):
                await lease.wait_taken()

    try:
        asyncio.run(waiting())
    finally:
        unreachable.close()
    assert "lease delivery: taking or renewing failed" in caplog.text
    assert "held by another process" not in caplog.text
