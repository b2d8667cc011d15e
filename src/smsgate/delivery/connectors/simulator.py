"""The built-in simulated SMSC, behind the same interface a real SMSC connector has.

It accepts every part and reports it ``delay`` seconds later: Delivered, except that a
destination ending in ``0000`` is NotDelivered and one ending in ``9999`` never gets a report
(so it expires). It also delivers the incoming messages queued for it (``queue_incoming``).

Like a real SMSC it is one system for every bind: what it took, what it owes and its inbox are
its own tables in the platform's database (``smsgate.store.simulator``), shared by every process
on that database. A part submitted again, by any process, keeps its first smsc id and gets no
second report. A submit is acknowledged only once the parts are stored; the taker delivers their
reports, and a report whose taker died is delivered by another simulator once its lease lapses.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection

from smsgate.delivery.connector import (
    ConnectorEvents,
    DeliveryReport,
    IncomingPart,
    IncomingSms,
    OnAnswer,
    OutboundPart,
    ReportStatus,
    SubmitOutcome,
    SubmitResult,
)
from smsgate.delivery.smpp.text import encode_text
from smsgate.domain.dates import MAX_VALIDITY_MINUTES
from smsgate.domain.errors import ApiError
from smsgate.domain.segments import segment_text
from smsgate.store.database import Database
from smsgate.store.simulator import (
    TakenPart,
    WaitingIncoming,
    add_incoming,
    any_incoming,
    any_lapsed,
    claim_incoming,
    claim_lapsed,
    forget_parts,
    mark_reported,
    release_all,
    release_parts,
    settle_incoming,
    take_parts,
)
from smsgate.wakeup import wait_at_most

log = logging.getLogger(__name__)

REPORT_BATCH = 1000
# Reports are gathered this long between batches, as an SMSC's own delivery loop would.
REPORT_PAUSE = 0.02
RETRY_SECONDS = 1.0
# How long past its due time a report stays with the simulator that took it; then any
# simulator may deliver it.
LEASE = timedelta(seconds=30)
LAPSED_POLL_SECONDS = 1.0
# Parts are kept this long after their report (or, never reported, after their validity could
# have run out), so that a part submitted again meanwhile keeps its smsc id.
RETENTION = timedelta(days=1)
MAX_VALIDITY = timedelta(minutes=MAX_VALIDITY_MINUTES)
FORGET_INTERVAL_SECONDS = 60.0
FORGET_BATCH = 10_000


def simulated_status(destination: str) -> ReportStatus | None:
    """The report the simulator gives a destination; None means it never reports."""
    if destination.endswith("9999"):
        return None
    if destination.endswith("0000"):
        return ReportStatus.NOT_DELIVERED
    return ReportStatus.DELIVERED


def queue_incoming(database: Database, messages: Sequence[tuple[str, str, str]]) -> None:
    """Queue (source, destination, text) messages for the simulated SMSC to deliver as incoming.

    A simulator running on ``database`` (in any process) delivers them within
    ``INBOX_POLL_SECONDS``; otherwise the next one to start does.
    """
    now = datetime.now(UTC)
    database.write_sync(lambda connection: add_incoming(connection, messages, now))


class _Owed(NamedTuple):
    """A report the simulator owes. Its done date is when it fell due, not when it goes out:
    delivered again (its delivery not recorded before a crash), it is the same report, which
    the platform drops as a repeat, as an SMSC's resent deliver_sm carries its first done date.
    """

    due: float  # on the monotonic clock
    part_id: int
    smsc_id: str
    status: ReportStatus
    done_at: datetime


class SimulatedSmsc:
    """A connector to the simulated SMSC, whose state is in ``database``.

    ``reclaim_at_start``: at start take over every lease at once (what the last run held), which
    is right only when no other simulator uses the database; otherwise leases lapse.
    """

    def __init__(
        self,
        database: Database,
        *,
        delay: float = 1.0,
        name: str = "simulator",
        lease: timedelta = LEASE,
        reclaim_at_start: bool = False,
    ) -> None:
        self.name = name
        self.delay = delay
        self.database = database
        self.lease = lease
        self.reclaim_at_start = reclaim_at_start
        self._inbox = IncomingInbox(database, name)
        self._tasks: list[asyncio.Task[None]] = []
        self._owed: deque[_Owed] = deque()
        # Parts whose reports this simulator holds: owed, or being delivered.
        self._held: set[int] = set()
        self._has_reports = asyncio.Event()
        # Random per instance, so smsc ids never repeat across processes and restarts.
        self._id_prefix = secrets.token_hex(8)
        self._ids = itertools.count(1)

    @property
    def is_up(self) -> bool:
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def start(self, events: ConnectorEvents) -> None:
        if self.reclaim_at_start:
            now = datetime.now(UTC)
            released = await self.database.write(lambda connection: release_all(connection, now))
            if released:
                log.info(
                    "%s: took over %d reports and messages of the last run", self.name, released
                )
        self._tasks = [
            asyncio.create_task(self._report_loop(events)),
            asyncio.create_task(self._reclaim_loop()),
            asyncio.create_task(self._inbox.run(events)),
        ]

    async def stop(self) -> None:
        """Stop; what this simulator still holds goes back to any simulator at once."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        parts, messages = sorted(self._held), sorted(self._inbox.held)
        self._owed.clear()
        self._held.clear()
        self._inbox.held.clear()
        if not (parts or messages):
            return
        now = datetime.now(UTC)

        def release(connection: Connection) -> None:
            release_parts(connection, parts)
            settle_incoming(connection, (), messages, now)

        try:
            await self.database.write(release)
        except Exception:
            log.exception("%s: releasing what it held failed; its leases will lapse", self.name)

    async def submit(
        self, parts: Sequence[OutboundPart], on_answer: OnAnswer | None = None
    ) -> list[SubmitResult]:
        # Every part is answered by one write, as the call returns: ``on_answer`` has no use.
        now = datetime.now(UTC)
        due_at = now + timedelta(seconds=self.delay)
        due = time.monotonic() + self.delay
        taken = []
        for part in parts:
            status = simulated_status(part.destination)
            taken.append(
                TakenPart(
                    part_id=part.message_id,
                    smsc_id=f"{self._id_prefix}{next(self._ids):08x}",
                    report=status.value if status else None,
                    report_due_at=due_at,
                    lease_until=due_at + self.lease if status else None,
                )
            )
        # Submitted again after its dispatcher died, past its validity: taken only if it was
        # before (it answers with the id it had), else refused as an SMSC would.
        expired = {part.message_id for part in parts if part.expires_at <= now}
        # Acknowledged only once stored, as an SMSC does.
        held = await self.database.write(lambda connection: take_parts(connection, taken, expired))
        # A part that keeps another smsc id was taken before: its report is owed already.
        new = [part for part in taken if held.get(part.part_id) == part.smsc_id]
        owed = [
            _Owed(due, part.part_id, part.smsc_id, ReportStatus(part.report), part.report_due_at)
            for part in new
            if part.report is not None
        ]
        self._owed.extend(owed)
        self._held.update(report.part_id for report in owed)
        self._has_reports.set()
        return [
            SubmitResult(part.message_id, SubmitOutcome.ACCEPTED, held[part.message_id])
            if part.message_id in held
            # Refused as an SMSC refuses a validity past (ESME_RINVEXPIRY): Expired, refunded.
            else SubmitResult(part.message_id, SubmitOutcome.REJECTED, error="validity ran out")
            for part in parts
        ]

    async def _report_loop(self, events: ConnectorEvents) -> None:
        while True:
            self._has_reports.clear()
            if not self._owed:
                await self._has_reports.wait()
                continue
            wait = self._owed[0].due - time.monotonic()
            if wait > 0:
                # Woken early by reports taken over from a dead simulator, which are due now.
                await wait_at_most(self._has_reports, wait)
                continue
            if await self._deliver_due(events) < REPORT_BATCH:
                await asyncio.sleep(REPORT_PAUSE)

    async def _deliver_due(self, events: ConnectorEvents) -> int:
        """Deliver a batch of the reports due, then record them delivered; how many."""
        now = datetime.now(UTC)
        due: list[_Owed] = []
        while self._owed and len(due) < REPORT_BATCH and self._owed[0].due <= time.monotonic():
            due.append(self._owed.popleft())
        try:
            await events.delivery_reports(
                [
                    DeliveryReport(self.name, report.smsc_id, report.status, report.done_at)
                    for report in due
                ]
            )
        except Exception:
            log.exception("delivering %d reports failed; will retry", len(due))
            self._owed.extendleft(reversed(due))
            await asyncio.sleep(RETRY_SECONDS)
            return 0
        part_ids = [report.part_id for report in due]
        try:
            await self.database.write(lambda connection: mark_reported(connection, part_ids, now))
        except Exception:
            # Delivered again once the leases lapse: a repeated report changes nothing.
            log.exception("%s: recording %d reports as delivered failed", self.name, len(due))
        self._held.difference_update(part_ids)
        return len(due)

    async def _reclaim_loop(self) -> None:
        """Take over the reports whose lease lapsed; now and then forget old parts."""
        forget_at = time.monotonic()
        while True:
            claimed = 0
            try:
                claimed = await self._claim_lapsed()
                if time.monotonic() >= forget_at:
                    forget_at = time.monotonic() + FORGET_INTERVAL_SECONDS
                    await self._forget()
            except Exception:
                log.exception("%s: taking over lapsed reports failed", self.name)
            if claimed < REPORT_BATCH:
                await asyncio.sleep(LAPSED_POLL_SECONDS)

    async def _claim_lapsed(self) -> int:
        now = datetime.now(UTC)
        if not await self.database.lookup(lambda connection: any_lapsed(connection, now)):
            return 0
        claimed = await self.database.write(
            lambda connection: claim_lapsed(connection, now, now + self.lease, REPORT_BATCH)
        )
        # A report this simulator holds itself is on its way already; its lease is renewed.
        taken_over = [report for report in claimed if report.part_id not in self._held]
        if taken_over:
            log.info("%s: took over %d lapsed reports", self.name, len(taken_over))
            due = time.monotonic()
            self._owed.extendleft(
                _Owed(
                    due,
                    report.part_id,
                    report.smsc_id,
                    ReportStatus(report.report),
                    report.report_due_at,
                )
                for report in taken_over
            )
            self._held.update(report.part_id for report in taken_over)
            self._has_reports.set()
        return len(claimed)

    async def _forget(self) -> None:
        now = datetime.now(UTC)
        reported_before = now - RETENTION
        silent_before = reported_before - MAX_VALIDITY
        forgotten = FORGET_BATCH
        while forgotten == FORGET_BATCH:
            forgotten = await self.database.write(
                lambda connection: forget_parts(
                    connection, reported_before, silent_before, FORGET_BATCH
                )
            )


INBOX_POLL_SECONDS = 0.2
# Messages are claimed this many at a time, and up to INBOX_IN_FLIGHT are being delivered at
# once (the next batch is claimed while the last one commits), like an SMSC's window of
# unacknowledged deliver_sm. A small window keeps each group commit short, so pushes run
# between them.
INBOX_BATCH = 100
INBOX_IN_FLIGHT = 200
# How long a simulator holds the messages it claimed. Far longer than delivering a window
# takes: a message whose lease lapses while it is being delivered is delivered twice.
INBOX_LEASE = timedelta(seconds=30)


class IncomingInbox:
    """Incoming messages the simulated SMSC delivers, from its table ``simulator_inbox``.

    A message is claimed (leased) within ``INBOX_POLL_SECONDS`` and deleted only once the events
    returned, i.e. the message is committed; one held by a simulator that died comes back when
    its lease lapses. A text longer than one part comes as concatenated parts, encoded as on the
    air and out of order, through ``events.incoming_part``: joined by the same code as every
    multi-part ``deliver_sm``. A message that cannot be sent as an SMS is dropped with a warning.
    """

    def __init__(self, database: Database, connector: str) -> None:
        self.database = database
        self.connector = connector
        # Claimed and not yet settled.
        self.held: set[int] = set()
        # 16-bit concatenation references, from a different point in each run: parts kept
        # from a run that stopped must not be joined with a new message.
        self._references = itertools.count(int.from_bytes(os.urandom(2), "big"))

    async def run(self, events: ConnectorEvents) -> None:
        room = asyncio.Event()
        backlog = False  # the last claim was full: claim again without looking first
        async with asyncio.TaskGroup() as deliveries:
            while True:
                room.clear()
                count = min(INBOX_BATCH, INBOX_IN_FLIGHT - len(self.held))
                try:
                    claimed = await self._claim(count, backlog)
                except Exception:
                    log.exception("%s: claiming incoming messages failed", self.connector)
                    claimed = []
                backlog = len(claimed) == count
                if claimed:
                    self.held.update(message.id for message in claimed)
                    deliveries.create_task(self._deliver(events, claimed, room))
                if len(self.held) >= INBOX_IN_FLIGHT:
                    await room.wait()
                elif not backlog:
                    await asyncio.sleep(INBOX_POLL_SECONDS)

    async def _claim(self, count: int, backlog: bool) -> list[WaitingIncoming]:
        now = datetime.now(UTC)
        # Looking is a cheap read; claiming is a write, spent only when something waits.
        if not backlog and not await self.database.lookup(
            lambda connection: any_incoming(connection, now)
        ):
            return []
        return await self.database.write(
            lambda connection: claim_incoming(connection, now, now + INBOX_LEASE, count)
        )

    async def _deliver(
        self, events: ConnectorEvents, claimed: Sequence[WaitingIncoming], room: asyncio.Event
    ) -> None:
        """Hand over the messages of one batch; delete those taken (or refused)."""
        received: list[tuple[int, IncomingSms | list[IncomingPart]]] = []
        refused: list[int] = []
        now = datetime.now(UTC)
        for message in claimed:
            try:
                received.append((message.id, self._receive(message, now)))
            except (ValueError, ApiError) as error:
                log.warning("rejected incoming message %d: %s", message.id, error)
                refused.append(message.id)
        outcomes = await asyncio.gather(
            *(_hand_over(events, message) for _, message in received), return_exceptions=True
        )
        done = refused
        retried: list[int] = []
        for (message_id, _), outcome in zip(received, outcomes, strict=True):
            (done if outcome is None else retried).append(message_id)
        failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failed:
            log.error("%d incoming messages not taken; will retry", len(failed), exc_info=failed[0])
        retry_at = datetime.now(UTC) + timedelta(seconds=RETRY_SECONDS)
        try:
            await self.database.write(
                lambda connection: settle_incoming(connection, done, retried, retry_at)
            )
        except Exception:
            log.exception("settling %d incoming messages failed", len(claimed))
        self.held.difference_update(message.id for message in claimed)
        room.set()

    def _receive(self, message: WaitingIncoming, now: datetime) -> IncomingSms | list[IncomingPart]:
        segmentation = segment_text(message.text)
        total = len(segmentation.parts)
        if total == 1:
            return IncomingSms(
                self.connector, message.source, message.destination, message.text, now
            )
        reference = next(self._references) % 0x10000
        parts = []
        for seqnum, part in enumerate(segmentation.parts, start=1):
            data_coding, body = encode_text(part, segmentation.encoding)
            parts.append(
                IncomingPart(
                    connector=self.connector,
                    source=message.source,
                    destination=message.destination,
                    reference=reference,
                    total=total,
                    seqnum=seqnum,
                    data_coding=data_coding,
                    body=body,
                    received_at=now,
                )
            )
        return parts[::-1]  # the last part first, as an SMSC may deliver them


async def _hand_over(events: ConnectorEvents, message: IncomingSms | list[IncomingPart]) -> None:
    if isinstance(message, IncomingSms):
        await events.incoming(message)
    else:
        await asyncio.gather(*(events.incoming_part(part) for part in message))
