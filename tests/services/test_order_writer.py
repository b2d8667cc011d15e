"""Orders of several accounts decided and written in one transaction (``write_orders``): each
account's flood count and balance apart, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Connection, func, select

from smsgate.domain.errors import FloodDetected, NotEnoughCredits
from smsgate.domain.segments import segment_text
from smsgate.services.accounts import AccountAdmin
from smsgate.services.order_writer import OrderDesk, Outcome, write_orders
from smsgate.services.sending import FloodLimit, OutgoingMessage, SendOrder
from smsgate.store.accounts import (
    lock_account,
    lock_balances,
    read_balance,
    take_from_balances,
)
from smsgate.store.database import Database
from smsgate.store.messages import insert_parts, take_and_allocate_ids
from smsgate.store.schema import messages
from tests.store.parts import part_row

PHONE = "79161234567"
OTHER = "79031234567"
FLOOD = FloodLimit(2, timedelta(seconds=60))


def order(account_id: int, *destinations: str) -> SendOrder:
    """One "Hi" to each of ``destinations``, at 1 a part."""
    now = datetime.now(UTC)
    outgoing = tuple(
        OutgoingMessage(
            destination, segment_text("Hi"), Decimal(1), now, now + timedelta(days=1), None
        )
        for destination in destinations
    )
    return SendOrder.priced(account_id, "SMS Info", outgoing, now, None, FLOOD)


def write(database: Database, *orders: SendOrder) -> list[Outcome]:
    return database.write_sync(lambda connection: write_orders(connection, orders))


def sent_by(database: Database, account_id: int) -> int:
    query = select(func.count()).where(messages.c.account_id == account_id)
    return int(database.read_sync(lambda c: c.execute(query).scalar_one()))


def balance(database: Database, account_id: int) -> Decimal:
    return database.read_sync(lambda connection: read_balance(connection, account_id))


def test_one_batch_decides_each_account_on_its_own_count_and_balance(database: Database) -> None:
    admin = AccountAdmin(database)
    busy = admin.create("busy", password="secret-password", balance=Decimal(10))
    poor = admin.create("poor", password="secret-password", balance=Decimal(1))
    assert all(isinstance(o, list) for o in write(database, order(busy, PHONE, PHONE)))

    outcomes = write(
        database,
        order(poor, PHONE),  # the busy account's two messages to PHONE are not the poor one's
        order(busy, PHONE),  # a third within the window: flood
        order(poor, OTHER),  # its balance went on the first order
        order(busy, OTHER),
    )

    kinds = [type(outcome) for outcome in outcomes]
    assert kinds == [list, FloodDetected, NotEnoughCredits, list]
    assert balance(database, busy) == Decimal(10 - 2 - 1)
    assert balance(database, poor) == Decimal(0)
    assert (sent_by(database, busy), sent_by(database, poor)) == (3, 1)
    # Counted with the order before it in the same batch.
    assert [type(o) for o in write(database, order(busy, OTHER), order(busy, OTHER))] == [
        list,
        FloodDetected,
    ]


def test_balances_are_locked_and_taken_together(database: Database) -> None:
    admin = AccountAdmin(database)
    first = admin.create("first", password="secret-password", balance=Decimal("5.50"))
    second = admin.create("second", password="secret-password", balance=Decimal(3))

    def take(connection: Connection, amounts: dict[int, Decimal]) -> None:
        assert lock_balances(connection, amounts) == {first: Decimal("5.50"), second: Decimal(3)}
        if not take_from_balances(connection, amounts):
            raise NotEnoughCredits("short")

    with pytest.raises(NotEnoughCredits):  # the second is short: the write rolls back
        database.write_sync(lambda c: take(c, {first: Decimal("0.50"), second: Decimal("3.01")}))
    database.write_sync(lambda c: take(c, {first: Decimal("5.50"), second: Decimal(3)}))
    assert (balance(database, first), balance(database, second)) == (Decimal(0), Decimal(0))
    with pytest.raises(LookupError, match="no account"):
        database.read_sync(lambda connection: lock_balances(connection, [first, 10**9]))


def test_a_debit_and_its_ids_are_taken_together(database: Database) -> None:
    """One statement on PostgreSQL (``take_and_allocate_ids``): the ids go on after the parts
    stored before the counter existed, then from the counter; a balance that does not cover
    its amount gives no ids, and the write rolls back."""
    admin = AccountAdmin(database)
    first = admin.create("first", password="secret-password", balance=Decimal(10))
    second = admin.create("second", password="secret-password", balance=Decimal(1))
    created = datetime.now(UTC)
    database.write_sync(lambda c: insert_parts(c, [part_row(41, first, created)]))

    def take(amounts: dict[int, Decimal], count: int) -> int | None:
        return database.write_sync(lambda c: take_and_allocate_ids(c, amounts, count))

    def short(connection: Connection) -> None:
        if take_and_allocate_ids(connection, {first: Decimal(1), second: Decimal(1)}, 1) is None:
            raise NotEnoughCredits("short")

    assert take({first: Decimal("2.5"), second: Decimal(1)}, 3) == 42
    assert take({first: Decimal("0.5")}, 2) == 45
    with pytest.raises(NotEnoughCredits):  # the second has nothing left: all rolls back
        database.write_sync(short)
    assert take({first: Decimal(1)}, 1) == 47
    assert (balance(database, first), balance(database, second)) == (Decimal(6), Decimal(0))


# PostgreSQL only: one writer at a time: no two transactions hold locks side by side
@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_locking_balances_never_waits_for_a_writer_of_the_accounts_messages(
    database: Database,
) -> None:
    """Writing a part takes a key share of its account (the foreign key's check; the worker's
    receipts do too, for parts their own transaction wrote). A balance lock that waited for it
    closed cycles with the worker: PostgreSQL aborted one side with deadlock_detected."""
    admin = AccountAdmin(database)
    first = admin.create("first", password="secret-password", balance=Decimal(5))
    second = admin.create("second", password="secret-password", balance=Decimal(5))

    def lock_within_a_second(connection: Connection) -> dict[int, Decimal]:
        connection.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
        lock_account(connection, first)
        return lock_balances(connection, [first, second])

    with database.write_engine.begin() as worker:
        now = datetime.now(UTC)
        insert_parts(worker, [part_row(1, first, now), part_row(2, second, now)])
        # Fails with LockNotAvailable if the lock waits for the transaction above.
        assert database.write_sync(lock_within_a_second) == {first: 5, second: 5}


# PostgreSQL only: one writer at a time: a write never waits for another's row lock
@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_orders_that_arrive_while_a_write_waits_for_the_balance_join_it(
    database: Database,
) -> None:
    """Another process's write holds the account's row: the desk's write waits for it, and the
    orders of that account that arrive meanwhile go in the same transaction; another
    account's wait for the next write."""
    admin = AccountAdmin(database)
    waiting = admin.create("waiting", password="secret-password", balance=Decimal(10))
    other = admin.create("other", password="secret-password", balance=Decimal(10))
    desk = OrderDesk(database)

    async def scenario() -> list[list[int]]:
        with database.write_engine.begin() as other_process:
            lock_account(other_process, waiting)
            first = asyncio.create_task(desk.accept(order(waiting, PHONE)))
            await until_a_write_waits(database)
            late = [
                asyncio.create_task(desk.accept(order(account, OTHER)))
                for account in (waiting, other, waiting)
            ]
            await asyncio.sleep(0.1)
            assert not first.done()
        return [await first, *[await answer for answer in late]]

    first, late_same, late_other, late_same_again = asyncio.run(scenario())
    written_by = database.read_sync(transactions_of_parts)
    assert written_by[first[0]] == written_by[late_same[0]] == written_by[late_same_again[0]]
    assert written_by[late_other[0]] != written_by[first[0]]


async def until_a_write_waits(database: Database) -> None:
    # This test's database only: other tests share the server.
    waits = (
        "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)"
        " WHERE NOT granted AND locktype = 'transactionid' AND datname = current_database()"
    )
    for _ in range(1_000):
        if await database.read(lambda c: c.exec_driver_sql(waits).scalar_one()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no write waited for the balance's lock")


def transactions_of_parts(connection: Connection) -> dict[int, str]:
    """The transaction that wrote each part (PostgreSQL's ``xmin``)."""
    rows = connection.exec_driver_sql("SELECT id, xmin::text FROM messages")
    return {int(part_id): str(xmin) for part_id, xmin in rows}
