"""A lock held elsewhere costs a write its ``lock_wait``, not an unbounded wait; and a write
that failed leaves no unfit session behind for the next one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import IDLE_IN_TRANSACTION_LOCK_WAITS, Database
from smsgate.store.migrate import upgrade
from tests.databases import psycopg_url, write_lock_held

LOCK_WAIT = 0.5


def debit(connection: Connection) -> int:
    return connection.execute(text("UPDATE accounts SET balance = balance - 1")).rowcount


@pytest.fixture
def locking_database(database_url: str) -> Iterator[Database]:
    opened = Database(database_url, lock_wait=LOCK_WAIT)
    upgrade(opened.write_engine)
    AccountAdmin(opened).create("locked", password="secret-password")
    yield opened
    opened.close()


def test_a_write_gives_up_on_a_lock_held_elsewhere(
    locking_database: Database, database_url: str
) -> None:
    async def scenario() -> None:
        with write_lock_held(database_url):
            started = time.monotonic()
            with pytest.raises(Exception, match=r"locked|lock timeout"):
                await asyncio.wait_for(locking_database.write(debit), 10 * LOCK_WAIT)
            waited = time.monotonic() - started
        assert LOCK_WAIT * 0.8 <= waited < LOCK_WAIT * 4
        assert await locking_database.write(debit) == 1

    asyncio.run(scenario())


def test_a_lock_released_in_time_costs_only_the_wait(
    locking_database: Database, database_url: str
) -> None:
    held = threading.Event()

    def hold_briefly() -> None:
        with write_lock_held(database_url):
            held.set()
            time.sleep(LOCK_WAIT / 4)

    async def scenario() -> None:
        holder = threading.Thread(target=hold_briefly)
        holder.start()
        assert held.wait(5)
        assert await locking_database.write(debit) == 1
        holder.join()

    asyncio.run(scenario())


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_session_made_read_only_is_not_used_again(
    locking_database: Database, database_url: str
) -> None:
    """The database was made read-only for maintenance (or a failover demoted it) and its
    sessions ended: the writer's new session is read-only. Writable again, the write after
    the one that failed runs on a fresh session rather than the read-only one."""
    name = make_url(database_url).database
    admin_url = make_url(psycopg_url(database_url)).set(database="postgres")

    def set_read_only(on: bool) -> None:
        with psycopg.connect(admin_url.render_as_string(False), autocommit=True) as admin:
            value = "on" if on else "off"
            admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
            if on:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    async def scenario() -> None:
        assert await locking_database.write(debit) == 1
        set_read_only(True)
        for _ in range(2):  # the first finds its session gone, the next one read-only
            with pytest.raises(Exception):  # noqa: B017 - the driver's error, whichever it is
                await locking_database.write(debit)
        set_read_only(False)
        assert await locking_database.write(debit) == 1

    asyncio.run(scenario())


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_session_frozen_in_its_transaction_is_ended_and_its_row_freed(
    locking_database: Database,
) -> None:
    """A process stopped in the middle of a transaction (SIGSTOP, swapped out) held its
    account's row until it woke: every other write to it failed after its lock wait, for as
    long as that took. PostgreSQL now ends such a session, and its work is rolled back."""
    frozen = locking_database.write_engine.connect()
    frozen.begin()
    frozen.execute(text("UPDATE accounts SET balance = balance - 1000"))
    started = time.monotonic()
    idle_limit = IDLE_IN_TRANSACTION_LOCK_WAITS * LOCK_WAIT

    async def write_once_freed() -> int:
        while True:
            try:
                return await locking_database.write(debit)
            except Exception:  # the lock wait's error, until the row is freed
                assert time.monotonic() - started < idle_limit + 10, "the row stayed locked"

    assert asyncio.run(write_once_freed()) == 1
    assert time.monotonic() - started >= idle_limit * 0.8
    with pytest.raises(Exception, match=r"idle-in-transaction|terminat|closed"):
        frozen.execute(text("SELECT 1"))
    frozen.invalidate()
    frozen.close()
    balance = locking_database.read_sync(
        lambda connection: connection.execute(text("SELECT balance FROM accounts")).scalar_one()
    )
    assert balance == -1  # the frozen session's debit was rolled back


def test_the_event_loop_goes_on_while_a_write_waits_for_the_lock(
    locking_database: Database, database_url: str
) -> None:
    """On SQLite the writer runs on the event loop: waiting there for a lock another process
    holds stopped every request (and /healthz) for the whole lock wait."""

    async def scenario() -> None:
        with write_lock_held(database_url):
            write = asyncio.ensure_future(locking_database.write(debit))
            longest_gap, last = 0.0, time.monotonic()
            while not write.done():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                longest_gap, last = max(longest_gap, now - last), now
        with pytest.raises(Exception, match=r"locked|lock timeout"):
            await write
        assert longest_gap < LOCK_WAIT / 2
        assert await locking_database.write(debit) == 1

    asyncio.run(scenario())
