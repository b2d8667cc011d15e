"""The dispatcher: claims due parts, submits them through connectors, records the results.

One loop claims batches (a lease in the database, so a dispatcher that dies gives its parts
back when the lease lapses) and hands each batch to a task that routes and submits it. A second
loop ends parts whose validity ran out: unsent ones are refunded, sent ones without a report
become Expired.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from smsgate.backoff import doubled
from smsgate.delivery.connector import (
    Connector,
    ConnectorEvents,
    Encoding,
    OutboundPart,
    SubmitOutcome,
    SubmitResult,
)
from smsgate.delivery.routing import Router
from smsgate.domain.states import MessageState
from smsgate.metrics import PARTS_EXPIRED, PARTS_SUBMITTED, count_ended
from smsgate.periodic import every
from smsgate.store.database import Database, Lane
from smsgate.store.leases import LeaseCheck
from smsgate.store.messages import (
    ClaimedPart,
    apply_waiting_receipts,
    claim_due,
    expire_sent,
    expired_waiting,
    finish_unsent,
    forget_early_receipts,
    record_accepted,
    record_retry,
    release_all_part_leases,
    release_lapsed_leases,
)
from smsgate.store.monitoring import awaiting_reports
from smsgate.wakeup import Wakeup, wait_at_most

log = logging.getLogger(__name__)

# How often a finishing dispatcher looks whether sent parts still await their reports.
REPORT_POLL_SECONDS = 0.1
# A write of submit results that fails (the database unreachable a while, a failover) is tried
# again, the waits doubling, for as long as the batch's claim holds: the SMSC has the parts,
# and unrecorded they would be sent again once their claim lapsed. Past that, another claim
# may have taken them, and the results are another dispatcher's to write.
RECORD_RETRY_SECONDS = 0.5
RECORD_RETRY_MAX_SECONDS = 5.0
# The last write is tried this long before the claim lapses at the latest (clocks differ).
CLOCK_MARGIN_SECONDS = 1.0
# A part the SMSC deferred waits the retry delay doubled per earlier attempt, up to this.
DEFERRED_MAX_DELAY = timedelta(minutes=10)
# Results of a batch still partly with its connector are written this often (see ``_submit``).
RESULTS_FLUSH_SECONDS = 0.5
# A stopping dispatcher waits this long for its batches to write the results its stopped
# connectors gave them (a write retried while the database is away would hold the stop).
BATCHES_STOP_SECONDS = 5.0
# Receipts that came before their part's submit result wait for it (``early_receipts``); one
# whose part is recorded sent meanwhile is applied, one still unmatched after a day never will
# be. Looked for every ten seconds.
EARLY_RECEIPTS_KEPT = timedelta(days=1)
EARLY_RECEIPTS_SWEEP_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    batch_size: int = 500
    lease: timedelta = timedelta(seconds=60)
    retry_delay: timedelta = timedelta(seconds=5)
    idle_poll: float = 0.25
    claim_pause: float = 0.02
    sweep_interval: float = 1.0
    max_batches_in_flight: int = 4
    # Only one dispatcher may use a database when leases are released at start (SQLite).
    release_leases_at_start: bool = False
    # Whether this dispatcher may claim (it holds the lease of the delivery); None: any number
    # of dispatchers share the queue.
    may_claim: LeaseCheck | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A batch's lease, taken ``at``: ``until`` in the store, which only this claim's writes
    match, and when it ``ends`` here (``time.monotonic``, a margin early: clocks differ)."""

    at: datetime
    until: datetime
    ends: float

    @classmethod
    def starting(cls, lease: timedelta) -> Claim:
        now = datetime.now(UTC)
        ends = time.monotonic() + lease.total_seconds() - CLOCK_MARGIN_SECONDS
        return cls(now, now + lease, ends)


def outbound(part: ClaimedPart) -> OutboundPart:
    return OutboundPart(
        message_id=part.id,
        sender_name=part.sender_name,
        destination=part.destination,
        text=part.text,
        encoding=Encoding(part.encoding),
        part_number=part.part_number,
        part_count=part.part_count,
        concat_reference=part.group_id,
        expires_at=part.expires_at,
    )


class Dispatcher:
    """Moves due parts from the store to the operators."""

    def __init__(
        self,
        database: Database,
        router: Router,
        events: ConnectorEvents,
        settings: DispatchSettings | None = None,
    ) -> None:
        self.database = database
        self.router = router
        self.events = events
        self.settings = settings or DispatchSettings()
        self._wakeup = Wakeup()
        self._slots = asyncio.Semaphore(self.settings.max_batches_in_flight)
        self._batches: set[asyncio.Task[None]] = set()
        self._claimer: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def connectors(self) -> Mapping[str, Connector]:
        return self.router.connectors

    def wake(self) -> None:
        """New parts were queued: claim now instead of at the next poll."""
        self._wakeup.wake()

    async def run(self) -> None:
        if self.settings.release_leases_at_start:
            released = await self.database.write(release_all_part_leases)
            if released:
                log.info("picked up %d parts left in flight", released)
        for connector in self.connectors.values():
            await connector.start(self.events)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._claimer = tasks.create_task(self._claim_loop())
                tasks.create_task(
                    every(
                        self.settings.sweep_interval,
                        self._expire,
                        log=log,
                        failure="expiring parts failed",
                        first_now=False,
                    )
                )
                tasks.create_task(
                    every(
                        EARLY_RECEIPTS_SWEEP_SECONDS,
                        self._settle_early,
                        log=log,
                        failure="settling early receipts failed",
                        first_now=False,
                    )
                )
        finally:
            await self._stop_connectors()

    async def _stop_connectors(self) -> None:
        """Stop the connectors, then the batches. A connector's stop ends its submits in
        flight with what the SMSC answered meanwhile (and gives back what it had not sent), and
        the batches write those results; a batch cancelled first would drop the answers, and
        the parts the SMSC took, left unrecorded, would be sent again."""
        for connector in self.connectors.values():
            await connector.stop()
        if self._batches:
            await asyncio.wait(list(self._batches), timeout=BATCHES_STOP_SECONDS)
        for task in list(self._batches):
            task.cancel()

    async def finish(self, report_grace: float) -> None:
        """Stop claiming, let the batches in flight be submitted and recorded, then keep the
        connectors up for delivery reports while sent parts await them, ``report_grace`` at most.
        """
        self._stopping = True
        self._wakeup.wake()
        if self._claimer is not None:
            await asyncio.wait([self._claimer])
        if self._batches:
            await asyncio.wait(list(self._batches))
        deadline = time.monotonic() + report_grace
        while await self.database.lookup(awaiting_reports):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(REPORT_POLL_SECONDS, remaining))

    async def _claim_loop(self) -> None:
        while not self._stopping:
            if not any(connector.is_up for connector in self.connectors.values()):
                # Nothing could carry a part now (binds still connecting, or run by another
                # worker): claiming would only postpone the parts.
                await self._wakeup.sleep(self.settings.idle_poll)
                continue
            await self._slots.acquire()
            if self._stopping:
                self._slots.release()
                return
            try:
                claim, claimed = await self.database.write(self._claim)
            except Exception:
                log.exception("claiming due parts failed")
                claimed = []
            if claimed:
                task = asyncio.create_task(self._dispatch(claimed, claim))
                self._batches.add(task)
                task.add_done_callback(self._batch_done)
            else:
                self._slots.release()
            if not claimed:
                await self._wakeup.sleep(self.settings.idle_poll)
            elif len(claimed) < self.settings.batch_size:
                # A partial batch means the queue is drained: let parts gather for a moment
                # rather than spend a transaction on every few of them.
                await asyncio.sleep(self.settings.claim_pause)

    def _claim(self, connection: Connection) -> tuple[Claim, list[ClaimedPart]]:
        # Timed in the transaction: a wait for the writer is not taken out of the lease.
        claim = Claim.starting(self.settings.lease)
        may_claim = self.settings.may_claim
        if may_claim is not None and not may_claim(connection, claim.at):
            return claim, []  # the lease is another's: this dispatcher is about to stop
        return claim, claim_due(connection, claim.at, claim.until, self.settings.batch_size)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatching a batch failed", exc_info=task.exception())

    async def _dispatch(self, parts: Sequence[ClaimedPart], claim: Claim) -> None:
        """Submit claimed ``parts`` and record the results while their ``claim`` holds."""
        by_connector: dict[str, list[ClaimedPart]] = defaultdict(list)
        unroutable: list[ClaimedPart] = []
        for part in parts:
            connector = self.router.pick(part.destination)
            if connector is None:
                unroutable.append(part)
            else:
                by_connector[connector.name].append(part)
        work = [
            (f"to {name}", self._submit(self.connectors[name], batch, claim))
            for name, batch in by_connector.items()
        ]
        if unroutable:
            # Every connector of the route is down: keep the parts queued, try again later.
            # Written beside the submits, not before them: a slow write would eat into the
            # claim the routable parts need for their submit.
            put_back = self._record(
                "",
                [
                    SubmitResult(p.id, SubmitOutcome.RETRY, error="no connector up")
                    for p in unroutable
                ],
                parts={p.id: p for p in unroutable},
                claim=claim,
            )
            work.append(("of parts no connector could take", put_back))
        # Each connector's submit runs to its end, whatever another's does: the batch's slot
        # is free only once none of its parts is with a connector.
        outcomes = await asyncio.gather(*(step for _, step in work), return_exceptions=True)
        for (what, _), outcome in zip(work, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error("dispatching a batch %s failed", what, exc_info=outcome)

    async def _submit(
        self, connector: Connector, parts: Sequence[ClaimedPart], claim: Claim
    ) -> None:
        """Submit ``parts`` through ``connector`` and record their results: those answered
        one by one every ``RESULTS_FLUSH_SECONDS`` while the rest are out (a batch partly
        throttled can take most of a minute, and a stop or a crash meanwhile would otherwise
        leave the parts the SMSC took unrecorded, to be sent again), the others at the end."""
        by_id = {part.id: part for part in parts}
        answered: list[SubmitResult] = []
        recorded: set[int] = set()
        done = asyncio.Event()

        async def record_answered() -> None:
            while True:
                await wait_at_most(done, RESULTS_FLUSH_SECONDS)
                # Once done, what came during the last write is written too, then no more.
                while answered:
                    taken = answered[:]
                    answered.clear()
                    await self._record(connector.name, taken, parts=by_id, claim=claim)
                    recorded.update(result.message_id for result in taken)
                    if not done.is_set():
                        break
                if done.is_set():
                    return

        recorder: asyncio.Task[None] | None = None

        def on_answer(result: SubmitResult) -> None:
            nonlocal recorder
            answered.append(result)
            if recorder is None:  # only connectors that answer part by part need one
                recorder = asyncio.get_running_loop().create_task(record_answered())

        try:
            results = await connector.submit([outbound(part) for part in parts], on_answer)
        except Exception:
            log.exception("connector %s failed a submit of %d parts", connector.name, len(parts))
            results = [
                SubmitResult(p.id, SubmitOutcome.RETRY, error="connector error") for p in parts
            ]
        finally:
            # Also when this batch is cancelled (a stop cut short): what was answered is written.
            done.set()
            if recorder is not None:
                await asyncio.gather(recorder, return_exceptions=True)
        rest = [result for result in results if result.message_id not in recorded]
        if rest:
            await self._record(connector.name, rest, parts=by_id, claim=claim)

    async def _record(
        self,
        connector: str,
        results: Sequence[SubmitResult],
        *,
        parts: Mapping[int, ClaimedPart],
        claim: Claim,
    ) -> None:
        """Write ``results`` of some of the claimed ``parts`` (by id)."""
        now = datetime.now(UTC)
        with_callback = {part_id for part_id, part in parts.items() if part.has_callback}
        accepted = [
            (result.message_id, result.smsc_id)
            for result in results
            if result.outcome is SubmitOutcome.ACCEPTED and result.smsc_id is not None
        ]
        # By error, which each part keeps (why it was refused, or why it waits), by when a
        # part waiting is due again, and by whether the SMSC may have it already.
        rejected: dict[tuple[MessageState, str | None], list[int]] = defaultdict(list)
        retry: dict[tuple[str | None, datetime, bool], list[int]] = defaultdict(list)
        for result in results:
            if result.outcome is SubmitOutcome.REJECTED:
                # Refused once its validity ran out (claimed past it after an earlier claim
                # lapsed, or in it and submitted past it): whatever for, it was not delivered
                # in its time.
                expired = parts[result.message_id].expires_at <= now
                ending = MessageState.EXPIRED if expired else MessageState.NOT_DELIVERED
                rejected[ending, result.error].append(result.message_id)
            elif result.outcome is SubmitOutcome.RETRY:
                due_at = now + self.settings.retry_delay
                retry[result.error, due_at, result.maybe_taken].append(result.message_id)
            elif result.outcome is SubmitOutcome.DEFERRED:
                due_at = now + self._deferred_delay(parts[result.message_id].attempts)
                retry[result.error, due_at, result.maybe_taken].append(result.message_id)

        def work(connection: Connection) -> Counter[MessageState]:
            held = claim.until
            ended = record_accepted(
                connection, connector, accepted, now, with_callback, claimed_until=held
            )
            for (ending, error), part_ids in rejected.items():
                # A lapsed claim's result ends none of its parts.
                ended[ending] += finish_unsent(
                    connection, part_ids, ending, now, error, claimed_until=held
                )
            for (error, due_at, maybe_taken), part_ids in retry.items():
                record_retry(
                    connection,
                    part_ids,
                    due_at,
                    error,
                    claimed_until=held,
                    maybe_submitted=maybe_taken,
                )
            return ended

        for failures in itertools.count():
            try:
                ended = await self.database.write(work, Lane.OUTCOMES)
                break
            except Exception:
                # Nothing of it was written (or all of it: every update checks the state first).
                wait = doubled(RECORD_RETRY_SECONDS, failures, RECORD_RETRY_MAX_SECONDS)
                if time.monotonic() + wait >= claim.ends:
                    raise
                log.warning(
                    "recording %d submit results failed; trying again", len(results), exc_info=True
                )
                await asyncio.sleep(wait)
        PARTS_SUBMITTED.inc(len(accepted))
        count_ended(ended)  # the parts refused, and those receipts that came first ended

    def _deferred_delay(self, attempts: int) -> timedelta:
        """The retry delay doubled per attempt before this one, up to ``DEFERRED_MAX_DELAY``."""
        base, cap = self.settings.retry_delay, DEFERRED_MAX_DELAY
        return timedelta(seconds=doubled(base.total_seconds(), attempts - 1, cap.total_seconds()))

    async def _expire(self) -> None:
        PARTS_EXPIRED.inc(await self.database.write(self._sweep))

    async def _settle_early(self) -> None:
        ended, forgotten = await self.database.write(self._settle_early_receipts, Lane.OUTCOMES)
        count_ended(ended)
        if ended:
            log.warning("applied %d receipts their part's result missed", ended.total())
        if forgotten:
            log.warning("forgot %d receipts that matched no sent part", forgotten)

    def _sweep(self, connection: Connection) -> int:
        """Expire what ran out of validity; the number of parts expired."""
        now = datetime.now(UTC)
        release_lapsed_leases(connection, now)
        overdue = expired_waiting(connection, now, 10_000)
        unsent = finish_unsent(
            connection,
            overdue,
            MessageState.EXPIRED,
            now,
            "validity ran out unsent",
            claimed_until=None,
        )
        return unsent + expire_sent(connection, now)

    def _settle_early_receipts(self, connection: Connection) -> tuple[Counter[MessageState], int]:
        ended = apply_waiting_receipts(connection)
        return ended, forget_early_receipts(connection, datetime.now(UTC) - EARLY_RECEIPTS_KEPT)
