"""SQLite's log is checkpointed whole and truncated once it passes its limit, even when reads
overlapping without end never leave SQLite a moment to start it over."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from smsgate.store.database import Database
from smsgate.store.wal import keep_wal_short, shorten_wal, wal_path

pytestmark = pytest.mark.parametrize("databases", ["sqlite"], indirect=True)

ROW = "x" * 4000


@contextlib.contextmanager
def old_snapshot(path: Path) -> Iterator[None]:
    """A reader in the middle of a long read: it keeps reading the snapshot it began with."""
    with contextlib.closing(sqlite3.connect(str(path).removesuffix("-wal"))) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM filler").fetchone()
        yield


def wal_size(path: Path) -> int:
    return path.stat().st_size


def grow(database: Database, rows: int) -> None:
    def insert(connection: Connection) -> None:
        for _ in range(rows):
            connection.execute(text("INSERT INTO filler (body) VALUES (:body)"), {"body": ROW})

    database.write_sync(insert)


@pytest.fixture
def filled(database: Database) -> Path:
    database.write_sync(lambda c: c.execute(text("CREATE TABLE filler (body TEXT)")))
    path = wal_path(database)
    assert path is not None
    return path


def test_a_log_held_by_an_old_snapshot_is_truncated_once_the_reader_ends(
    database: Database, filled: Path
) -> None:
    with old_snapshot(filled):
        grow(database, 200)
        size = filled.stat().st_size
        assert size > 500_000
        assert shorten_wal(filled, limit=100_000, wait=0.1) == (size, False)
    assert shorten_wal(filled, limit=100_000, wait=0.1) == (size, True)
    assert filled.stat().st_size == 0
    count = database.read_sync(lambda c: c.execute(text("SELECT count(*) FROM filler")).scalar())
    assert count == 200
    assert shorten_wal(filled, limit=100_000) is None  # short enough: left alone


def test_the_delivering_process_keeps_the_log_short(database: Database, filled: Path) -> None:
    async def scenario() -> None:
        keeper = asyncio.create_task(keep_wal_short(database, interval=0.05, limit=100_000))
        with old_snapshot(filled):
            grow(database, 200)
            await asyncio.sleep(0.2)
            assert wal_size(filled) > 100_000  # the reader holds it
        for _ in range(100):
            await asyncio.sleep(0.05)
            if wal_size(filled) == 0:
                break
        keeper.cancel()
        assert wal_size(filled) == 0

    asyncio.run(scenario())


def test_every_reader_thread_has_a_connection_beside_the_event_loop_s(database: Database) -> None:
    """The event loop keeps a reading connection for its look-ups: a read that found the
    others taken waited for one, and failed after 30 s (Code 9)."""
    readers = 4
    opened = Database(database.url, read_threads=readers)
    together = threading.Barrier(readers, timeout=5)

    def meet(connection: Connection) -> int:
        together.wait()
        return int(connection.execute(text("SELECT 1")).scalar_one())

    async def scenario() -> list[int]:
        await opened.lookup(lambda c: c.execute(text("SELECT 1")).scalar())
        return await asyncio.gather(*(opened.read(meet) for _ in range(readers)))

    try:
        assert asyncio.run(scenario()) == [1] * readers
    finally:
        opened.close()
