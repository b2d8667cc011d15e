"""The pusher in-process, on a real database and a real receiver: offered jobs and leases."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, select

from smsgate.inbound.pusher import Pusher, PushSettings
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.incoming import IncomingRow, insert_incoming
from smsgate.store.leases import Lease, give_up_lease, take_lease
from smsgate.store.push import PushJob, claim_jobs, enqueue_incoming_push
from smsgate.store.schema import push_jobs
from tests.inbound.helpers import SENDER_PHONE
from tests.inbound.receiver import Receiver

Receivers = Callable[..., Receiver]


def stored_hello(connection: Connection, account_id: int, created_at: datetime) -> int:
    """An incoming "hello" to 2420 for the account, stored; its id."""
    return insert_incoming(
        connection,
        account_id=account_id,
        prefix="",
        source=SENDER_PHONE,
        destination="2420",
        text="hello",
        connector="test",
        created_at=created_at,
    )


def queue_push(database: Database, account_id: int, url: str, lease_until: datetime) -> PushJob:
    """An incoming message and its push, leased as the incoming recorder leases it."""
    now = datetime.now(UTC)

    def work(connection: Connection) -> PushJob:
        message_id = stored_hello(connection, account_id, now)
        job_id = enqueue_incoming_push(connection, account_id, url, message_id, now, lease_until)
        message = IncomingRow(message_id, account_id, "", SENDER_PHONE, "2420", "hello", now)
        return PushJob(job_id, account_id, url, None, 1, now, message)

    return database.write_sync(work)


async def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``check`` (the store's or a receiver's state) until it holds."""
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def job_ids(database: Database) -> set[int]:
    return database.read_sync(lambda c: set(c.scalars(select(push_jobs.c.id))))


def handed_back(database: Database, job_id: int) -> bool:
    query = select(push_jobs.c.leased).where(push_jobs.c.id == job_id)
    return not database.read_sync(lambda c: c.scalar(query))


def test_a_waiting_job_whose_lease_would_lapse_is_handed_back(
    database: Database, receivers: Receivers
) -> None:
    account_id = AccountAdmin(database).create("pusher-test", password="x", balance=Decimal(0))
    hanging = receivers(hang=True).start()
    settings = PushSettings(
        per_account=1, attempt_timeout=5.0, idle_poll=0.05, private_addresses=True
    )
    now = datetime.now(UTC)
    lasting = queue_push(database, account_id, hanging.url, now + timedelta(minutes=1))
    lapsing = queue_push(database, account_id, hanging.url, now + timedelta(seconds=2))

    async def main() -> None:
        pusher = Pusher(database, settings)
        running = asyncio.create_task(pusher.run())
        pusher.offer(lasting, now + timedelta(minutes=1))  # takes the account's one slot
        pusher.offer(lapsing, now + timedelta(seconds=2))  # would lapse within an attempt
        await eventually(lambda: hanging.hung == 1 and handed_back(database, lapsing.id))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(main())
    rows = {row.id: row for row in database.read_sync(lambda c: list(c.execute(select(push_jobs))))}
    assert hanging.hung == 1
    assert rows[lasting.id].leased  # cancelled mid-attempt: its lease stands for a restart
    assert not rows[lapsing.id].leased
    assert rows[lapsing.id].attempts == 0
    assert rows[lapsing.id].due_at <= datetime.now(UTC)
    database.close()


def test_jobs_given_up_long_ago_are_deleted(database: Database) -> None:
    account_id = AccountAdmin(database).create("owner", password="x", balance=Decimal(0))
    settings = PushSettings()
    now = datetime.now(UTC)
    kept_for = settings.give_up_after + settings.given_up_kept
    old, recent = (
        queue_push(database, account_id, "http://127.0.0.1:9/", now).id for _ in range(2)
    )

    def give_up(connection: Connection) -> None:
        for job_id, created_at in ((old, now - kept_for - timedelta(minutes=1)), (recent, now)):
            connection.execute(
                push_jobs.update()
                .where(push_jobs.c.id == job_id)
                .values(due_at=None, leased=False, created_at=created_at)
            )

    database.write_sync(give_up)

    async def scenario() -> None:
        running = asyncio.create_task(Pusher(database, settings).run())
        await eventually(lambda: old not in job_ids(database))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(scenario())
    assert job_ids(database) == {recent}


def test_a_claim_shares_its_room_past_an_accounts_backlog(database: Database) -> None:
    """One account's backlog is the oldest (its receiver failing fast keeps none in flight):
    a claim takes that account's share of it and fills the rest of its room with the other
    accounts' jobs, not with nothing."""
    admin = AccountAdmin(database)
    backlogged = admin.create("backlogged", password="secret-password", balance=Decimal(0))
    other = admin.create("other", password="secret-password", balance=Decimal(0))
    earlier = datetime.now(UTC) - timedelta(minutes=1)

    def enqueue(connection: Connection) -> None:
        for index, account_id in enumerate([backlogged] * 100 + [other] * 3):
            message_id = stored_hello(connection, account_id, earlier)
            due = earlier + timedelta(milliseconds=index)  # the backlog's first
            enqueue_incoming_push(connection, account_id, "http://receiver/hook", message_id, due)

    database.write_sync(enqueue)
    now = datetime.now(UTC)
    claimed = database.write_sync(
        lambda c: claim_jobs(c, now, now + timedelta(minutes=1), 64, 16, {})
    )
    by_account = Counter(job.account_id for job in claimed)
    assert by_account == {backlogged: 16, other: 3}
    again = database.write_sync(
        lambda c: claim_jobs(c, now, now + timedelta(minutes=1), 64, 16, {backlogged: 16})
    )
    assert again == []  # the backlog's share is in flight, and the rest was claimed


def test_a_pusher_claims_only_while_it_holds_the_delivery_lease(
    database: Database, receivers: Receivers
) -> None:
    """As the dispatcher (tests/delivery): a process stalled past its lease's lapse must not
    claim pushes, which would then wait for their claims to lapse."""
    account_id = AccountAdmin(database).create("leased", password="x", balance=Decimal(0))
    receiver = receivers().start()
    now = datetime.now(UTC)
    job = queue_push(database, account_id, receiver.url, now)  # due, claimable now
    until = now + timedelta(minutes=1)
    database.write_sync(lambda c: take_lease(c, "delivery", "another process", now, until))
    lease = Lease(database, "delivery", "this process")
    settings = PushSettings(idle_poll=0.02, private_addresses=True, may_claim=lease.held_in)

    async def main() -> None:
        running = asyncio.create_task(Pusher(database, settings).run())
        await asyncio.sleep(0.3)
        assert receiver.received == []  # the lease is another's
        database.write_sync(lambda c: give_up_lease(c, "delivery", "another process"))
        assert await lease.try_take()
        await eventually(lambda: job.id not in job_ids(database))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(main())
    assert len(receiver.received) == 1
