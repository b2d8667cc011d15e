"""The built-in simulated SMSC, behind the same interface a real SMSC connector has.

It accepts every part and reports it ``delay`` seconds later: Delivered, except that a
destination ending in ``0000`` is NotDelivered and one ending in ``9999`` never gets a report
(so it expires). Like a real SMSC it keeps the reports it owes: each accepted part is written
to a journal before the submit is acknowledged, so reports still arrive after our process
restarts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from smsgate.delivery.connector import (
    ConnectorEvents,
    DeliveryReport,
    OutboundPart,
    ReportStatus,
    SubmitOutcome,
    SubmitResult,
)

log = logging.getLogger(__name__)

REPORT_BATCH = 1000
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
        self, journal: ReportJournal, *, delay: float = 1.0, name: str = "simulator"
    ) -> None:
        self.name = name
        self.delay = delay
        self.journal = journal
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

    async def stop(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            await asyncio.gather(self._reporter, return_exceptions=True)
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
