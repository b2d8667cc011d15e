"""A database that cannot serve fails every request alike: its failures are logged as one line
each, at most once per interval per message, and other failures keep their tracebacks."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from smsgate.logs import OutageDigest
from smsgate.services.health import DatabaseProbe
from smsgate.store.database import Database
from smsgate.store.outage import unavailable
from smsgate.store.queue_signal import listen_for_queued_parts
from tests.server import free_port

INTERVAL = 0.2


def failure(error: BaseException, message: str = "request %s to %s failed") -> logging.LogRecord:
    try:
        raise error
    except BaseException as raised:
        exc_info = (type(raised), raised, raised.__traceback__)
    args = ("r1", "/rest/Send/SendSms/") if "%s" in message else ()
    return logging.LogRecord("smsgate.api", logging.ERROR, __file__, 1, message, args, exc_info)


def test_a_database_that_cannot_serve_is_told_from_a_fault_of_the_work() -> None:
    wrapped = OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    assert unavailable(wrapped) == "OperationalError: database is locked"
    read_only = psycopg.errors.ReadOnlySqlTransaction("cannot execute UPDATE\nin a read-only")
    assert unavailable(read_only) == (
        "ReadOnlySqlTransaction: cannot execute UPDATE in a read-only"
    )
    assert unavailable(psycopg.OperationalError("connection refused")) is not None
    duplicate = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert unavailable(duplicate) is None
    assert unavailable(ValueError("a bug")) is None


def test_the_database_s_failures_are_one_line_each_and_counted_within_the_interval() -> None:
    digest = OutageDigest(unavailable, INTERVAL)
    locked = sqlite3.OperationalError("database is locked")
    first = failure(locked)
    assert digest.filter(first)
    assert first.exc_info is None
    assert first.getMessage() == (
        "request r1 to /rest/Send/SendSms/ failed: the database is unavailable: "
        "OperationalError: database is locked"
    )
    assert not digest.filter(failure(locked))
    assert not digest.filter(failure(locked))
    # Another message is another kind of failure: logged at once.
    assert digest.filter(failure(locked, "claiming due parts failed"))
    time.sleep(INTERVAL * 1.5)
    later = failure(locked)
    assert digest.filter(later)
    assert later.getMessage().endswith("(2 more like it since the last)")


def test_other_failures_keep_their_tracebacks_every_time() -> None:
    digest = OutageDigest(unavailable, INTERVAL)
    for _ in range(3):
        bug = failure(ValueError("a bug"))
        assert digest.filter(bug)
        assert bug.exc_info is not None
        assert bug.getMessage() == "request r1 to /rest/Send/SendSms/ failed"


def test_the_listener_and_the_probe_log_an_outage_as_the_requests_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each retried every second (the listener) or asked by every probe of a load balancer:
    one line in the interval, not one a try."""
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/smsgate"
    caplog.handler.addFilter(OutageDigest(unavailable, interval=60))
    database = Database(nobody)
    probe = DatabaseProbe(nobody)

    async def outage() -> None:
        listening = asyncio.create_task(
            listen_for_queued_parts(database.url, lambda: None, retry_seconds=0.01)
        )
        for _ in range(5):
            assert await probe.check() == "OperationalError"
        await asyncio.sleep(0.2)
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)

    try:
        asyncio.run(outage())
    finally:
        probe.close()
        database.close()
    messages = [record.getMessage() for record in caplog.records]
    for failure_text in ("listening for queued parts failed", "the database probe failed"):
        logged = [message for message in messages if message.startswith(failure_text)]
        assert len(logged) == 1, messages
        assert "the database is unavailable: OperationalError" in logged[0]
