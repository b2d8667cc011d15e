"""The built-in simulated SMSC, behind the same interface a real SMSC connector has.

It accepts every part and reports it ``delay`` seconds later: Delivered, except that a
destination ending in ``0000`` is NotDelivered and one ending in ``9999`` never gets a report
(so it expires). Like a real SMSC it keeps the reports it owes: each accepted part is written
to a journal before the submit is acknowledged, so reports still arrive after our process
restarts. It also delivers incoming messages dropped into its inbox folder (``IncomingInbox``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson

from smsgate.delivery.connector import (
    ConnectorEvents,
    DeliveryReport,
    IncomingSms,
    OutboundPart,
    ReportStatus,
    SubmitOutcome,
    SubmitResult,
)
from smsgate.delivery.smpp.udh import Concat, Reassembler
from smsgate.domain.errors import ApiError
from smsgate.domain.segments import segment_text

log = logging.getLogger(__name__)

REPORT_BATCH = 1000
# Reports are gathered this long between batches, as an SMSC's own delivery loop would.
REPORT_PAUSE = 0.02
RETRY_SECONDS = 1.0


def simulated_status(destination: str) -> ReportStatus | None:
    """The report the simulator gives a destination; None means it never reports."""
    if destination.endswith("9999"):
        return None
    if destination.endswith("0000"):
        return ReportStatus.NOT_DELIVERED
    return ReportStatus.DELIVERED


class ReportJournal:
    """Append-only record of owed reports: ``+ id status`` when owed, ``- id`` once reported."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = None

    def recover(self) -> list[tuple[str, ReportStatus]]:
        """Reports still owed from an earlier run; rewrites the journal to just those."""
        owed: dict[str, ReportStatus] = {}
        if self.path.exists():
            with self.path.open(encoding="ascii") as journal:
                for line in journal:
                    fields = line.split()
                    if len(fields) == 3 and fields[0] == "+":
                        owed[fields[1]] = ReportStatus(fields[2])
                    elif len(fields) == 2 and fields[0] == "-":
                        owed.pop(fields[1], None)
        compacted = self.path.with_suffix(".tmp")
        compacted.write_text("".join(f"+ {i} {s.value}\n" for i, s in owed.items()), "ascii")
        compacted.replace(self.path)
        self._file = self.path.open("a", encoding="ascii")
        return list(owed.items())

    def owed(self, entries: Sequence[tuple[str, ReportStatus]]) -> None:
        self._write("".join(f"+ {smsc_id} {status.value}\n" for smsc_id, status in entries))

    def reported(self, smsc_ids: Sequence[str]) -> None:
        self._write("".join(f"- {smsc_id}\n" for smsc_id in smsc_ids))

    def _write(self, text: str) -> None:
        assert self._file is not None, "recover() opens the journal"
        self._file.write(text)
        # Flushed to the kernel, the line survives a crash of this process.
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class SimulatedSmsc:
    """A connector whose SMSC lives in-process."""

    def __init__(
        self,
        journal: ReportJournal,
        *,
        delay: float = 1.0,
        name: str = "simulator",
        inbox: Path | None = None,
    ) -> None:
        self.name = name
        self.delay = delay
        self.journal = journal
        self._inbox = IncomingInbox(inbox, name) if inbox is not None else None
        self._receiver: asyncio.Task[None] | None = None
        self._events: ConnectorEvents | None = None
        self._owed: deque[tuple[float, str, ReportStatus]] = deque()
        self._has_reports = asyncio.Event()
        self._ids = itertools.count(1)
        self._run_prefix = f"{int(time.time() * 1000):x}"
        self._reporter: asyncio.Task[None] | None = None
        self.submitted = 0

    @property
    def is_up(self) -> bool:
        return self._reporter is not None and not self._reporter.done()

    async def start(self, events: ConnectorEvents) -> None:
        self._events = events
        now = time.monotonic()
        for smsc_id, status in self.journal.recover():
            self._owed.append((now, smsc_id, status))
        self._has_reports.set()
        self._reporter = asyncio.create_task(self._report_loop())
        if self._inbox is not None:
            self._receiver = asyncio.create_task(self._inbox.run(events))

    async def stop(self) -> None:
        for task in (self._reporter, self._receiver):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self.journal.close()

    async def submit(self, parts: Sequence[OutboundPart]) -> list[SubmitResult]:
        due = time.monotonic() + self.delay
        results = []
        owed = []
        for part in parts:
            smsc_id = f"{self._run_prefix}{next(self._ids):08x}"
            status = simulated_status(part.destination)
            if status is not None:
                owed.append((smsc_id, status))
            results.append(SubmitResult(part.message_id, SubmitOutcome.ACCEPTED, smsc_id))
        self.journal.owed(owed)
        self._owed.extend((due, smsc_id, status) for smsc_id, status in owed)
        self._has_reports.set()
        self.submitted += len(parts)
        return results

    async def _report_loop(self) -> None:
        assert self._events is not None
        while True:
            if not self._owed:
                self._has_reports.clear()
                await self._has_reports.wait()
                continue
            wait = self._owed[0][0] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            now = datetime.now(UTC)
            due: list[tuple[float, str, ReportStatus]] = []
            while self._owed and len(due) < REPORT_BATCH and self._owed[0][0] <= time.monotonic():
                due.append(self._owed.popleft())
            try:
                await self._events.delivery_reports(
                    [DeliveryReport(self.name, smsc_id, status, now) for _, smsc_id, status in due]
                )
            except Exception:
                log.exception("delivering %d reports failed; will retry", len(due))
                self._owed.extendleft(reversed(due))
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.journal.reported([smsc_id for _, smsc_id, _ in due])
            if len(due) < REPORT_BATCH:
                await asyncio.sleep(REPORT_PAUSE)


INBOX_POLL_SECONDS = 0.2
INBOX_BATCH = 2000
# Parts of one message all arrive at once here; a bound is only needed by the interface.
REASSEMBLY_TIMEOUT = 60.0


def simulator_inbox(data_dir: Path) -> Path:
    """The inbox folder of the simulated SMSC of a server with this data folder."""
    return data_dir / "simulator" / "inbox"


def spool_incoming(inbox: Path, source: str, destination: str, text: str) -> Path:
    """Drop a message for the simulated SMSC to deliver as incoming; returns its file.

    The file appears whole (written aside, then renamed); names sort in the order written.
    """
    inbox.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
    written = inbox / f".{name}.tmp"
    written.write_bytes(orjson.dumps({"source": source, "destination": destination, "text": text}))
    return written.replace(inbox / f"{name}.json")


def _parse_spooled(raw: bytes) -> tuple[str, str, str]:
    fields = orjson.loads(raw)
    if not isinstance(fields, dict):
        raise ValueError("expected a JSON object")
    source, destination, text = (fields.get(key) for key in ("source", "destination", "text"))
    if not (isinstance(source, str) and isinstance(destination, str) and isinstance(text, str)):
        raise ValueError("expected the strings source, destination and text")
    return source, destination, text


def _read_inbox(inbox: Path, limit: int) -> list[tuple[Path, bytes]]:
    if not inbox.is_dir():
        return []
    names = sorted(entry.name for entry in os.scandir(inbox) if entry.name.endswith(".json"))
    return [(inbox / name, (inbox / name).read_bytes()) for name in names[:limit]]


def _settle_inbox(delivered: Sequence[Path], rejected: Sequence[Path]) -> None:
    for path in delivered:
        path.unlink(missing_ok=True)
    for path in rejected:
        path.replace(path.with_suffix(".rejected"))


class IncomingInbox:
    """Incoming messages the simulated SMSC delivers: JSON files in a spool folder.

    A file (see ``spool_incoming``) is picked up within ``INBOX_POLL_SECONDS`` and deleted only
    once ``events.incoming`` returned, i.e. the message is committed. A text longer than one
    part travels as concatenated parts, out of order, and is joined again the way every
    multi-part ``deliver_sm`` is. A file that is not a message is renamed ``*.rejected``.
    """

    def __init__(self, folder: Path, connector: str) -> None:
        self.folder = folder
        self.connector = connector
        self._reassembler: Reassembler[str] = Reassembler(
            timeout=REASSEMBLY_TIMEOUT, clock=time.monotonic
        )
        self._references = itertools.count()

    async def run(self, events: ConnectorEvents) -> None:
        while True:
            spooled = await asyncio.to_thread(_read_inbox, self.folder, INBOX_BATCH)
            received: list[tuple[Path, IncomingSms]] = []
            rejected: list[Path] = []
            now = datetime.now(UTC)
            for path, raw in spooled:
                try:
                    received.append((path, self._receive(raw, now)))
                except (ValueError, ApiError) as error:
                    log.warning("rejected incoming message file %s: %s", path.name, error)
                    rejected.append(path)
            outcomes = await asyncio.gather(
                *(events.incoming(message) for _, message in received), return_exceptions=True
            )
            failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
            if failed:
                log.error(
                    "%d incoming messages not taken; will retry", len(failed), exc_info=failed[0]
                )
            delivered = [
                path
                for (path, _), outcome in zip(received, outcomes, strict=True)
                if outcome is None
            ]
            await asyncio.to_thread(_settle_inbox, delivered, rejected)
            if len(spooled) < INBOX_BATCH or failed:
                await asyncio.sleep(INBOX_POLL_SECONDS)

    def _receive(self, raw: bytes, now: datetime) -> IncomingSms:
        source, destination, text = _parse_spooled(raw)
        text = self._over_the_air(source, destination, text)
        return IncomingSms(self.connector, source, destination, text, now)

    def _over_the_air(self, source: str, destination: str, text: str) -> str:
        """The text as it arrives: split into parts, and joined by the reassembler."""
        parts = segment_text(text).parts
        reference = next(self._references) % 256
        joined: list[str] = []
        for seqnum in range(len(parts), 0, -1):
            concat = Concat(reference, len(parts), seqnum)
            for message in self._reassembler.add(source, destination, concat, parts[seqnum - 1]):
                joined.extend(part or "" for part in message.parts)
        return "".join(joined)
