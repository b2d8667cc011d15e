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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson

from smsgate.delivery.connector import (
    ConnectorEvents,
    DeliveryReport,
    IncomingPart,
    IncomingSms,
    OutboundPart,
    ReportStatus,
    SubmitOutcome,
    SubmitResult,
)
from smsgate.delivery.smpp.text import encode_text
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


@dataclass(frozen=True, slots=True)
class Recovered:
    """What the journal of an earlier run holds."""

    owed: list[tuple[str, ReportStatus]]  # (smsc id, report) not yet delivered
    accepted: dict[int, str]  # part id -> smsc id, for every part that run took


SILENT = "silent"  # a part that never gets a report


class ReportJournal:
    """Append-only record: ``+ part_id smsc_id report`` when a part is taken, ``- smsc_id`` once
    its report is delivered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = None

    def recover(self) -> Recovered:
        """What an earlier run left; rewrites the journal to the reports still owed."""
        taken: dict[str, tuple[int, str]] = {}
        reported: set[str] = set()
        if self.path.exists():
            with self.path.open(encoding="ascii") as journal:
                for line in journal:
                    fields = line.split()
                    if len(fields) == 4 and fields[0] == "+":
                        taken[fields[2]] = (int(fields[1]), fields[3])
                    elif len(fields) == 2 and fields[0] == "-":
                        reported.add(fields[1])
        owed = {
            smsc_id: (part_id, report)
            for smsc_id, (part_id, report) in taken.items()
            if smsc_id not in reported and report != SILENT
        }
        compacted = self.path.with_suffix(".tmp")
        compacted.write_text(
            "".join(
                f"+ {part_id} {smsc_id} {report}\n" for smsc_id, (part_id, report) in owed.items()
            ),
            "ascii",
        )
        compacted.replace(self.path)
        self._file = self.path.open("a", encoding="ascii")
        return Recovered(
            owed=[(smsc_id, ReportStatus(report)) for smsc_id, (_, report) in owed.items()],
            accepted={part_id: smsc_id for smsc_id, (part_id, _) in taken.items()},
        )

    def taken(self, entries: Sequence[tuple[int, str, ReportStatus | None]]) -> None:
        self._write(
            "".join(
                f"+ {part_id} {smsc_id} {status.value if status else SILENT}\n"
                for part_id, smsc_id, status in entries
            )
        )

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
        self._taken_before: dict[int, str] = {}
        self.submitted = 0

    @property
    def is_up(self) -> bool:
        return self._reporter is not None and not self._reporter.done()

    async def start(self, events: ConnectorEvents) -> None:
        self._events = events
        now = time.monotonic()
        recovered = self.journal.recover()
        self._taken_before = recovered.accepted
        self._owed.extend((now, smsc_id, status) for smsc_id, status in recovered.owed)
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
        taken: list[tuple[int, str, ReportStatus | None]] = []
        for part in parts:
            smsc_id = self._taken_before.get(part.message_id)
            if smsc_id is None:
                smsc_id = f"{self._run_prefix}{next(self._ids):08x}"
                taken.append((part.message_id, smsc_id, simulated_status(part.destination)))
            results.append(SubmitResult(part.message_id, SubmitOutcome.ACCEPTED, smsc_id))
        self.journal.taken(taken)
        self._owed.extend((due, smsc_id, status) for _, smsc_id, status in taken if status)
        self._has_reports.set()
        self.submitted += len(taken)
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
# Files are read this many at a time, and up to INBOX_IN_FLIGHT are being delivered at once
# (the next batch is read while the last one commits), like an SMSC's window of unacknowledged
# deliver_sm. A small window keeps each group commit short, so pushes run between them.
INBOX_BATCH = 100
INBOX_IN_FLIGHT = 200


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


def _scan_inbox(inbox: Path) -> list[str]:
    """The names of the message files, oldest first."""
    if not inbox.is_dir():
        return []
    return sorted(entry.name for entry in os.scandir(inbox) if entry.name.endswith(".json"))


def _read_inbox(inbox: Path, names: Sequence[str]) -> list[tuple[str, bytes]]:
    read = []
    for name in names:
        try:
            with open(os.path.join(inbox, name), "rb") as file:
                read.append((name, file.read()))
        except FileNotFoundError:  # taken away since the folder was listed
            continue
    return read


def _settle_inbox(inbox: Path, delivered: Sequence[str], rejected: Sequence[str]) -> None:
    for name in delivered:
        os.unlink(os.path.join(inbox, name))
    for name in rejected:
        os.replace(os.path.join(inbox, name), os.path.join(inbox, name + ".rejected"))


class IncomingInbox:
    """Incoming messages the simulated SMSC delivers: JSON files in a spool folder.

    A file (see ``spool_incoming``) is picked up within ``INBOX_POLL_SECONDS`` and deleted only
    once the events returned, i.e. the message is committed. A text longer than one part comes
    as concatenated parts, encoded as on the air and out of order, through
    ``events.incoming_part``: joined by the same code as every multi-part ``deliver_sm``.
    A file that is not a message is renamed ``*.rejected``.
    """

    def __init__(self, folder: Path, connector: str) -> None:
        self.folder = folder
        self.connector = connector
        # 16-bit concatenation references, from a different point in each run: parts kept
        # from a run that stopped must not be joined with a new message.
        self._references = itertools.count(int.from_bytes(os.urandom(2), "big"))

    async def run(self, events: ConnectorEvents) -> None:
        # The folder is listed only once what the last listing found is taken: listing a
        # large backlog for every batch would cost more than delivering it.
        backlog: deque[str] = deque()
        in_flight: set[str] = set()
        room = asyncio.Event()
        async with asyncio.TaskGroup() as deliveries:
            while True:
                room.clear()
                if not backlog:
                    listed = await asyncio.to_thread(_scan_inbox, self.folder)
                    backlog.extend(name for name in listed if name not in in_flight)
                count = min(len(backlog), INBOX_BATCH, INBOX_IN_FLIGHT - len(in_flight))
                names = [backlog.popleft() for _ in range(count)]
                spooled = await asyncio.to_thread(_read_inbox, self.folder, names)
                if spooled:
                    in_flight.update(name for name, _ in spooled)
                    deliveries.create_task(self._deliver(events, spooled, in_flight, room))
                if len(in_flight) >= INBOX_IN_FLIGHT:
                    await room.wait()
                elif not backlog:
                    await asyncio.sleep(INBOX_POLL_SECONDS)

    async def _deliver(
        self,
        events: ConnectorEvents,
        spooled: Sequence[tuple[str, bytes]],
        in_flight: set[str],
        room: asyncio.Event,
    ) -> None:
        """Hand over the messages of one batch; delete the files of those taken."""
        received: list[tuple[str, IncomingSms | list[IncomingPart]]] = []
        rejected: list[str] = []
        now = datetime.now(UTC)
        for name, raw in spooled:
            try:
                received.append((name, self._receive(raw, now)))
            except (ValueError, ApiError) as error:
                log.warning("rejected incoming message file %s: %s", name, error)
                rejected.append(name)
        outcomes = await asyncio.gather(
            *(_hand_over(events, message) for _, message in received), return_exceptions=True
        )
        delivered = [
            name for (name, _), outcome in zip(received, outcomes, strict=True) if outcome is None
        ]
        try:
            await asyncio.to_thread(_settle_inbox, self.folder, delivered, rejected)
        except OSError:
            log.exception("settling incoming message files failed")
        failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failed:
            log.error("%d incoming messages not taken; will retry", len(failed), exc_info=failed[0])
            await asyncio.sleep(INBOX_POLL_SECONDS)
        in_flight.difference_update(name for name, _ in spooled)
        room.set()

    def _receive(self, raw: bytes, now: datetime) -> IncomingSms | list[IncomingPart]:
        source, destination, text = _parse_spooled(raw)
        segmentation = segment_text(text)
        total = len(segmentation.parts)
        if total == 1:
            return IncomingSms(self.connector, source, destination, text, now)
        reference = next(self._references) % 0x10000
        parts = []
        for seqnum, part in enumerate(segmentation.parts, start=1):
            data_coding, body = encode_text(part, segmentation.encoding)
            parts.append(
                IncomingPart(
                    connector=self.connector,
                    source=source,
                    destination=destination,
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
