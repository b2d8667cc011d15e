"""Leases: what only one live process may do at a time (an SMPP bind; dispatching on SQLite).

A lease is a row its holder renews while it lives. Taking and renewing are the same upsert,
which succeeds only when the row is absent, already ours, or lapsed, so two processes can
never both believe they hold it; a lease whose holder ran on this host and is gone (killed) is
taken over at once instead of when it lapses. A holder that cannot renew in time must stop the
work the lease guards before it lapses: ``Lease.hold`` cancels that work itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, select, update

from smsgate.store.database import Database
from smsgate.store.prepared import Prepared
from smsgate.store.schema import leases
from smsgate.store.upserts import upsert

log = logging.getLogger(__name__)


# Enough of a host's name to tell it apart, so that a holder fits its column (100).
HOST_NAME_KEPT = 48


def _place() -> str:
    """This host and its boot (hosts may share a name), and the pid namespace within it
    (containers on one host may share a name too, and each numbers its pids)."""
    place = socket.gethostname()[:HOST_NAME_KEPT]
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            place += "/" + boot.read().strip()[:8]
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return place
    return f"{place}/{''.join(filter(str.isdigit, namespace))}"


def process_identity(pid: int | None = None) -> str:
    """A process (this one by default), recognisably in the table: where it runs, its pid and
    a random part (pids recur)."""
    return f"{_place()}:{os.getpid() if pid is None else pid}:{uuid.uuid4().hex[:8]}"


def _runs(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # A zombie has exited; only its parent has yet to hear of it.
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_is_gone(holder: str) -> bool:
    """Whether ``holder`` is a process of this place that no longer runs: it can never renew,
    so waiting for its lease to lapse would only delay recovery after a crash."""
    place, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    return place == _place() and pid.isdigit() and not _runs(int(pid))


def take_lease(
    connection: Connection, name: str, holder: str, now: datetime, until: datetime
) -> bool:
    """Take or renew ``name`` for ``holder`` until ``until``; False while another live
    process holds it."""
    taking = upsert(connection, leases).values(name=name, holder=holder, expires_at=until)
    taken = taking.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={"holder": taking.excluded.holder, "expires_at": taking.excluded.expires_at},
        where=(leases.c.holder == holder) | (leases.c.expires_at < now),
    ).returning(leases.c.holder)
    if connection.execute(taken).first() is not None:
        return True
    current = connection.execute(select(leases.c.holder).where(leases.c.name == name)).scalar()
    if current is None or not holder_is_gone(current):
        return False
    log.info("lease %s: its holder %s is gone; taken over by %s", name, current, holder)
    replaced = connection.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == current)
        .values(holder=holder, expires_at=until)
    )
    return replaced.rowcount == 1


# Whether this process may claim work (it holds the lease guarding it), asked in the claim's
# transaction: ``Lease.held_in``.
LeaseCheck = Callable[[Connection, datetime], bool]


# Asked in every claim of the work a lease guards, four times a second by each idle loop.
_HOLDS_LEASE = Prepared(
    select(leases.c.name).where(
        leases.c.name == bindparam("name"),
        leases.c.holder == bindparam("holder"),
        leases.c.expires_at > bindparam("now"),
    )
)


def holds_lease(connection: Connection, name: str, holder: str, now: datetime) -> bool:
    """Whether ``holder`` holds ``name`` at ``now``."""
    return bool(_HOLDS_LEASE.rows(connection, name=name, holder=holder, now=now))


def give_up_lease(connection: Connection, name: str, holder: str) -> None:
    connection.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


class LeaseLost(Exception):
    """The lease could not be renewed in time: the work it guarded was stopped."""


class Lease:
    """One named lease, taken and renewed by this process through ``database``."""

    def __init__(
        self, database: Database, name: str, holder: str, ttl: timedelta = timedelta(seconds=15)
    ) -> None:
        self.database = database
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.held = False
        # The event loop's time at which the lease we last wrote lapses: counted from before
        # that write began, as its expiry was.
        self._lapses_at = 0.0

    @property
    def renew_interval(self) -> float:
        # Three tries to renew before the lease lapses.
        return self.ttl.total_seconds() / 3

    async def try_take(self) -> bool:
        """Take or renew the lease once; whether this process holds it now."""
        return bool(await self._take())

    async def _take(self) -> bool | None:
        """True: held; False: another process holds it; None: the database failed."""
        started = asyncio.get_running_loop().time()
        now = datetime.now(UTC)
        try:
            self.held = await self.database.write(
                lambda connection: take_lease(
                    connection, self.name, self.holder, now, now + self.ttl
                )
            )
        except Exception:
            log.exception("lease %s: taking or renewing failed", self.name)
            self.held = False
            return None
        if self.held:
            self._lapses_at = started + self.ttl.total_seconds()
        return self.held

    async def wait_taken(self) -> None:
        """Return once this process holds the lease (checking every ``renew_interval``)."""
        standing_by = False
        while not (taken := await self._take()):
            # None: the database failed, and ``_take`` said so; not another's to stand by for.
            if taken is False and not standing_by:
                log.info("lease %s is held by another process: standing by", self.name)
                standing_by = True
            await asyncio.sleep(self.renew_interval)
        log.info("lease %s taken by %s", self.name, self.holder)

    async def keep(self) -> None:
        """Renew the lease until cancelled. Raise ``LeaseLost`` when another process took it,
        or when renewing kept failing until it is about to lapse: the caller must then stop
        what the lease guards at once."""
        while True:
            await asyncio.sleep(self.renew_interval)
            # A renewal must be done while the lease has a renew interval left, however long
            # the database takes to answer: the work must have stopped before it lapses.
            deadline = self._lapses_at - self.renew_interval
            try:
                async with asyncio.timeout_at(deadline):
                    taken = await self._take()
            except TimeoutError:
                log.error("lease %s: renewing took too long", self.name)
                taken = None
            if taken is False or (not taken and asyncio.get_running_loop().time() >= deadline):
                self.held = False
                raise LeaseLost(self.name)

    def held_in(self, connection: Connection, now: datetime) -> bool:
        """Whether this process holds the lease, asked in the transaction of work it guards:
        a process stalled past the lease's lapse (frozen, swapped out) wakes to do that work
        before its renewal tells it the lease is another's."""
        return holds_lease(connection, self.name, self.holder, now)

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(Exception):
            await self.database.write(
                lambda connection: give_up_lease(connection, self.name, self.holder)
            )

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Wait for the lease, keep it while the block runs; the block is cancelled (and
        ``LeaseLost`` raised) if the lease is lost; released on exit."""
        await self.wait_taken()
        try:
            async with asyncio.TaskGroup() as tasks:
                keeper = tasks.create_task(self.keep())
                try:
                    yield
                finally:
                    keeper.cancel()
        except* LeaseLost as lost:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # A stop came as the lease was lost (a stalled process wakes up to both):
                # Python 3.11's TaskGroup raises the loss in place of the cancellation, and
                # the stop must not be lost with it.
                raise asyncio.CancelledError from None
            raise lost.exceptions[0] from None
        finally:
            await self.release()
