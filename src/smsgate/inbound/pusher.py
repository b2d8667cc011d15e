"""The pusher: POSTs queued instant pushes and status callbacks until the receiver takes them.

At least once: a job leaves the queue only after a 2xx answer, and is otherwise tried again
with exponential backoff until it has been failing for ``give_up_after``. Receivers dedupe by
``ID`` (and, for status callbacks, by ``State``).

A slow or hanging receiver holds at most ``per_account`` of the ``concurrency`` slots, each
for at most ``attempt_timeout``: the other accounts' pushes and the dispatcher go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection

from smsgate.api_json import incoming_fields, render, state_fields
from smsgate.backoff import doubled
from smsgate.inbound.transport import LOOKUP_OWNER, PushTransport
from smsgate.store.database import Database
from smsgate.store.incoming import IncomingRow
from smsgate.store.leases import LeaseCheck
from smsgate.store.push import (
    PushJob,
    claim_jobs,
    finish_jobs,
    forget_given_up,
    release_push_leases,
)
from smsgate.wakeup import Wakeup

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Smsgate-Signature"
EVENT_HEADER = "X-Smsgate-Event"


@dataclass(frozen=True, slots=True)
class PushSettings:
    concurrency: int = 64
    per_account: int = 16
    retry_base: float = 1.0
    retry_cap: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)
    # How long a job given up is kept (for the operator to look into) before it is deleted.
    given_up_kept: timedelta = timedelta(days=7)
    forget_interval: float = 600.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    # The whole attempt, so a receiver that trickles its answer cannot hold a slot for long.
    attempt_timeout: float = 30.0
    # Longer than an attempt can take, so a job is never pushed twice at once.
    lease: timedelta = timedelta(seconds=60)
    idle_poll: float = 0.25
    round_pause: float = 0.005
    # Receivers on loopback, private or link-local addresses (see ``transport``).
    private_addresses: bool = False
    # Only one pusher may use a database when leases are released at start (SQLite).
    release_leases_at_start: bool = False
    # Whether this pusher may claim (it holds the lease of the delivery); None: any number of
    # pushers share the queue.
    may_claim: LeaseCheck | None = None


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th failure: base, 2 base, 4 base, ... up to cap."""
    return doubled(base, attempts - 1, cap)


def next_attempt(job: PushJob, now: datetime, settings: PushSettings) -> datetime | None:
    """When to try a failed job again; None once it has been failing long enough to give up.
    The last attempt is at the end of ``give_up_after``, not up to a whole wait past it."""
    give_up_at = job.created_at + settings.give_up_after
    if now >= give_up_at:
        return None
    delay = retry_delay(job.attempts, settings.retry_base, settings.retry_cap)
    return min(now + timedelta(seconds=delay), give_up_at)


def receiver_origin(url: str) -> str:
    """A receiver's URL as the logs show it: scheme, host and port. Its user, password, path
    and query are the client's, and may hold its secrets (``?token=...``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_body(job: PushJob) -> bytes:
    """The JSON a job POSTs: an incoming message as the Incoming endpoint shows it, or a
    part's state change as the State endpoint shows it."""
    subject = job.subject
    if isinstance(subject, IncomingRow):
        fields = incoming_fields(subject)
    else:
        fields = {
            "ID": str(subject.part_id),
            **state_fields(subject.state),
            "ReportedDateUtc": subject.reported_at,
            "Price": subject.price,
        }
    return render(fields)


def push_headers(job: PushJob, body: bytes) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "smsgate",
        EVENT_HEADER: "incoming" if isinstance(job.subject, IncomingRow) else "status",
    }
    if job.secret:
        headers[SIGNATURE_HEADER] = signature(job.secret, body)
    return headers


class Pusher:
    """POSTs jobs concurrently: those offered as they are queued, and those it claims.

    A job queued by this process (an incoming message) is offered at once, already leased to
    this pusher: it starts without waiting for a claim or, with its account's slots full,
    waits here for the account's next free slot. A waiting job whose lease would run out
    before an attempt could end is handed back to the queue instead, so that no other pusher
    claims a job this one may still push. Outcomes, handed-back jobs and the next claim share
    a round's transaction: the queue costs one commit per round however many jobs it finishes.
    """

    def __init__(self, database: Database, settings: PushSettings | None = None) -> None:
        self.database = database
        self.settings = settings or PushSettings()
        self._transport = PushTransport(private_addresses=self.settings.private_addresses)
        timeouts = httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout)
        self._extensions = {"timeout": timeouts.as_dict()}
        self._wakeup = Wakeup()
        self._in_flight: dict[asyncio.Task[None], PushJob] = {}
        self._busy: Counter[int] = Counter()  # jobs in flight by account
        # offered jobs waiting for a slot, by account, with the end of their lease
        self._waiting: dict[int, deque[tuple[PushJob, datetime]]] = {}
        self._outcomes: list[tuple[PushJob, str | None]] = []
        self._handed_back: list[int] = []

    def wake(self) -> None:
        """A job was queued: claim now instead of at the next poll."""
        self._wakeup.wake()

    def offer(self, job: PushJob, lease_until: datetime) -> None:
        """Push a job leased to this pusher until ``lease_until`` as soon as its account has
        a free slot."""
        self._waiting.setdefault(job.account_id, deque()).append((job, lease_until))
        self._start_waiting(job.account_id)

    async def run(self) -> None:
        settings = self.settings
        if settings.release_leases_at_start:
            now = datetime.now(UTC)
            released = await self.database.write(lambda c: release_push_leases(c, now))
            if released:
                log.info("picked up %d pushes left in flight", released)
        # A deadline, not a time since: the monotonic clock starts near 0 at boot, so the first
        # sweep of a machine just started would otherwise wait for a whole interval.
        forget_due = time.monotonic()
        try:
            while True:
                if time.monotonic() >= forget_due:
                    forget_due = time.monotonic() + settings.forget_interval
                    await self._forget_given_up()
                finished = self._take_finished()
                try:
                    jobs = await self.database.write(self._round(*finished))
                except Exception:
                    log.exception("recording and claiming pushes failed")
                    # Recorded with the next round: a 2xx dropped here was pushed again once
                    # its lease ran out, and a failure lost its backoff.
                    outcomes, handed_back = finished
                    self._outcomes[:0] = outcomes
                    self._handed_back[:0] = handed_back
                    jobs = []
                for job in jobs:
                    self._start(job)
                await self._wakeup.sleep(settings.idle_poll)
                if self._in_flight:
                    # Busy: let more pushes finish, so that one round records and replaces many.
                    await asyncio.sleep(settings.round_pause)
        finally:
            await self._stop()

    async def _forget_given_up(self) -> None:
        settings = self.settings
        before = datetime.now(UTC) - settings.give_up_after - settings.given_up_kept
        try:
            forgotten = await self.database.write(lambda c: forget_given_up(c, before))
        except Exception:
            log.exception("deleting pushes given up long ago failed")
            return
        if forgotten:
            log.info("deleted %d pushes given up over %s ago", forgotten, settings.given_up_kept)

    def _has_room(self, account_id: int) -> bool:
        return (
            len(self._in_flight) < self.settings.concurrency
            and self._busy[account_id] < self.settings.per_account
        )

    def _start(self, job: PushJob) -> None:
        task = asyncio.create_task(self._attempt(job))
        self._in_flight[task] = job
        self._busy[job.account_id] += 1
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        job = self._in_flight.pop(task)
        self._busy[job.account_id] -= 1
        if not self._busy[job.account_id]:
            del self._busy[job.account_id]
        self._start_waiting(job.account_id)
        for account_id in list(self._waiting):  # the slot may serve another account
            self._start_waiting(account_id)

    def _start_waiting(self, account_id: int) -> None:
        waiting = self._waiting.get(account_id)
        if waiting is None:
            return
        self._hand_back_lapsing(waiting)
        while waiting and self._has_room(account_id):
            self._start(waiting.popleft()[0])
        if not waiting:
            del self._waiting[account_id]

    def _hand_back_lapsing(self, waiting: deque[tuple[PushJob, datetime]]) -> None:
        """Hand back the waiting jobs whose lease would run out during an attempt."""
        horizon = datetime.now(UTC) + timedelta(seconds=self.settings.attempt_timeout)
        while waiting and waiting[0][1] < horizon:  # leases end in the order jobs came
            self._handed_back.append(waiting.popleft()[0].id)

    def _take_finished(self) -> tuple[list[tuple[PushJob, str | None]], list[int]]:
        """The outcomes and the handed-back jobs to record, taken from the pusher."""
        for account_id, waiting in list(self._waiting.items()):
            self._hand_back_lapsing(waiting)
            if not waiting:
                del self._waiting[account_id]
        outcomes, self._outcomes = self._outcomes, []
        handed_back, self._handed_back = self._handed_back, []
        return outcomes, handed_back

    def _round(
        self, outcomes: list[tuple[PushJob, str | None]], handed_back: list[int]
    ) -> Callable[[Connection], list[PushJob]]:
        """The round's transaction: record what finished, claim as many as slots are free."""
        settings = self.settings
        free = settings.concurrency - len(self._in_flight)
        busy = dict(self._busy)
        for account_id in self._waiting:  # its offered jobs come first
            busy[account_id] = settings.per_account

        def work(connection: Connection) -> list[PushJob]:
            now = datetime.now(UTC)
            self._record(connection, outcomes, handed_back, now)
            may_claim = settings.may_claim
            if free <= 0 or (may_claim is not None and not may_claim(connection, now)):
                return []
            return claim_jobs(
                connection, now, now + settings.lease, free, settings.per_account, busy
            )

        return work

    def _record(
        self,
        connection: Connection,
        outcomes: list[tuple[PushJob, str | None]],
        handed_back: list[int],
        now: datetime,
    ) -> None:
        delivered = [job.id for job, error in outcomes if error is None]
        failed = []
        for job, error in outcomes:
            if error is None:
                continue
            retry_at = next_attempt(job, now, self.settings)
            if retry_at is None:
                log.warning(
                    "gave up push %d to %s after %d attempts",
                    job.id,
                    receiver_origin(job.url),
                    job.attempts,
                )
            failed.append((job.id, retry_at, error))
        finish_jobs(connection, delivered, failed, handed_back, now)

    async def _attempt(self, job: PushJob) -> None:
        body = push_body(job)
        error: str | None
        try:
            async with asyncio.timeout(self.settings.attempt_timeout):
                # Straight to the transport: httpx.AsyncClient's own layers (cookies, redirects,
                # auth, merging) would double the CPU of a push, and pushes need none of them.
                request = httpx.Request(
                    "POST",
                    job.url,
                    content=body,
                    headers=push_headers(job, body),
                    extensions={**self._extensions, LOOKUP_OWNER: job.account_id},
                )
                response = await self._transport.handle_async_request(request)
            error = None if response.is_success else f"HTTP {response.status_code}"
        except Exception as failure:  # every way a receiver can fail is a reason to retry
            error = f"{type(failure).__name__}: {failure}"
        if error is not None:
            log.info(
                "push %d to %s failed (attempt %d): %s",
                job.id,
                receiver_origin(job.url),
                job.attempts,
                error,
            )
        self._outcomes.append((job, error))
        self._wakeup.wake()

    async def _stop(self) -> None:
        self._handed_back += [job.id for waiting in self._waiting.values() for job, _ in waiting]
        self._waiting.clear()  # before cancelling: a finished push starts a waiting one
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._transport.aclose()
        outcomes, handed_back = self._outcomes, self._handed_back
        if outcomes or handed_back:
            # Best effort: what is not recorded is pushed again after the restart.
            with contextlib.suppress(Exception):
                await self.database.write(
                    lambda c: self._record(c, outcomes, handed_back, datetime.now(UTC))
                )
