"""The dispatcher keeps what the SMSC took even when writing it fails for a moment, and why a
part was refused or waits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection, select

from smsgate.delivery import dispatcher as dispatching
from smsgate.delivery.connector import (
    ConnectorEvents,
    DeliveryReport,
    IncomingPart,
    IncomingSms,
    OnAnswer,
    OutboundPart,
    SubmitOutcome,
    SubmitResult,
)
from smsgate.delivery.dispatcher import Dispatcher, DispatchSettings
from smsgate.delivery.routing import Route, Router
from smsgate.domain.states import MessageState
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database, Lane
from smsgate.store.leases import Lease, give_up_lease, take_lease
from smsgate.store.messages import insert_parts
from smsgate.store.schema import messages
from tests.store.parts import part_row

T = TypeVar("T")


class CountingSmsc:
    """An SMSC that takes every part (or answers each ``outcome`` with ``reason``), and
    remembers how often it was given each."""

    name = "smsc"
    is_up = True

    def __init__(
        self,
        outcome: SubmitOutcome = SubmitOutcome.ACCEPTED,
        reason: str | None = None,
        answer_after: float = 0.0,
        maybe_taken: bool = False,
    ) -> None:
        self.outcome = outcome
        self.reason = reason
        self.maybe_taken = maybe_taken
        self.answer_after = answer_after  # seconds
        self.taken: list[int] = []
        self._ids = itertools.count(1000)

    async def start(self, events: ConnectorEvents) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def submit(
        self, parts: Sequence[OutboundPart], on_answer: OnAnswer | None = None
    ) -> list[SubmitResult]:
        self.taken += [part.message_id for part in parts]
        await asyncio.sleep(self.answer_after)
        if self.outcome is not SubmitOutcome.ACCEPTED:
            return [
                SubmitResult(
                    p.message_id, self.outcome, error=self.reason, maybe_taken=self.maybe_taken
                )
                for p in parts
            ]
        return [
            SubmitResult(part.message_id, SubmitOutcome.ACCEPTED, str(next(self._ids)))
            for part in parts
        ]


class NoEvents:
    """This SMSC reports nothing and sends nothing in."""

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        raise AssertionError("no reports here")

    async def incoming(self, message: IncomingSms) -> None:
        raise AssertionError("no incoming here")

    async def incoming_part(self, part: IncomingPart) -> None:
        raise AssertionError("no incoming here")


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[None]:
    """The dispatcher runs for the block, which has 10 s; then it is stopped."""
    task = asyncio.create_task(dispatcher.run())
    try:
        async with asyncio.timeout(10):
            yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class UnreachableFirst(Database):
    """The database, whose first ``failures`` writes of submit results fail as if it were
    unreachable (nothing written)."""

    def __init__(self, url: str, failures: int) -> None:
        super().__init__(url)
        self.failures = failures

    async def write(self, work: Callable[[Connection], T], lane: Lane = Lane.MAIN) -> T:
        if lane is Lane.OUTCOMES and self.failures:
            self.failures -= 1
            raise ConnectionError("the database is unreachable")
        return await super().write(work, lane)


def test_submit_results_are_recorded_after_failed_writes(
    database: Database, monkeypatch: Any
) -> None:
    monkeypatch.setattr(dispatching, "RECORD_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(dispatching, "RECORD_RETRY_MAX_SECONDS", 0.05)
    account_id = AccountAdmin(database).create("records", password="secret-password")
    now = datetime.now(UTC)
    database.write_sync(
        lambda c: insert_parts(c, [part_row(i, account_id, now) for i in (1, 2, 3)])
    )
    # More failures than the four a fixed count of attempts allowed: tried as long as the
    # claim holds (60 s here), each part is still sent once.
    flaky = UnreachableFirst(database.url, failures=12)
    smsc = CountingSmsc()
    dispatcher = Dispatcher(
        flaky,
        Router({"smsc": smsc}, [Route("", ("smsc",))]),
        events=None,  # type: ignore[arg-type]
        settings=DispatchSettings(idle_poll=0.02, sweep_interval=60),
    )

    async def scenario() -> None:
        async with running(dispatcher):
            while flaky.failures or not _all_sent(database):  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    try:
        asyncio.run(scenario())
    finally:
        flaky.close()
    assert sorted(smsc.taken) == [1, 2, 3]  # each sent once


def _all_sent(database: Database) -> bool:
    query = select(messages.c.state, messages.c.smsc_id)
    rows = database.read_sync(lambda c: c.execute(query).all())
    return all(state == MessageState.SENT.value and smsc_id for state, smsc_id in rows)


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (SubmitOutcome.RETRY, MessageState.QUEUED),
        (SubmitOutcome.REJECTED, MessageState.NOT_DELIVERED),
    ],
)
def test_a_part_keeps_why_it_waits_or_was_refused(
    database: Database, outcome: SubmitOutcome, state: MessageState
) -> None:
    """As the connector said it, cut to the column (a reason may quote a long PDU error)."""
    account_id = AccountAdmin(database).create("reasons", password="secret-password")
    database.write_sync(lambda c: insert_parts(c, [part_row(1, account_id, datetime.now(UTC))]))
    reason = "throttled too long: " + "x" * 300
    dispatcher = Dispatcher(
        database,
        Router({"smsc": CountingSmsc(outcome, reason)}, [Route("", ("smsc",))]),
        NoEvents(),
        DispatchSettings(idle_poll=0.02, sweep_interval=60, retry_delay=timedelta(hours=1)),
    )
    found = first_outcome(dispatcher, database)
    assert (found.state, found.error) == (state.value, reason[:200])


def test_a_part_refused_once_its_validity_ran_out_is_expired(database: Database) -> None:
    """Claimed in its validity, refused past it (an SMSC's ESME_RINVEXPIRY, the simulated one's
    "validity ran out"): Expired, as a part claimed past it, not NotDelivered."""
    account_id = AccountAdmin(database).create("late", password="secret-password")
    expires_at = datetime.now(UTC) + timedelta(seconds=0.5)
    row = part_row(1, account_id, datetime.now(UTC), expires_at=expires_at)
    database.write_sync(lambda c: insert_parts(c, [row]))
    refusing = CountingSmsc(SubmitOutcome.REJECTED, "validity ran out", answer_after=1.0)
    dispatcher = Dispatcher(
        database,
        Router({"smsc": refusing}, [Route("", ("smsc",))]),
        NoEvents(),
        DispatchSettings(idle_poll=0.02, sweep_interval=60, retry_delay=timedelta(hours=1)),
    )
    found = first_outcome(dispatcher, database)
    assert (found.state, found.error) == (MessageState.EXPIRED.value, "validity ran out")


def first_outcome(dispatcher: Dispatcher, database: Database) -> Any:
    """The only part's row once the dispatcher has recorded an outcome for it (its error)."""
    query = select(messages.c.state, messages.c.due_at, messages.c.error)

    async def scenario() -> Any:
        async with running(dispatcher):
            while True:
                row = database.read_sync(lambda c: c.execute(query).one())
                if row.error is not None:
                    return row
                await asyncio.sleep(0.02)

    return asyncio.run(scenario())


@pytest.mark.parametrize(("attempts_before", "delay"), [(0, 5), (4, 80), (30, 600)])
def test_a_part_the_smsc_defers_waits_longer_each_time(
    database: Database, attempts_before: int, delay: int
) -> None:
    """ESME_RSYSERR and its kind: an SMSC that says so of every part is not given it every
    5 s for its whole validity (thousands of times a day)."""
    account_id = AccountAdmin(database).create("deferred", password="secret-password")
    now = datetime.now(UTC)
    row = part_row(1, account_id, now, attempts=attempts_before)
    database.write_sync(lambda c: insert_parts(c, [row]))
    dispatcher = Dispatcher(
        database,
        Router(
            {"smsc": CountingSmsc(SubmitOutcome.DEFERRED, "ESME_RSYSERR")}, [Route("", ("smsc",))]
        ),
        NoEvents(),
        DispatchSettings(idle_poll=0.02, sweep_interval=60, retry_delay=timedelta(seconds=5)),
    )
    found = first_outcome(dispatcher, database)
    assert found.state == MessageState.QUEUED.value
    waited = (found.due_at - now).total_seconds()
    assert delay <= waited < delay + 5


def test_a_part_whose_submit_went_unanswered_outlives_its_validity(database: Database) -> None:
    """No submit_sm_resp: the SMSC may have taken it, so its validity running out before the
    next submit neither brings that submit forward nor lets the sweep refund it unsent."""
    account_id = AccountAdmin(database).create("unanswered", password="secret-password")
    now = datetime.now(UTC)
    row = part_row(1, account_id, now, expires_at=now + timedelta(seconds=2))
    database.write_sync(lambda c: insert_parts(c, [row]))
    dispatcher = Dispatcher(
        database,
        Router(
            {"smsc": CountingSmsc(SubmitOutcome.DEFERRED, "no submit_sm_resp", maybe_taken=True)},
            [Route("", ("smsc",))],
        ),
        NoEvents(),
        DispatchSettings(idle_poll=0.02, sweep_interval=0.05, retry_delay=timedelta(seconds=5)),
    )

    async def scenario() -> Any:
        async with running(dispatcher):
            while True:
                if database.read_sync(lambda c: c.scalar(select(messages.c.error))) is not None:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(2.5)  # past its validity, through many sweeps
        query = select(messages.c.state, messages.c.due_at, messages.c.maybe_submitted)
        return database.read_sync(lambda c: c.execute(query).one())

    found = asyncio.run(scenario())
    assert (found.state, found.maybe_submitted) == (MessageState.QUEUED.value, True)
    assert 5 <= (found.due_at - now).total_seconds() < 10


class OutcomesHeld(Database):
    """The database, whose writes of submit results wait until ``release`` is set (a slow
    write: a failover, a lock held)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.release = asyncio.Event()

    async def write(self, work: Callable[[Connection], T], lane: Lane = Lane.MAIN) -> T:
        if lane is Lane.OUTCOMES:
            await self.release.wait()
        return await super().write(work, lane)


def test_parts_with_a_route_up_are_submitted_while_the_others_are_put_back(
    database: Database,
) -> None:
    """A batch mixing parts whose route is down with parts whose route is up: putting the
    first back waits for no submit, so a slow write of it cannot eat the claim the others need
    to be submitted and answered."""
    account_id = AccountAdmin(database).create("mixed", password="secret-password")
    now = datetime.now(UTC)
    rows = [part_row(1, account_id, now, destination="79001234567")]
    rows.append(part_row(2, account_id, now, destination="89001234567"))
    database.write_sync(lambda c: insert_parts(c, rows))
    up, down = CountingSmsc(), CountingSmsc()
    down.name, down.is_up = "down", False
    held = OutcomesHeld(database.url)
    dispatcher = Dispatcher(
        held,
        Router({"smsc": up, "down": down}, [Route("7", ("smsc",)), Route("8", ("down",))]),
        NoEvents(),
        DispatchSettings(idle_poll=0.02, sweep_interval=60),
    )

    async def scenario() -> None:
        async with running(dispatcher):
            while not up.taken:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            held.release.set()
            while not _all_recorded(database):  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    try:
        asyncio.run(scenario())
    finally:
        held.close()
    assert (up.taken, down.taken) == ([1], [])
    states = database.read_sync(
        lambda c: dict(c.execute(select(messages.c.id, messages.c.state)).all())
    )
    assert states == {1: MessageState.SENT.value, 2: MessageState.QUEUED.value}


def _all_recorded(database: Database) -> bool:
    query = select(messages.c.lease_until)
    leases = database.read_sync(lambda c: c.execute(query).scalars().all())
    return all(until is None for until in leases)


def test_a_dispatcher_claims_only_while_it_holds_the_delivery_lease(database: Database) -> None:
    """A process stalled past its lease's lapse wakes to claim before its renewal tells it the
    lease is another's: claimed then, parts would wait for their claim to lapse."""
    account_id = AccountAdmin(database).create("leased", password="secret-password")
    now = datetime.now(UTC)
    database.write_sync(lambda c: insert_parts(c, [part_row(i, account_id, now) for i in (1, 2)]))
    until = now + timedelta(minutes=1)
    database.write_sync(lambda c: take_lease(c, "delivery", "another process", now, until))
    lease = Lease(database, "delivery", "this process")
    smsc = CountingSmsc()
    dispatcher = Dispatcher(
        database,
        Router({"smsc": smsc}, [Route("", ("smsc",))]),
        events=None,  # type: ignore[arg-type]
        settings=DispatchSettings(idle_poll=0.02, sweep_interval=60, may_claim=lease.held_in),
    )

    async def scenario() -> None:
        async with running(dispatcher):
            await asyncio.sleep(0.3)
            assert smsc.taken == []  # the lease is another's
            database.write_sync(lambda c: give_up_lease(c, "delivery", "another process"))
            assert await lease.try_take()
            while not _all_sent(database):  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    asyncio.run(scenario())
    assert sorted(smsc.taken) == [1, 2]
