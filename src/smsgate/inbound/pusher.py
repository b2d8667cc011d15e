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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection

from smsgate.domain.dates import to_api_date
from smsgate.services.incoming import incoming_fields
from smsgate.store.database import Database
from smsgate.store.incoming import IncomingRow
from smsgate.store.push import PushJob, claim_jobs, finish_jobs, release_push_leases

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Smsgate-Signature"
EVENT_HEADER = "X-Smsgate-Event"
# Beyond 2**62 times the base any delay is the cap anyway; keeps the float in range.
_MAX_DOUBLINGS = 62


@dataclass(frozen=True, slots=True)
class PushSettings:
    concurrency: int = 64
    per_account: int = 4
    retry_base: float = 1.0
    retry_cap: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    # The whole attempt, so a receiver that trickles its answer cannot hold a slot for long.
    attempt_timeout: float = 30.0
    # Longer than an attempt can take, so a job is never pushed twice at once.
    lease: timedelta = timedelta(seconds=60)
    idle_poll: float = 0.25
    # Only one pusher may use a database when leases are released at start (SQLite).
    release_leases_at_start: bool = False


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th failure: base, 2 base, 4 base, ... up to cap."""
    return min(cap, base * (1 << min(max(attempts - 1, 0), _MAX_DOUBLINGS)))


def next_attempt(job: PushJob, now: datetime, settings: PushSettings) -> datetime | None:
    """When to try a failed job again; None once it has been failing long enough to give up."""
    if now - job.created_at >= settings.give_up_after:
        return None
    delay = retry_delay(job.attempts, settings.retry_base, settings.retry_cap)
    return now + timedelta(seconds=delay)


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_api_date(value)
    if isinstance(value, Decimal):
        return float(value)  # four decimal places at most: the float prints them exactly
    raise TypeError(f"cannot render {type(value).__name__}")


def push_body(job: PushJob) -> bytes:
    """The JSON a job POSTs: an incoming message as the Incoming endpoint shows it, or a
    part's state change as the State endpoint shows it."""
    subject = job.subject
    if isinstance(subject, IncomingRow):
        fields = incoming_fields(subject)
    else:
        fields = {
            "ID": str(subject.part_id),
            "State": subject.state.api_code,
            "StateDescription": subject.state.api_description,
            "ReportedDateUtc": subject.reported_at,
            "Price": subject.price,
        }
    return orjson.dumps(fields, default=_json_value, option=orjson.OPT_PASSTHROUGH_DATETIME)


def push_headers(job: PushJob, body: bytes) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: "incoming" if isinstance(job.subject, IncomingRow) else "status",
    }
    if job.secret:
        headers[SIGNATURE_HEADER] = signature(job.secret, body)
    return headers


class Pusher:
    """Claims due jobs, POSTs them concurrently, and records the outcomes.

    Outcomes are recorded in the same transaction as the next claim, so the queue costs one
    commit per round however many jobs a round finishes.
    """

    def __init__(self, database: Database, settings: PushSettings | None = None) -> None:
        self.database = database
        self.settings = settings or PushSettings()
        self._wakeup = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], PushJob] = {}
        self._outcomes: list[tuple[PushJob, str | None]] = []

    def wake(self) -> None:
        """A job was queued: claim now instead of at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        settings = self.settings
        if settings.release_leases_at_start:
            now = datetime.now(UTC)
            released = await self.database.write(lambda c: release_push_leases(c, now))
            if released:
                log.info("picked up %d pushes left in flight", released)
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
            ),
            headers={"User-Agent": "smsgate"},
        )
        try:
            while True:
                self._wakeup.clear()
                try:
                    jobs = await self.database.write(self._exchange(self._take_outcomes()))
                except Exception:
                    log.exception("recording and claiming pushes failed")
                    jobs = []
                for job in jobs:
                    task = asyncio.create_task(self._attempt(client, job))
                    self._in_flight[task] = job
                    task.add_done_callback(self._in_flight.pop)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), settings.idle_poll)
        finally:
            await self._stop(client)

    def _take_outcomes(self) -> list[tuple[PushJob, str | None]]:
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def _exchange(
        self, outcomes: list[tuple[PushJob, str | None]]
    ) -> Callable[[Connection], list[PushJob]]:
        """The round's transaction: record the finished jobs, claim as many as slots are free."""
        settings = self.settings
        free = settings.concurrency - len(self._in_flight)
        busy: dict[int, int] = {}
        for job in self._in_flight.values():
            busy[job.account_id] = busy.get(job.account_id, 0) + 1

        def work(connection: Connection) -> list[PushJob]:
            now = datetime.now(UTC)
            self._record(connection, outcomes, now)
            if free <= 0:
                return []
            return claim_jobs(
                connection, now, now + settings.lease, free, settings.per_account, busy
            )

        return work

    def _record(
        self, connection: Connection, outcomes: list[tuple[PushJob, str | None]], now: datetime
    ) -> None:
        delivered = [job.id for job, error in outcomes if error is None]
        failed = []
        for job, error in outcomes:
            if error is None:
                continue
            retry_at = next_attempt(job, now, self.settings)
            if retry_at is None:
                log.warning(
                    "gave up push %d to %s after %d attempts", job.id, job.url, job.attempts
                )
            failed.append((job.id, retry_at, error))
        finish_jobs(connection, delivered, failed)

    async def _attempt(self, client: httpx.AsyncClient, job: PushJob) -> None:
        body = push_body(job)
        error: str | None
        try:
            async with (
                asyncio.timeout(self.settings.attempt_timeout),
                client.stream(
                    "POST", job.url, content=body, headers=push_headers(job, body)
                ) as response,
            ):
                async for _ in response.aiter_raw():  # read to the end to reuse the connection
                    pass
            error = None if response.is_success else f"HTTP {response.status_code}"
        except Exception as failure:  # every way a receiver can fail is a reason to retry
            error = f"{type(failure).__name__}: {failure}"
        if error is not None:
            log.info("push %d to %s failed (attempt %d): %s", job.id, job.url, job.attempts, error)
        self._outcomes.append((job, error))
        self._wakeup.set()

    async def _stop(self, client: httpx.AsyncClient) -> None:
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()
        outcomes = self._take_outcomes()
        if outcomes:
            # Best effort: what is not recorded is pushed again after the restart.
            with contextlib.suppress(Exception):
                await self.database.write(lambda c: self._record(c, outcomes, datetime.now(UTC)))
