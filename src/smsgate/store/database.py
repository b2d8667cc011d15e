"""Connections to the store, and running work on them off the event loop.

SQLAlchemy Core runs on blocking drivers (sqlite3, psycopg): writes go to a writer per lane (a
thread of its own on PostgreSQL, the event loop itself on SQLite, see below), reads to a small
pool of threads. One hop to a thread per batch is cheaper than an async driver's hop per
statement.

Writes are group-committed: everything queued while the writer is busy runs in the next single
transaction, each piece of work inside its own SAVEPOINT so that one failing piece rolls back
alone. A commit (and its fixed cost) then serves many requests, receipts and claims.

On a networked database a writer spends most of its time waiting for the server, which runs
one connection's statements on one core: writes go on one of two lanes (``Lane``), each its
own thread and connection, so that claims and the simulated SMSC's bookkeeping commit beside
submit results and delivery reports. SQLite has one write lock: there both lanes are one.

On SQLite the writer is the event loop itself. A WAL write transaction is short and local, and
a thread buys nothing under the GIL: it gives up the GIL around every sqlite3 call and then
waits for it while the loop runs Python, so each statement can cost a switch interval. Only
what waits goes to the writer's thread, once per group: the write lock when another
connection holds it, and a durable commit's sync to disk.

Point look-ups (a balance, a session, one part's state) are different: on SQLite they take
~10 µs, while handing them to a thread costs far more under load (the thread waits for the GIL
while the event loop is busy). So ``lookup`` runs them inline on SQLite, where a WAL reader
never waits for the writer, and in a thread on a networked database.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from smsgate.store.outage import driver_reason, unavailable_to_all

T = TypeVar("T")
log = logging.getLogger(__name__)

# How long a statement waits for a lock another connection holds (SQLite's write lock, a
# PostgreSQL row or table) before it fails: an operator's long lock costs Code 9 answers, not
# requests and threads piling up behind it.
LOCK_WAIT_SECONDS = 10.0
# PostgreSQL ends a session that sits in a transaction without a statement for this many lock
# waits: a process frozen mid-transaction (SIGSTOP, swapped out, a debugger) would otherwise
# hold its row locks until it woke, and every other process's requests for that account would
# answer Code 9 all the while. Our transactions never wait between statements on purpose.
IDLE_IN_TRANSACTION_LOCK_WAITS = 3
# A write that failed as the database could not serve it counts against readiness this long.
WRITE_TROUBLE_SECONDS = 10.0
# A commit whose answer was lost: how often its outcome is asked while the server cannot tell.
IN_DOUBT_POLL_SECONDS = 0.5
# At a stop, how long the database's threads may take to end their statements. A server that
# stopped answering (a network link black-holed, its host frozen) would hold them, and with
# them the process's exit, until the kernel gave up on the connection, hours later.
CLOSE_WAIT_SECONDS = 5.0
MAX_WRITES_PER_COMMIT = 2_000
JOURNAL_SIZE_LIMIT = 64 << 20

_Write = tuple[Callable[[Connection], Any], "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", BaseException | None, Any]


class Lane(enum.Enum):
    """Which writer commits a write (see the module docstring)."""

    MAIN = "main"
    # Submit results and delivery reports: on one lane, so a receipt that races ahead of its
    # part's submit result finds it committed, or is kept and applied by that result's write.
    OUTCOMES = "outcomes"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for another backend, or a database in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def normalize_url(url: str) -> str:
    """Pick the driver smsgate uses for each backend and create a SQLite file's folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is not None:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL: {parsed.get_backend_name()}")


def _sqlite_engine(
    url: str, *, begin: str, pool_size: int, durable: bool, lock_wait: float
) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": lock_wait},
        pool_size=pool_size,
        max_overflow=0,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level so that SQLAlchemy's "begin" below decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # A log started over keeps at most this much of its file (``store/wal.py``).
        cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        # FULL syncs the log at each commit; NORMAL only at checkpoints (see ``Database``).
        cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(lock_wait * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the lock up front: a deferred transaction that later writes can fail
        # with SQLITE_BUSY instead of waiting for the other writer. On the driver itself: a
        # statement through SQLAlchemy costs more than a small batch's whole commit.
        driver = connection.connection.driver_connection
        if not driver.in_transaction:  # type: ignore[union-attr] # else begun by ``_WriteLock``
            driver.execute(begin)  # type: ignore[union-attr]

    return engine


@dataclass(frozen=True, slots=True)
class _WriteLock:
    """SQLite's write lock, for the writer on the event loop: taken before its transaction
    begins (which then finds it held). Taken at once when free; when another connection holds
    it (an admin command, another process), waited for in the writer's thread, so that the
    loop answers requests meanwhile rather than stopping for up to the whole lock wait."""

    wait_ms: int

    def take_at_once(self, driver: sqlite3.Connection) -> bool:
        """Whether the lock is now held; False when another connection holds it."""
        driver.execute("PRAGMA busy_timeout=0")
        try:
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            return False
        finally:
            driver.execute(f"PRAGMA busy_timeout={self.wait_ms}")
        return True

    def take_waiting(self, driver: sqlite3.Connection) -> None:
        """Take the lock, waiting up to ``wait_ms`` for it; raises SQLite's busy error."""
        driver.execute("BEGIN IMMEDIATE")


def _postgresql_engine(
    url: str, *, pool_size: int, durable: bool, lock_wait: float, transaction_pooling: bool
) -> Engine:
    idle_ms = round(IDLE_IN_TRANSACTION_LOCK_WAITS * lock_wait * 1000)
    settings = [
        f"lock_timeout = {round(lock_wait * 1000)}",
        f"idle_in_transaction_session_timeout = {idle_ms}",
        *([] if durable else ["synchronous_commit TO off"]),
    ]
    if not transaction_pooling:
        engine = create_engine(url, pool_size=pool_size)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            for setting in settings:
                dbapi_connection.execute(f"SET {setting}")
            dbapi_connection.commit()

        return engine

    # Through a pooler in transaction mode (PgBouncer's), each transaction may run on another
    # server session: a statement psycopg prepared on one would be missing on the next, or
    # would be another client's statement of that name, and a session's settings stay behind
    # on the session they were made on. So nothing is prepared, and the settings are made in
    # each transaction (one round trip more per transaction).
    engine = create_engine(url, pool_size=pool_size, connect_args={"prepare_threshold": None})
    set_local = "; ".join(f"SET LOCAL {setting}" for setting in settings)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Through SQLAlchemy, not the driver's cursor: a connection found lost here is then
        # known as lost (``_lost_connection``), and its write or read runs again.
        connection.exec_driver_sql(set_local)

    return engine


class _FileWatch:
    """The SQLite file a writer opened. Deleted or replaced under a running server (an ``rm``,
    a backup restored by ``mv``), the writer's connection would go on writing to the old file,
    and answer ids that a restart would not find: its writes fail instead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._opened: tuple[int, int] | None = None

    def _identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def check(self) -> None:
        identity = self._identity()
        if self._opened is None:
            self._opened = identity  # the first write: the file as the server opened it
        elif identity != self._opened:
            raise sqlite3.OperationalError(
                f"the database file {self.path} was deleted or replaced while in use: "
                "restart the server on the file to use"
            )


class _Writer:
    """One connection that commits the writes queued for it, a group at a time."""

    def __init__(
        self,
        engine: Engine,
        lane: Lane,
        *,
        lock: _WriteLock | None = None,
        commit_in_thread: bool = False,
        in_doubt_wait: float | None = None,
        file_watch: _FileWatch | None = None,
    ) -> None:
        self.engine = engine
        # SQLite: drained on the event loop itself, which takes the write lock (``_WriteLock``);
        # otherwise in a thread of its own.
        self.lock = lock
        # Inline, and each commit syncs the log to disk (0.1 ms, a few ms when the disk is
        # busy): the works run on the loop, the commit in the writer's thread, and the loop
        # goes on with requests meanwhile (the next group waits for it).
        self.commit_in_thread = commit_in_thread
        # On a networked database: how long the outcome of a commit whose answer was lost is
        # asked of the server (``_committed_after_all``); None on SQLite, where a commit that
        # raises was not made.
        self.in_doubt_wait = in_doubt_wait
        # SQLite: the file the writer opened, watched at each write (``_FileWatch``).
        self.file_watch = file_watch
        # Why the last write failed and when (``time.monotonic``), while no write has
        # succeeded since, when the database could not serve it (out of disk, read-only,
        # gone): for the readiness probe.
        self.trouble: tuple[str, float] | None = None
        self.writes: deque[_Write] = deque()
        self.drain_scheduled = False
        self.threads = _Threads(1, f"smsgate-db-write-{lane.value}")
        self.executor = self.threads.executor
        self._connection: Connection | None = None

    def enqueue(self, write: _Write, loop: asyncio.AbstractEventLoop) -> None:
        self.writes.append(write)
        if self.drain_scheduled:
            return
        self.drain_scheduled = True
        if self.lock is not None:
            # After the callbacks already due: requests arriving together commit together.
            loop.call_soon(self._drain_inline)
        else:
            loop.run_in_executor(self.executor, self._drain_in_thread, loop)

    def _drain_inline(self) -> None:
        assert self.lock is not None
        batch = self._take_batch()
        try:
            if self.file_watch is not None:
                self.file_watch.check()
            driver = cast(sqlite3.Connection, self._connect().connection.driver_connection)
            locked = self.lock.take_at_once(driver)
        except Exception as error:
            self._discard_connection()
            self._drained(_failed(batch, error))
            return
        if locked:
            self._run_locked(batch)
            return
        waited = asyncio.get_running_loop().run_in_executor(
            self.executor, self.lock.take_waiting, driver
        )
        waited.add_done_callback(lambda done: self._lock_waited(batch, done.exception()))

    def _lock_waited(self, batch: list[_Write], error: BaseException | None) -> None:
        if error is None:
            self._run_locked(batch)
        else:  # the lock wait ran out: the batch fails whole, as a write behind a lock does
            self._drained(_failed(batch, error))

    def _run_locked(self, batch: list[_Write]) -> None:
        if not self.commit_in_thread:
            self._drained(self._commit(batch, retry_transient=False))
            return
        transaction, outcomes = self._run_uncommitted(batch)
        if transaction is None:  # rolled back: nothing to commit
            self._drained(outcomes)
            return
        loop = asyncio.get_running_loop()
        committed = loop.run_in_executor(
            self.executor, self._commit_run, transaction, batch, outcomes
        )
        committed.add_done_callback(lambda done: self._drained(done.result()))

    def _drained(self, outcomes: list[_Outcome]) -> None:
        self._settle(outcomes)
        if self.writes:
            # Queued meanwhile, or more than one commit's worth: the next group, next turn.
            asyncio.get_running_loop().call_soon(self._drain_inline)
        else:
            self.drain_scheduled = False

    def _drain_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            # Cleared before the queue is taken: a write queued from then on schedules a drain
            # of its own (which may find it taken already), so none waits for a drain that
            # has passed it by.
            self.drain_scheduled = False
            outcomes = self._commit_queued()
            if not outcomes:
                return
            loop.call_soon_threadsafe(self._settle, outcomes)

    def _settle(self, outcomes: list[_Outcome]) -> None:
        for answer, error, value in outcomes:
            if error is None:
                self.trouble = None
            elif (reason := unavailable_to_all(error)) is not None:
                self.trouble = (reason, time.monotonic())
            if answer.done():  # the caller went away; its work stands
                continue
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(value)

    def _take_batch(self) -> list[_Write]:
        batch: list[_Write] = []
        while self.writes and len(batch) < MAX_WRITES_PER_COMMIT:
            batch.append(self.writes.popleft())
        return batch

    def _commit_queued(self) -> list[_Outcome]:
        batch = self._take_batch()
        if not batch:
            return []
        try:
            return self._commit(batch, retry_transient=True)
        except _Transient as transient:
            # PostgreSQL chose this transaction to break a deadlock (or a serialization
            # conflict): the whole batch runs again, once, after the rollback has let the
            # other transaction through.
            log.warning("a write was rolled back (%s); running it again", transient.error)
            return self._commit(batch, retry_transient=False)

    def _commit(self, batch: list[_Write], *, retry_transient: bool) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        transaction_id: int | None = None
        try:
            with self._transaction() as connection:
                outcomes = _run(connection, batch, retry_transient=retry_transient)
                if self.in_doubt_wait is not None:
                    transaction_id = _transaction_id(connection)
        except _Transient:
            raise
        except Exception as error:
            if transaction_id is not None and _lost_connection(error):
                # The COMMIT was sent and its answer lost: the server may have made it. Its
                # writes answered as failed would be sent again by their clients (an SMS
                # sent and billed twice, its first ids never known).
                committed = self._committed_after_all(transaction_id)
                if committed:
                    return outcomes
                if committed is None:
                    return _failed(batch, error)
            # Nothing of the batch was written. A batch that lost its connection runs again,
            # once, as a deadlock's victim does: a restarted server or a failover then costs
            # no write.
            if retry_transient and (_is_transient(error) or _lost_connection(error)):
                raise _Transient(error) from error
            return _failed(batch, error)
        return outcomes

    def _committed_after_all(self, transaction_id: int) -> bool | None:
        """Whether the transaction committed, asked on another connection until the server
        knows (a session cut off mid-transaction is rolled back once its server notices, at
        the latest after the idle-in-transaction timeout); None if it cannot be told."""
        assert self.in_doubt_wait is not None
        deadline = time.monotonic() + self.in_doubt_wait
        status = None
        while time.monotonic() < deadline:
            status = None
            try:
                with self.engine.connect() as connection:
                    status = connection.execute(
                        text("SELECT txid_status(:id)"), {"id": transaction_id}
                    ).scalar()
            except Exception as error:  # the server away a while: asked again
                log.warning("cannot ask whether a commit was made: %s", driver_reason(error))
            if status in ("committed", "aborted"):
                log.warning(
                    "a commit's answer was lost; the server says it was %s, and its writes are "
                    "answered so",
                    status,
                )
                return bool(status == "committed")
            time.sleep(IN_DOUBT_POLL_SECONDS)
        log.error(
            "a commit's answer was lost and whether it was made is unknown (%s): its writes "
            "are answered as failed",
            status or "the server did not answer",
        )
        return None

    def _run_uncommitted(
        self, batch: list[_Write]
    ) -> tuple[RootTransaction | None, list[_Outcome]]:
        """The batch run in a transaction left open, or (None, its failure) rolled back."""
        try:
            transaction = self._connect().begin()
            return transaction, _run(transaction.connection, batch, retry_transient=False)
        except Exception as error:
            self._discard_connection()
            return None, _failed(batch, error)
        except BaseException:
            self._discard_connection()
            raise

    def _commit_run(
        self, transaction: RootTransaction, batch: list[_Write], outcomes: list[_Outcome]
    ) -> list[_Outcome]:
        try:
            transaction.commit()
        except Exception as error:
            self._discard_connection()
            return _failed(batch, error)
        return outcomes

    def _connect(self) -> Connection:
        # The writer keeps its connection: checking one out of the pool and back per commit
        # cost more than committing a small batch. After a failed transaction it is dropped
        # (``_discard_connection``) and the next write takes another (tests/store/test_writer.py).
        if self._connection is None:
            self._connection = self.engine.connect()
        return self._connection

    def _discard_connection(self) -> None:
        # Not back to the pool: a failed transaction may have left its session unfit for the
        # next (a database made read-only keeps its sessions read-only; a server going away).
        if self._connection is not None:
            self._connection.invalidate()
            self._connection.close()
            self._connection = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        connection = self._connect()
        try:
            with connection.begin():
                yield connection
        except BaseException:
            self._discard_connection()
            raise

    def close(self, deadline: float) -> bool:
        """Whether the writer's thread ended by ``deadline`` (``time.monotonic``); if not, it
        is left with its connection."""
        if not self.threads.end(deadline):
            return False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return True


class _Threads:
    """An executor's threads, which a stop waits for no longer than it may."""

    def __init__(self, workers: int, name: str) -> None:
        self._started: list[threading.Thread] = []
        self.executor = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix=name,
            initializer=lambda: self._started.append(threading.current_thread()),
        )

    def end(self, deadline: float) -> bool:
        """Let the work queued finish, and wait for it until ``deadline``; whether it did."""
        self.executor.shutdown(wait=False)
        for thread in self._started:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._started)


class Database:
    """The engines of one database and the threads that use them.

    ``durable``: a commit returns once it is on disk, so what was answered outlives a power
    loss (SQLite ``synchronous=FULL``; PostgreSQL as its server is set, ``on`` by default).
    Otherwise a commit returns once the operating system has it, and reaches the disk within
    a second: a crash of smsgate loses nothing, a power loss (or, on PostgreSQL, a crash of
    its server) may lose the last moment's commits (SQLite ``NORMAL``, PostgreSQL
    ``synchronous_commit=off``). Either way a commit is whole or absent.

    ``lock_wait``: seconds a statement waits for a lock held elsewhere before it fails.

    ``transaction_pooling``: PostgreSQL is reached through a pooler in transaction mode
    (``_postgresql_engine``).
    """

    def __init__(
        self,
        url: str,
        *,
        read_threads: int = 4,
        durable: bool = True,
        lock_wait: float = LOCK_WAIT_SECONDS,
        transaction_pooling: bool = False,
    ) -> None:
        self.url = normalize_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self.transaction_pooling = transaction_pooling
        inline = self.dialect == "sqlite"
        if inline and transaction_pooling:
            raise ValueError("transaction pooling is a PostgreSQL setting")
        if inline:
            # Two writers: the event loop's (kept open, see ``_Writer``) and ``write_sync``.
            self.write_engine = _sqlite_engine(
                self.url,
                begin="BEGIN IMMEDIATE",
                pool_size=2,
                durable=durable,
                lock_wait=lock_wait,
            )
            self.read_engine = _sqlite_engine(
                self.url,
                begin="BEGIN",
                # One per reader thread, and the event loop's own for ``lookup``: a read no
                # longer waited behind three long ones for a connection, failing after 30 s.
                pool_size=read_threads + 1,
                durable=durable,
                lock_wait=lock_wait,
            )
        else:
            self.write_engine = _postgresql_engine(
                self.url,
                pool_size=read_threads + len(Lane),
                durable=durable,
                lock_wait=lock_wait,
                transaction_pooling=transaction_pooling,
            )
            self.read_engine = self.write_engine
        self._inline: Connection | None = None
        lanes = [Lane.MAIN] if inline else list(Lane)
        lock = _WriteLock(round(lock_wait * 1000)) if inline else None
        # A session cut off mid-transaction is rolled back by then at the latest.
        in_doubt_wait = None if inline else (IDLE_IN_TRANSACTION_LOCK_WAITS + 1) * lock_wait
        self._writers = {
            lane: _Writer(
                self.write_engine,
                lane,
                lock=lock,
                commit_in_thread=inline and durable,
                in_doubt_wait=in_doubt_wait,
                file_watch=_FileWatch(path) if (path := sqlite_file(self.url)) else None,
            )
            for lane in lanes
        }
        self._reader_threads = _Threads(read_threads, "smsgate-db-read")
        self._readers = self._reader_threads.executor

    @property
    def write_trouble(self) -> str | None:
        """Why writes fail now (the database out of disk, read-only, its file gone): the
        reason of the last write that failed so in the last ``WRITE_TROUBLE_SECONDS``, when
        none has succeeded since; None otherwise. Bounded in time: a process that writes only
        when asked to (an API-only node) is not kept out of its load balancer's rotation for
        good by a failure that passed."""
        now = time.monotonic()
        for writer in self._writers.values():
            if writer.trouble is not None and now - writer.trouble[1] < WRITE_TROUBLE_SECONDS:
                return writer.trouble[0]
        return None

    def write_sync(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction on the calling thread."""
        with self.write_engine.begin() as connection:
            return work(connection)

    def read_sync(self, work: Callable[[Connection], T]) -> T:
        try:
            with self.read_engine.begin() as connection:
                return work(connection)
        except DBAPIError as error:
            if not _lost_connection(error):
                raise
        # A pooled connection its server had ended (a restart, a failover): the pool has let
        # go of every connection as old, and a read can run again on a fresh one.
        with self.read_engine.begin() as connection:
            return work(connection)

    async def write(self, work: Callable[[Connection], T], lane: Lane = Lane.MAIN) -> T:
        """Run ``work`` in a write transaction of ``lane`` (see the module docstring).

        ``work`` sees every change made before it in the same transaction; if it raises, its
        own changes are rolled back and the exception is raised here.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        writer = self._writers.get(lane) or self._writers[Lane.MAIN]
        writer.enqueue((work, answer), loop)
        return await answer

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

    def close(self, wait: float = CLOSE_WAIT_SECONDS) -> bool:
        """Finish the work queued, for up to ``wait`` seconds, and close; whether it all
        ended. A thread still in a statement then is left behind, and the process should end
        with ``os._exit``: the interpreter's exit would wait for the thread for ever."""
        deadline = time.monotonic() + wait
        ended = [writer.close(deadline) for writer in self._writers.values()]
        ended.append(self._reader_threads.end(deadline))
        if not all(ended):
            log.error(
                "statements still ran %.0f s after the database was closed (does the database "
                "answer?): left behind",
                wait,
            )
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        self.write_engine.dispose()
        self.read_engine.dispose()
        return all(ended)


# A deadlock's victim, or a serialization failure: nothing wrong with the work itself.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


class _Transient(Exception):
    def __init__(self, error: BaseException | None) -> None:
        super().__init__(str(error))
        self.error = error


def _lost_connection(error: BaseException) -> bool:
    """The statement failed as the connection to the server was lost (a restart, a failover,
    a network cut), not because of the work."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _transaction_id(connection: Connection) -> int:
    """The id of the connection's transaction (PostgreSQL), by which the server tells
    afterwards whether it committed."""
    cursor = driver_cursor(connection)
    cursor.execute("SELECT txid_current()")
    return int(cursor.fetchone()[0])


def _is_transient(error: BaseException | None) -> bool:
    # The driver's own error (statements run on its cursor), or SQLAlchemy's wrapping of it.
    driver_error = getattr(error, "orig", error)
    return getattr(driver_error, "sqlstate", None) in _TRANSIENT_SQLSTATES


_DRIVER_CURSOR = "smsgate.driver_cursor"


def driver_cursor(connection: Connection) -> Any:
    """The driver's cursor of this connection's DBAPI connection, made once and reused by every
    statement run on the driver: making one per statement cost psycopg ~19 µs, a fifth of a
    small statement. Statements fetch their results at once, so none is left pending."""
    info = connection.connection.info
    cursor = info.get(_DRIVER_CURSOR)
    if cursor is None:
        cursor = info[_DRIVER_CURSOR] = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    return cursor


def _run(connection: Connection, batch: list[_Write], *, retry_transient: bool) -> list[_Outcome]:
    """Each write of the batch, in its own savepoint when there are several; raises
    ``_Transient`` for one that failed on a deadlock when ``retry_transient``."""
    if len(batch) == 1:
        work, answer = batch[0]
        return [(answer, None, work(connection))]
    outcomes: list[_Outcome] = []
    for work, answer in batch:
        outcome = _in_savepoint(connection, work)
        if retry_transient and _is_transient(outcome[0]):
            raise _Transient(outcome[0])
        outcomes.append((answer, *outcome))
    return outcomes


def _failed(batch: list[_Write], error: BaseException) -> list[_Outcome]:
    return [(answer, error, None) for _, answer in batch]


def _in_savepoint(
    connection: Connection, work: Callable[[Connection], Any]
) -> tuple[BaseException | None, Any]:
    # Plain SQL on the driver's cursor: SQLAlchemy's begin_nested() costs ~10x more here, and
    # the outer transaction stays SQLAlchemy's to commit or roll back.
    cursor = driver_cursor(connection)
    cursor.execute("SAVEPOINT work")
    try:
        value = work(connection)
    except Exception as error:
        cursor.execute("ROLLBACK TO SAVEPOINT work")
        cursor.execute("RELEASE SAVEPOINT work")
        return error, None
    cursor.execute("RELEASE SAVEPOINT work")
    return None, value
