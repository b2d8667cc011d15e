"""Connections to the store, and running work on them off the event loop.

SQLAlchemy Core runs on blocking drivers (sqlite3, psycopg) in worker threads: one thread owns
writes (so SQLite never sees two writers of ours and callers can batch into one transaction),
a small pool serves reads. One hop to a thread per batch is cheaper than an async driver's hop
per statement.

Point look-ups (a balance, a session, one part's state) are different: on SQLite they take
~10 µs, while handing them to a thread costs far more under load (the thread waits for the GIL
while the event loop is busy). So ``lookup`` runs them inline on SQLite, where a WAL reader
never waits for the writer, and in a thread on a networked database.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalize_url(url: str) -> str:
    """Pick the driver smsgate uses for each backend and create a SQLite file's folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL: {parsed.get_backend_name()}")


def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=pool_size,
        max_overflow=0,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level so that SQLAlchemy's "begin" below decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the lock up front: a deferred transaction that later writes can fail
        # with SQLITE_BUSY instead of waiting for the other writer.
        connection.exec_driver_sql(begin)

    return engine


class Database:
    """The engines of one database and the threads that use them."""

    def __init__(self, url: str, *, read_threads: int = 4) -> None:
        self.url = normalize_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            self.write_engine = _sqlite_engine(self.url, begin="BEGIN IMMEDIATE", pool_size=1)
            self.read_engine = _sqlite_engine(self.url, begin="BEGIN", pool_size=read_threads)
        else:
            self.write_engine = create_engine(self.url, pool_size=read_threads + 1)
            self.read_engine = self.write_engine
        self._inline: Connection | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsgate-db-write")
        self._readers = ThreadPoolExecutor(
            max_workers=read_threads, thread_name_prefix="smsgate-db-read"
        )

    def write_sync(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction on the calling thread."""
        with self.write_engine.begin() as connection:
            return work(connection)

    def read_sync(self, work: Callable[[Connection], T]) -> T:
        with self.read_engine.begin() as connection:
            return work(connection)

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, functools.partial(self.write_sync, work))

    async def read(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, functools.partial(self.read_sync, work))

    async def lookup(self, work: Callable[[Connection], T]) -> T:
        """Run a short read of a few rows; see the module docstring."""
        if self.dialect != "sqlite":
            return await self.read(work)
        if self._inline is None:
            self._inline = self.read_engine.connect()
        try:
            return work(self._inline)
        finally:
            if self._inline.in_transaction():
                self._inline.rollback()

    def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.write_engine.dispose()
        self.read_engine.dispose()
