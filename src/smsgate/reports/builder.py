"""The report builder: claims ordered reports, has each written by a process of its own, and
deletes files past their retention.

A claim is a lease in the database, renewed while the build runs, so the report of a builder
that died is claimed again once its lease lapses; ``release_leases_at_start`` (SQLite, where
this is the only builder) takes them back at once. Each claim counts an attempt, which fences
it: a builder whose claim was taken over can no longer finish or fail the report, and a
report whose builds keep dying fails after ``max_attempts``. A report is never left building.

Files: ``<reports>/<id>.<csv|xlsx>`` once ready; a build writes into
``<reports>/building/<id>.<attempt>/`` (its temporary files included), removed afterwards.
The sweeper expires reports past the retention at once (their downloads answer "File not
exist" from then on) and deletes their files a grace period later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Connection

from smsgate.periodic import every
from smsgate.reports.build import out_of_room, report_path, run_job
from smsgate.services.reports import ReportOrder
from smsgate.store import reports as store
from smsgate.store.database import Database
from smsgate.store.leases import LeaseCheck
from smsgate.store.reports import ClaimedReport
from smsgate.wakeup import Wakeup

log = logging.getLogger(__name__)

BUILDING_DIR = "building"
_PROCESSES = multiprocessing.get_context("forkserver")
_SWEEP_BATCH = 500


@dataclass(frozen=True, slots=True)
class BuilderSettings:
    reports_dir: Path
    retention: timedelta
    builders: int = 2
    start_delay: float = 0.0
    sweep_interval: float = 60.0
    # An expired report's file stays this long: a download that found the report ready a
    # moment before it expired still opens the file.
    download_grace: timedelta = timedelta(seconds=60)
    lease: timedelta = timedelta(seconds=60)
    idle_poll: float = 1.0
    max_attempts: int = 3
    # Only one builder may use a database when leases are released at start (SQLite).
    release_leases_at_start: bool = False
    # Whether this builder may claim (it holds the lease of the delivery); None: any number of
    # builders share the reports.
    may_claim: LeaseCheck | None = None


class BuildFailed(Exception):
    """The build process failed; the message says why."""


class LeaseUnknown(Exception):
    """Renewing the build's lease failed in the database: whether it is still held is unknown."""


class NoRoom(Exception):
    """The reports folder could not take the file (full, read-only): a later build may."""


class ReportBuilder:
    """Builds ordered reports in the background and sweeps old files."""

    def __init__(self, database: Database, settings: BuilderSettings) -> None:
        self.database = database
        self.settings = settings
        self._building = settings.reports_dir / BUILDING_DIR
        self._wakeup = Wakeup()

    def wake(self) -> None:
        """A report was ordered: claim now instead of at the next poll."""
        self._wakeup.wake()

    async def run(self) -> None:
        # Build processes fork from a server process that has the build code loaded already.
        _PROCESSES.set_forkserver_preload(["smsgate.reports.build"])
        if self.settings.release_leases_at_start:
            # What is there was left by builds that died with their process.
            await asyncio.to_thread(shutil.rmtree, self._building, ignore_errors=True)
            released = await self.database.write(store.release_all_leases)
            if released:
                log.info("building %d reports left unfinished", released)
        await asyncio.to_thread(self._building.mkdir, parents=True, exist_ok=True)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._claim_loop())
            tasks.create_task(
                every(
                    self.settings.sweep_interval,
                    self.sweep,
                    log=log,
                    failure="sweeping report files failed",
                )
            )

    async def _claim_loop(self) -> None:
        slots = asyncio.Semaphore(self.settings.builders)
        async with asyncio.TaskGroup() as builds:
            while True:
                await slots.acquire()
                try:
                    claimed = await self.database.write(self._claim)
                except Exception:
                    log.exception("claiming a report failed")
                    claimed = None
                if claimed is None:
                    slots.release()
                    await self._wakeup.sleep(self.settings.idle_poll)
                    continue
                task = builds.create_task(self._build(claimed))
                task.add_done_callback(lambda _: slots.release())

    def _claim(self, connection: Connection) -> ClaimedReport | None:
        now = datetime.now(UTC)
        may_claim = self.settings.may_claim
        if may_claim is not None and not may_claim(connection, now):
            return None
        given_up = store.give_up_reports(connection, now, self.settings.max_attempts)
        if given_up:
            log.error("%d reports failed: every build of theirs died", given_up)
        return store.claim_report(
            connection, now, now + self.settings.lease, self.settings.max_attempts
        )

    async def _build(self, claimed: ClaimedReport) -> None:
        """Build one claimed report and record the outcome; never raises but to cancel."""
        workdir = self._building / f"{claimed.id}.{claimed.attempt}"
        try:
            order = ReportOrder.from_json(claimed.params)
            await asyncio.sleep(self.settings.start_delay)
            await asyncio.to_thread(self._prepare, claimed.id, workdir)
            rows = await self._run_build_process(claimed, order, workdir)
            # The attempt's own name: a builder taken over meanwhile never replaces the file
            # of the one that took over.
            name = f"{claimed.id}.{claimed.attempt}.{order.format.value}"
            path = self.settings.reports_dir / name
            os.replace(report_path(workdir, order), path)
            now = datetime.now(UTC)
            try:
                finished = await self.database.write(
                    lambda c: store.finish_report(c, claimed.id, claimed.attempt, name, rows, now)
                )
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            if not finished:
                path.unlink(missing_ok=True)
                raise BuildFailed("another builder took the report over")
            log.info("report %d built: %d rows", claimed.id, rows)
        except LeaseUnknown:
            # The database failed, not the build: the report is built again by whichever
            # builder claims it once the lease lapses (the attempt counts, so a database that
            # keeps failing still ends in a failed report after max_attempts).
            log.exception("report %d: its lease could not be renewed", claimed.id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # the lease lapses otherwise
                await self.database.write(
                    lambda c: store.release_report(c, claimed.id, claimed.attempt)
                )
            raise
        except Exception as error:
            if isinstance(error, NoRoom) or out_of_room(error):
                # Nor is a folder out of room: built again once the lease lapses, the space
                # freed meanwhile (the attempt counts, as above).
                log.error("report %d: the reports folder cannot take it now: %s", claimed.id, error)
            else:
                await self._fail(claimed, workdir, error)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)

    async def _fail(self, claimed: ClaimedReport, workdir: Path, error: Exception) -> None:
        log.error("report %d failed", claimed.id, exc_info=error)
        # Before the failure is recorded: once a report reads failed, nothing of it is left.
        await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
        reason = str(error) or type(error).__name__
        now = datetime.now(UTC)
        with contextlib.suppress(Exception):
            await self.database.write(
                lambda c: store.fail_report(c, claimed.id, claimed.attempt, reason, now)
            )

    def _prepare(self, report_id: int, workdir: Path) -> None:
        """A fresh folder for this attempt; earlier attempts' folders go."""
        for stale in self._building.glob(f"{report_id}.*"):
            shutil.rmtree(stale, ignore_errors=True)
        workdir.mkdir(parents=True)

    async def _run_build_process(
        self, claimed: ClaimedReport, order: ReportOrder, workdir: Path
    ) -> int:
        receiving, sending = _PROCESSES.Pipe(duplex=False)
        process = _PROCESSES.Process(
            target=run_job,
            args=(self.database.url, claimed.account_id, order, workdir, sending),
            kwargs={"transaction_pooling": self.database.transaction_pooling},
            name=f"smsgate-report-{claimed.id}",
            daemon=True,  # ended with the server, whatever happens
        )
        # The first start launches the fork server: not on the event loop.
        await asyncio.to_thread(process.start)
        sending.close()
        renew_every = self.settings.lease.total_seconds() / 3
        try:
            ended = asyncio.ensure_future(asyncio.to_thread(process.join))
            while not (await asyncio.wait({ended}, timeout=renew_every))[0]:
                try:
                    renewed = await self.database.write(
                        partial(
                            store.renew_lease,
                            report_id=claimed.id,
                            attempt=claimed.attempt,
                            lease_until=datetime.now(UTC) + self.settings.lease,
                        )
                    )
                except Exception as error:
                    raise LeaseUnknown(str(error)) from error
                if not renewed:
                    raise BuildFailed("another builder took the report over")
        finally:
            if process.exitcode is None:
                process.kill()
                await asyncio.to_thread(process.join)
        exit_code = process.exitcode
        process.close()
        outcome = None
        with receiving, contextlib.suppress(EOFError):  # EOF: it died before a word
            outcome = receiving.recv() if receiving.poll() else None
        if outcome is None:
            raise BuildFailed(f"the build process died (exit code {exit_code})")
        status, value = outcome
        if status == "no room":
            raise NoRoom(value)
        if status != "built":
            raise BuildFailed(value)
        return int(value)

    async def sweep(self) -> int:
        """Expire the reports finished longer than the retention ago, and delete the files of
        those expired longer than the download grace ago; the number deleted."""
        now = datetime.now(UTC)
        await self.database.write(
            partial(store.expire_reports, finished_before=now - self.settings.retention, now=now)
        )
        deleted = 0
        while True:
            batch = await self.database.read(
                partial(
                    store.expired_files,
                    expired_by=now - self.settings.download_grace,
                    limit=_SWEEP_BATCH,
                )
            )
            if not batch:
                return deleted
            await asyncio.to_thread(self._unlink, [path for _, path in batch])
            report_ids = [report_id for report_id, _ in batch]
            await self.database.write(partial(store.mark_deleted, report_ids=report_ids))
            deleted += len(batch)

    def _unlink(self, file_paths: list[str]) -> None:
        for file_path in file_paths:
            (self.settings.reports_dir / file_path).unlink(missing_ok=True)
