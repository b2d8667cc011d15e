"""The simulated SMSC is one system for every process on a database, as a real SMSC is for all
its binds: a part taken twice keeps one smsc id and gets one report, what a simulator that died
owed is delivered by another, and an incoming message is delivered once.

Each "worker" here is what one worker process has: connections of its own to the database, the
platform's real events and a simulator. Parts are sent through the real API (in-process) and
claimed and recorded with the dispatcher's own store calls, so a test decides exactly when a
worker dies.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import pytest
from sqlalchemy import Connection, func, select

from smsgate.api.rest.router import RestApp
from smsgate.config import Settings
from smsgate.delivery.connector import (
    DeliveryReport,
    IncomingPart,
    IncomingSms,
    OutboundPart,
    ReportStatus,
    SubmitResult,
)
from smsgate.delivery.connectors import simulator as simulator_connector
from smsgate.delivery.connectors.simulator import MAX_VALIDITY, SimulatedSmsc, queue_incoming
from smsgate.delivery.dispatcher import outbound
from smsgate.domain.states import MessageState
from smsgate.inbound.events import InboundEvents
from smsgate.inbound.pusher import Pusher, PushSettings
from smsgate.platform import Platform
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.messages import claim_due, record_accepted
from smsgate.store.migrate import upgrade
from smsgate.store.schema import (
    early_receipts,
    incoming_messages,
    messages,
    push_jobs,
    simulator_inbox,
    simulator_parts,
)
from smsgate.store.simulator import (
    TakenPart,
    claim_incoming,
    forget_parts,
    mark_reported,
    take_parts,
)
from tests.api.helpers import SENDER

T = TypeVar("T")

DELAY = 0.2
LEASE = timedelta(seconds=1)
PASSWORD = "secret-password"


class RecordedEvents:
    """The platform's events, keeping each delivery report once it is committed."""

    def __init__(self, database: Database) -> None:
        self.events = InboundEvents(database, Pusher(database, PushSettings()))
        self.reports: list[DeliveryReport] = []

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        await self.events.delivery_reports(reports)
        self.reports.extend(reports)

    async def incoming(self, message: IncomingSms) -> None:
        await self.events.incoming(message)

    async def incoming_part(self, part: IncomingPart) -> None:
        await self.events.incoming_part(part)


@dataclass
class Worker:
    database: Database
    simulator: SimulatedSmsc
    events: RecordedEvents = field(init=False)

    def __post_init__(self) -> None:
        self.events = RecordedEvents(self.database)

    async def start(self) -> Worker:
        await self.simulator.start(self.events)
        return self


@dataclass
class Site:
    """A database with the API in front of it, and the workers of a test on it."""

    url: str
    api: Platform
    login: str
    stack: AsyncExitStack

    def worker(self, name: str = "simulator", lease: timedelta = LEASE) -> Worker:
        database = Database(self.url)
        self.stack.callback(database.close)
        simulator = SimulatedSmsc(database, delay=DELAY, name=name, lease=lease)
        self.stack.push_async_callback(simulator.stop)
        return Worker(database, simulator)

    async def send(self, count: int, **params: str) -> list[int]:
        """``count`` parts to numbers the simulator reports Delivered; their ids."""
        numbers = ",".join(f"7900{index:05d}12" for index in range(count))
        transport = httpx.ASGITransport(app=RestApp(self.api))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/rest/Send/SendBulk/",
                data={
                    "login": self.login,
                    "pass": PASSWORD,
                    "sourceAddress": SENDER,
                    "destinationAddresses": numbers,
                    "data": "Hello",
                    **params,
                },
            )
        assert response.status_code == 200, response.text
        return [int(part_id) for part_id in response.json()]

    async def claim(self, count: int) -> list[OutboundPart]:
        """Due parts, claimed as a dispatcher claims them (for a minute)."""
        now = datetime.now(UTC)
        self.claimed_until = now + timedelta(minutes=1)
        claimed = await self.api.database.write(
            lambda c: claim_due(c, now, self.claimed_until, count)
        )
        return [outbound(part) for part in claimed]

    async def record(self, results: Sequence[SubmitResult]) -> None:
        """Record the parts as sent, as the dispatcher does with a submit's results."""
        accepted = [(result.message_id, str(result.smsc_id)) for result in results]
        await self.api.database.write(
            # Every part may have a callback URL: the store looks which do.
            lambda c: record_accepted(
                c,
                "simulator",
                accepted,
                datetime.now(UTC),
                dict(accepted),
                claimed_until=self.claimed_until,
            )
        )

    def rows(self, query: Any) -> list[Any]:
        return self.api.database.read_sync(lambda c: list(c.execute(query)))

    def states(self, part_ids: Sequence[int]) -> dict[int, MessageState]:
        query = select(messages.c.id, messages.c.state).where(messages.c.id.in_(part_ids))
        return {part_id: MessageState(state) for part_id, state in self.rows(query)}

    async def delivered(self, part_ids: Sequence[int], *reporters: Worker) -> None:
        """Wait (10 s at most) until every part is Delivered and ``reporters`` have heard back
        about a report for each: the commit is visible here a moment before they do."""

        def done() -> bool:
            reported = sum(len(worker.events.reports) for worker in reporters)
            states = set(self.states(part_ids).values())
            return reported >= len(part_ids) and states == {MessageState.DELIVERED}

        async with asyncio.timeout(10):
            await poll(done)


async def poll(check: Callable[[], T | Literal[False] | None]) -> T:
    """``check``'s answer once it is truthy (the database is polled: no event tells of a change
    made by another connection); the caller bounds the wait. A falsy answer is never returned,
    so ``cond and value`` answers the value's type."""
    while True:
        answer = check()
        if answer:
            return answer
        await asyncio.sleep(0.05)


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Platform, str]]:
    """The API (in this process) on a fresh database, and an account's login."""
    platform = Platform.open(Settings(database_url=database_url, data_dir=tmp_path))
    login = f"user-{uuid.uuid4().hex[:10]}"
    AccountAdmin(platform.database).create(
        login, password=PASSWORD, balance=Decimal(1000), sender_names=[SENDER]
    )
    yield database_url, platform, login
    platform.close()


@asynccontextmanager
async def site(api: tuple[str, Platform, str]) -> AsyncIterator[Site]:
    async with AsyncExitStack() as stack:
        yield Site(*api, stack)


def reports_by_smsc_id(*workers: Worker) -> Counter[str]:
    return Counter(report.smsc_id for worker in workers for report in worker.events.reports)


def test_a_part_taken_by_two_simulators_keeps_one_smsc_id_and_gets_one_report(
    api: tuple[str, Platform, str],
) -> None:
    async def scenario() -> None:
        async with site(api) as here:
            first = await here.worker().start()
            second = await here.worker().start()
            part_ids = await here.send(50)
            parts = await here.claim(50)
            # Both take every part at once: the second to store a part finds it taken.
            results = await asyncio.gather(
                first.simulator.submit(parts), second.simulator.submit(parts)
            )
            smsc_ids = [[result.smsc_id for result in taken] for taken in results]
            assert smsc_ids[0] == smsc_ids[1]
            assert len(set(smsc_ids[0])) == 50
            # And again later, as a dispatcher does when the first died before recording.
            again = await second.simulator.submit(parts)
            assert [result.smsc_id for result in again] == smsc_ids[0]
            await here.record(results[0])
            await here.delivered(part_ids, first, second)
            await asyncio.sleep(DELAY + 0.3)  # time enough for a second report to come
            assert reports_by_smsc_id(first, second) == dict.fromkeys(smsc_ids[0], 1)
            rows = here.rows(select(simulator_parts.c.submissions, simulator_parts.c.reported_at))
            assert len(rows) == 50
            assert all(row.submissions == 3 and row.reported_at for row in rows)

    asyncio.run(scenario())


def test_reports_owed_by_a_simulator_that_died_are_delivered_once_its_lease_lapses(
    api: tuple[str, Platform, str],
) -> None:
    async def scenario() -> None:
        async with site(api) as here:
            dead = here.worker()  # never started: it dies right after acknowledging
            part_ids = await here.send(20)
            taken = await dead.simulator.submit(await here.claim(20))
            await here.record(taken)
            alive = await here.worker().start()
            await here.delivered(part_ids, alive)
            due = dict(
                here.rows(select(simulator_parts.c.smsc_id, simulator_parts.c.report_due_at))
            )
            assert reports_by_smsc_id(alive) == dict.fromkeys(due, 1)
            for report in alive.events.reports:  # dated when due, not when taken over
                assert report.done_at == due[report.smsc_id]
            # Each report is recorded as delivered by a write of its own after it was heard.
            owed = select(func.count()).where(simulator_parts.c.lease_until.is_not(None))
            async with asyncio.timeout(5):
                await poll(lambda: here.rows(owed) == [(0,)])

    asyncio.run(scenario())


def test_a_simulator_that_stops_hands_its_reports_over_when_they_are_due(
    api: tuple[str, Platform, str],
) -> None:
    async def scenario() -> None:
        async with site(api) as here:
            lease = timedelta(seconds=30)
            stopping = await here.worker(lease=lease).start()
            part_ids = await here.send(20)
            taken = await stopping.simulator.submit(await here.claim(20))
            await here.record(taken)
            await stopping.simulator.stop()  # before the reports are due
            other = await here.worker(lease=lease).start()
            await here.delivered(part_ids, other)
            assert not stopping.events.reports
            assert reports_by_smsc_id(other) == {str(result.smsc_id): 1 for result in taken}
            due = dict(
                here.rows(select(simulator_parts.c.smsc_id, simulator_parts.c.report_due_at))
            )
            for report in other.events.reports:
                assert due[report.smsc_id] <= report.done_at < due[report.smsc_id] + lease

    asyncio.run(scenario())


TEXTS = [f"message {index}" for index in range(400)] + [
    f"{index:03d} " + "a three-part message. " * 18 for index in range(40)
]


def stored_incoming(here: Site) -> list[tuple[str, str]]:
    return [
        (row.text, row.connector)
        for row in here.rows(select(incoming_messages.c.text, incoming_messages.c.connector))
    ]


async def wait_stored(here: Site, count: int) -> list[tuple[str, str]]:
    """The incoming messages stored once there are ``count`` (20 s at most)."""
    async with asyncio.timeout(20):
        return await poll(lambda: len(stored := stored_incoming(here)) >= count and stored)


def test_two_simulators_draining_one_inbox_deliver_each_message_once(
    api: tuple[str, Platform, str],
) -> None:
    async def scenario() -> None:
        async with site(api) as here:
            for name in ("simulator-a", "simulator-b"):
                await here.worker(name).start()
            queue_incoming(here.api.database, [("79115687451", "2420", t) for t in TEXTS])
            stored = await wait_stored(here, len(TEXTS))
            await asyncio.sleep(0.5)  # time enough for a message delivered twice to show
            stored = stored_incoming(here)
            assert sorted(text for text, _ in stored) == sorted(TEXTS)
            if here.api.database.dialect == "postgresql":
                # Both took part. On SQLite one write lock orders the claims, and one simulator
                # can take every batch while the other's wait for the lock is still backing
                # off (this test runs both in one process; a SQLite platform delivers in one).
                assert {connector for _, connector in stored} == {"simulator-a", "simulator-b"}
            assert here.rows(select(func.count()).select_from(simulator_inbox)) == [(0,)]

    asyncio.run(scenario())


def test_incoming_messages_held_by_a_simulator_that_died_come_back_after_the_lease(
    api: tuple[str, Platform, str],
) -> None:
    async def scenario() -> None:
        async with site(api) as here:
            queue_incoming(here.api.database, [("79115687451", "2420", t) for t in TEXTS[:5]])
            now = datetime.now(UTC)
            # A simulator claims them, then dies.
            held = await here.api.database.write(lambda c: claim_incoming(c, now, now + LEASE, 10))
            assert len(held) == 5
            await here.worker().start()
            await wait_stored(here, 5)
            created = here.rows(select(incoming_messages.c.created_at))
            assert all(moment >= now + LEASE for (moment,) in created)
            assert sorted(text for text, _ in stored_incoming(here)) == sorted(TEXTS[:5])

    asyncio.run(scenario())


def test_a_report_delivered_twice_changes_nothing(api: tuple[str, Platform, str]) -> None:
    """A simulator that dies between the receipts' commit and crossing them off delivers them
    again later: before or after our side recorded the part as sent."""

    async def scenario() -> None:
        async with site(api) as here:
            worker = here.worker()  # not started: the test delivers the reports
            # With status callbacks: a report that applied twice would queue a second one.
            recorded_first, recorded_later = await here.send(2, callback_url="http://test/status")
            taken = await worker.simulator.submit(await here.claim(2))
            await here.record(taken[:1])
            done_at = datetime.now(UTC)
            reports = [
                DeliveryReport("simulator", str(result.smsc_id), ReportStatus.DELIVERED, done_at)
                for result in taken
            ]
            await worker.events.delivery_reports(reports)
            await worker.events.delivery_reports(reports)
            assert here.states([recorded_first]) == {recorded_first: MessageState.DELIVERED}
            await here.record(taken[1:])
            assert here.states([recorded_first, recorded_later]) == {
                recorded_first: MessageState.DELIVERED,
                recorded_later: MessageState.DELIVERED,
            }
            assert here.rows(select(func.count()).select_from(early_receipts)) == [(0,)]
            callbacks = select(push_jobs.c.subject_id, push_jobs.c.state).order_by(push_jobs.c.id)
            assert [tuple(row) for row in here.rows(callbacks)] == [
                (recorded_first, MessageState.SENT.value),
                (recorded_first, MessageState.DELIVERED.value),
                (recorded_later, MessageState.SENT.value),
                (recorded_later, MessageState.DELIVERED.value),
            ]

    asyncio.run(scenario())


def test_a_report_delivered_again_after_a_crash_is_dropped_as_a_repeat(
    api: tuple[str, Platform, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Delivered, but not crossed off (the process died between the two): delivered again
    once its lease lapsed, stamped with a new done date, it was no repeat, and stayed a day
    in early_receipts as a receipt of a part submitted twice."""
    failed: list[int] = []

    def mark_reported_after_a_crash(connection: Connection, part_ids: Any, now: Any) -> None:
        if not failed:
            failed.extend(part_ids)
            raise OSError("the process died here")
        mark_reported(connection, part_ids, now)

    monkeypatch.setattr(simulator_connector, "mark_reported", mark_reported_after_a_crash)

    async def scenario() -> None:
        async with site(api) as here:
            worker = await here.worker().start()
            part_ids = await here.send(5)
            await here.record(await worker.simulator.submit(await here.claim(5)))
            await here.delivered(part_ids, worker)
            # The lease lapses, and the reports go again, crossed off this time.
            owed = select(func.count()).where(simulator_parts.c.lease_until.is_not(None))
            async with asyncio.timeout(10):
                await poll(lambda: here.rows(owed) == [(0,)])
            assert len(failed) == 5 and len(worker.events.reports) == 10
            assert here.rows(select(func.count()).select_from(early_receipts)) == [(0,)]
            assert set(here.states(part_ids).values()) == {MessageState.DELIVERED}

    asyncio.run(scenario())


def test_parts_are_forgotten_a_retention_after_their_report_or_their_validity(
    database_url: str,
) -> None:
    database = Database(database_url)
    upgrade(database.write_engine)
    now = datetime.now(UTC)
    day = timedelta(days=1)
    never = day + MAX_VALIDITY  # a silent part is kept past any validity, then the retention

    def taken(part_id: int, report: str | None, due: datetime) -> TakenPart:
        return TakenPart(part_id, f"smsc-{part_id}", report, due, due + LEASE if report else None)

    def work(connection: Any) -> list[int]:
        take_parts(
            connection,
            [
                taken(1, "delivered", now - 2 * day),  # reported two days ago
                taken(2, "delivered", now - 2 * day),  # still owed
                taken(3, "delivered", now - 2 * day),  # reported just now, late
                taken(4, None, now - never - day),  # silent, long past its validity
                taken(5, None, now - never + day),  # silent, its validity maybe still running
            ],
        )
        mark_reported(connection, [1], now - 2 * day)
        mark_reported(connection, [3], now)
        forgotten = [forget_parts(connection, now - day, now - never, 1) for _ in range(3)]
        remaining = connection.execute(select(simulator_parts.c.part_id).order_by("part_id"))
        return [*forgotten, *remaining.scalars()]

    try:
        assert database.write_sync(work) == [1, 1, 0, 2, 3, 5]
    finally:
        database.close()
