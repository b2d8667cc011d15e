"""The builder in this process, with build processes that misbehave: one that dies, and one
whose report another builder takes over."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import psycopg
import psycopg.sql
import pytest
from sqlalchemy import make_url, select, update
from sqlalchemy.exc import OperationalError

from smsgate.reports import build as build_module
from smsgate.reports import builder as builder_module
from smsgate.reports.build import report_path, run_job
from smsgate.reports.builder import BuilderSettings, ReportBuilder
from smsgate.services.accounts import AccountAdmin
from smsgate.services.reports import ReportFormat, ReportOrder, order_report
from smsgate.store import reports as store
from smsgate.store.database import Database
from smsgate.store.leases import Lease, LeaseCheck, give_up_lease, take_lease
from smsgate.store.reports import ReportBuildStatus
from smsgate.store.schema import reports
from tests.databases import psycopg_url

DAY = datetime(2025, 3, 10, tzinfo=UTC)
ROWS_KEPT = 10_000_000


def die(*_: Any, **__: Any) -> None:
    """A build process that ends without a word, as one the OOM killer ends."""
    os._exit(3)


def dawdle(*_: Any, **__: Any) -> None:
    """A build process that takes its time."""
    time.sleep(30)


def into_a_full_folder(
    database_url: str, account_id: int, order: ReportOrder, workdir: Path, *rest: Any, **kw: Any
) -> None:
    """The real build, its file written to ``/dev/full``: ENOSPC, as on a full disk."""
    report_path(workdir, order).symlink_to("/dev/full")
    run_job(database_url, account_id, order, workdir, *rest, **kw)


Check = Callable[[int], Awaitable[bool]]


def run_one(
    database: Database,
    tmp_path: Path,
    lease: timedelta,
    done: Check,
    may_claim: LeaseCheck | None = None,
) -> int:
    """Order a report and let a builder work until ``done`` (checked every 50 ms, 30 seconds
    at most: a loaded machine's PostgreSQL restarts a connection slowly) says so; the
    report's id."""
    owner = AccountAdmin(database).create("owner", password="x", balance=Decimal(0))
    order = ReportOrder(start=DAY, end=DAY, format=ReportFormat.CSV, zone="UTC")
    settings = BuilderSettings(
        reports_dir=tmp_path / "reports",
        retention=timedelta(days=1),
        lease=lease,
        may_claim=may_claim,
    )

    async def scenario() -> int:
        report_id = await order_report(database, owner, order, ROWS_KEPT)
        running = asyncio.create_task(ReportBuilder(database, settings).run())
        try:
            deadline = time.monotonic() + 30
            while not await done(report_id):
                assert time.monotonic() < deadline, "not done in 30 s"
                await asyncio.sleep(0.05)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        return report_id

    return asyncio.run(scenario())


def test_a_build_process_that_dies_fails_its_report(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder_module, "run_job", die)

    async def failed(report_id: int) -> bool:
        found = await database.read(lambda c: store.find_report(c, report_id))
        return found is not None and found.status is ReportBuildStatus.FAILED

    report_id = run_one(database, tmp_path, timedelta(seconds=60), failed)
    query = reports.select().with_only_columns(reports.c.error).where(reports.c.id == report_id)
    error = database.read_sync(lambda c: c.execute(query).scalar_one())
    assert error == "the build process died (exit code 3)"
    assert list((tmp_path / "reports" / "building").iterdir()) == []


def test_a_builder_whose_report_was_taken_over_stops_building_it(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(builder_module, "run_job", dawdle)

    async def taken_over_and_stopped(report_id: int) -> bool:
        # what another builder's claim does once the lease lapsed
        await database.write(
            lambda c: c.execute(
                update(reports)
                .where(reports.c.id == report_id, reports.c.attempts == 1)
                .values(attempts=2)
            )
        )
        return "another builder took the report over" in caplog.text

    started = time.monotonic()
    report_id = run_one(database, tmp_path, timedelta(seconds=0.3), taken_over_and_stopped)
    assert time.monotonic() - started < 10  # the dawdling process was stopped, not awaited
    found = database.read_sync(lambda c: store.find_report(c, report_id))
    assert found is not None and found.status is ReportBuildStatus.BUILDING  # the other's to finish


# PostgreSQL only: a server that ends the builder's connection.
@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_renewal_the_database_failed_leaves_the_report_to_be_built_again(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(builder_module, "run_job", dawdle)
    url = make_url(database.url)
    maintenance = psycopg_url(url.set(database="postgres").render_as_string(False))
    with psycopg.connect(maintenance, autocommit=True) as operator:
        outage = ServerOutage(operator, str(url.database))
        renewal_failed = "its lease could not be renewed"
        began_at_log = 0  # how much was logged when the outage began

        async def built_again(report_id: int) -> bool:
            nonlocal began_at_log
            if outage.on:
                said = caplog.text[began_at_log:]
                # An outage that cut a commit off mid-answer leaves the writer asking the
                # server whether it was made, and only the server back can tell it; if it was,
                # the renewal held and the outage begins again.
                if renewal_failed in said or "cannot ask whether a commit was made" in said:
                    await asyncio.to_thread(outage.end)
                return False
            query = select(reports.c.status, reports.c.attempts).where(reports.c.id == report_id)
            try:
                status, attempts = await database.read(lambda c: c.execute(query).one())
            except OperationalError:  # a reader's connection the outage ended
                return False
            assert status == ReportBuildStatus.BUILDING.value  # not failed for the database
            if attempts == 1 and renewal_failed not in caplog.text:
                began_at_log = len(caplog.text)
                await asyncio.to_thread(outage.begin)
            return bool(attempts >= 2)

        try:
            run_one(database, tmp_path, timedelta(seconds=0.6), built_again)
        finally:
            outage.end()


class ServerOutage:
    """The database server away, as the builder sees it: the connections to ``database``
    ended, and new ones refused until ``end`` (ended again and again instead, a renewal's
    second try often found a new connection that worked, and the claim that built the report
    again often found none did). ``operator`` is connected to another database."""

    def __init__(self, operator: psycopg.Connection[Any], database: str) -> None:
        self.operator = operator
        self.database = psycopg.sql.Identifier(database)
        self.name = database
        self.on = False

    def begin(self) -> None:
        self._allow(False)
        self.operator.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (self.name,),
        )
        self.on = True

    def end(self) -> None:
        if self.on:
            self._allow(True)
            self.on = False

    def _allow(self, allowed: bool) -> None:
        statement = psycopg.sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}")
        value = psycopg.sql.SQL("true" if allowed else "false")
        self.operator.execute(statement.format(self.database, value))


# A server of one builder, on the database and reports folder its arguments name.
BUILDER_SERVER = """
import asyncio, sys
from datetime import timedelta
from pathlib import Path
from smsgate.reports.builder import BuilderSettings, ReportBuilder
from smsgate.store.database import Database
settings = BuilderSettings(reports_dir=Path(sys.argv[2]), retention=timedelta(days=1))
asyncio.run(ReportBuilder(Database(sys.argv[1]), settings).run())
"""


# PostgreSQL only: a table lock holds the build's read of the parts for as long as it likes.
@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_build_ends_when_its_server_is_killed(database: Database, tmp_path: Path) -> None:
    owner = AccountAdmin(database).create("owner", password="x", balance=Decimal(0))
    order = ReportOrder(start=DAY, end=DAY, format=ReportFormat.CSV, zone="UTC")
    asyncio.run(order_report(database, owner, order, ROWS_KEPT))
    with database.write_engine.connect() as blocker:
        blocker.exec_driver_sql("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        server = subprocess.Popen(
            [sys.executable, "-c", BUILDER_SERVER, database.url, str(tmp_path / "reports")]
        )
        builds: list[psutil.Process] = []
        try:
            deadline = time.monotonic() + 30
            while not builds:
                assert time.monotonic() < deadline, "no build process started"
                time.sleep(0.05)
                # The fork server's children: the server's own are it and the resource tracker.
                descendants = psutil.Process(server.pid).children(recursive=True)
                builds = [child for child in descendants if child.ppid() != server.pid]
        finally:
            server.kill()
            server.wait()
        _, left = psutil.wait_procs(builds, timeout=10)
        for build in left:
            build.kill()
        blocker.rollback()
    assert left == [], "the build went on without its server"


@pytest.mark.parametrize(("grace", "left"), [(timedelta(0), False), (timedelta(minutes=1), True)])
def test_the_sweeper_expires_reports_and_deletes_their_files_after_a_grace(
    database: Database, tmp_path: Path, grace: timedelta, left: bool
) -> None:
    owner = AccountAdmin(database).create("owner", password="x", balance=Decimal(0))
    reports_dir = tmp_path / "reports"
    reports_dir.mkdir()
    finished = datetime.now(UTC) - timedelta(days=8)

    def built(connection: Any, finished_at: datetime) -> int:
        report_id = store.insert_report(connection, owner, {}, finished_at)
        claimed = store.claim_report(connection, finished_at, finished_at, 3)
        assert claimed is not None and claimed.id == report_id
        (reports_dir / f"{report_id}.csv").write_text("Message ID")
        store.finish_report(connection, report_id, 1, f"{report_id}.csv", 0, finished_at)
        return report_id

    old = database.write_sync(lambda c: built(c, finished))
    recent = database.write_sync(lambda c: built(c, datetime.now(UTC)))
    settings = BuilderSettings(reports_dir, timedelta(days=7), download_grace=grace)
    deleted = asyncio.run(ReportBuilder(database, settings).sweep())
    assert deleted == (0 if left else 1)
    assert (reports_dir / f"{old}.csv").exists() == left
    assert (reports_dir / f"{recent}.csv").exists()
    expected = ReportBuildStatus.EXPIRED if left else ReportBuildStatus.DELETED
    assert [status_of(database, i) for i in (old, recent)] == [expected, ReportBuildStatus.READY]


def status_of(database: Database, report_id: int) -> ReportBuildStatus:
    found = database.read_sync(lambda c: store.find_report(c, report_id))
    assert found is not None
    return found.status


def test_a_long_failure_reason_cannot_block_the_build_process(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server reads the process's word once it ended, and a pipe holds 64 KiB until read:
    a reason longer than that (a database error quoting SQL with thousands of ids) blocked the
    process, and its report stayed building, for good."""

    def failing(*_args: object) -> int:
        raise RuntimeError("x" * 200_000)

    monkeypatch.setattr(build_module, "build_report", failing)
    order = ReportOrder(start=DAY, end=DAY, format=ReportFormat.CSV, zone="UTC")
    receiving, sending = multiprocessing.Pipe(duplex=False)

    def job() -> None:
        with contextlib.suppress(RuntimeError):  # raised after the word, for the log
            build_module.build_and_answer(database, 1, order, tmp_path, sending)

    process = threading.Thread(target=job, daemon=True)
    process.start()
    process.join(10)
    assert not process.is_alive(), "blocked on the pipe"
    status, reason = receiving.recv()
    assert status == "failed" and reason.startswith("RuntimeError: xxx") and len(reason) <= 200


def test_a_report_whose_folder_is_full_is_built_once_there_is_room(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not failed for good: a client given its id gets it once the space is freed."""
    monkeypatch.setattr(builder_module, "run_job", into_a_full_folder)

    async def built_after_room(report_id: int) -> bool:
        if "the reports folder cannot take it now" in caplog.text:
            monkeypatch.undo()  # the space freed: the next build is the real one
        found = await database.read(lambda c: store.find_report(c, report_id))
        assert found is not None and found.status is not ReportBuildStatus.FAILED
        return found.status is ReportBuildStatus.READY

    run_one(database, tmp_path, timedelta(seconds=0.5), built_after_room)
    assert "No space left on device" in caplog.text


def test_a_builder_claims_only_while_it_holds_the_delivery_lease(
    database: Database, tmp_path: Path
) -> None:
    """As the dispatcher (tests/delivery): a process stalled past its lease's lapse must not
    claim a report, which would then wait for its claim to lapse."""
    now = datetime.now(UTC)
    until = now + timedelta(minutes=1)
    database.write_sync(lambda c: take_lease(c, "delivery", "another process", now, until))
    lease = Lease(database, "delivery", "this process")
    started = time.monotonic()

    async def built_once_held(report_id: int) -> bool:
        found = await database.read(lambda c: store.find_report(c, report_id))
        assert found is not None
        if time.monotonic() - started < 1.0:
            assert found.status is ReportBuildStatus.BUILDING  # the lease is another's
            return False
        if not lease.held:
            await database.write(lambda c: give_up_lease(c, "delivery", "another process"))
            assert await lease.try_take()
        return found.status is ReportBuildStatus.READY

    report_id = run_one(database, tmp_path, timedelta(seconds=60), built_once_held, lease.held_in)
    attempts = reports.select().with_only_columns(reports.c.attempts)
    assert (
        database.read_sync(
            lambda c: c.execute(attempts.where(reports.c.id == report_id)).scalar_one()
        )
        == 1
    )
