"""The CPU one order write costs (flood check, debit, part rows, commit: ``OrderDesk``) on
SQLite and on PostgreSQL, with 1, 16 and 32 orders a write, in one run.

The throughput benchmarks vary by up to a third from run to run on a shared 2-core machine; the
CPU of a write, taken here with no load beside it, by a tenth to a fifth: the figure to watch
when changing the write path (compare runs taking turns, several of each). An API process
takes the orders of its clients that arrived together into one write, so with N API processes
each write holds about 32/N orders: the smaller rows show what the fixed cost of a write
becomes per order then.

Run: ``.venv/bin/python -m bench.order_write [writes]`` (PostgreSQL from
SMSGATE_TEST_POSTGRES_URL, the local server by default). Reference: SQLite's write of the same
size.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.harness import bench_database, database_backends, report, spent_cpu
from smsgate.domain.segments import segment_text
from smsgate.services.accounts import AccountAdmin
from smsgate.services.order_writer import OrderDesk
from smsgate.services.sending import FloodLimit, OutgoingMessage, SendOrder
from smsgate.store.database import Database

ORDERS_PER_WRITE = (1, 16, 32)
TEXT = segment_text("Your code is 4242. It expires in 10 minutes.")


@dataclass(frozen=True)
class WriteCost:
    client_us: float  # this process's CPU per write: the API process's share
    database_us: float  # PostgreSQL's backends' CPU per write (0 on SQLite, in-process)
    wall_us: float


def _backends_cpu(database: Database) -> float:
    return sum(spent_cpu(database_backends(database)).values())


def measure(database: Database, account_id: int, per_write: int, writes: int) -> WriteCost:
    numbers = itertools.count(79_260_000_001, 10)
    # As the other benchmarks' accounts: the check runs, and repeated numbers pass.
    flood = FloodLimit(1_000_000, timedelta(seconds=60))

    def order() -> SendOrder:
        now = datetime.now(UTC)
        message = OutgoingMessage(
            str(next(numbers)), TEXT, Decimal("1.5"), now, now + timedelta(days=1), None
        )
        return SendOrder.priced(account_id, "SMS Info", (message,), now, None, flood)

    async def write_all(count: int) -> None:
        desk = OrderDesk(database)
        for _ in range(count):
            await asyncio.gather(*(desk.accept(order()) for _ in range(per_write)))

    asyncio.run(write_all(max(writes // 10, 5)))  # warm up: statements prepared, caches filled
    database_before = _backends_cpu(database)
    client_before = time.process_time()
    started = time.perf_counter()
    asyncio.run(write_all(writes))
    wall = time.perf_counter() - started
    client = time.process_time() - client_before
    database_cpu = _backends_cpu(database) - database_before
    return WriteCost(client / writes * 1e6, database_cpu / writes * 1e6, wall / writes * 1e6)


def measure_backend(backend: str, writes: int) -> dict[int, WriteCost]:
    with bench_database(backend) as (_, database, _):
        account_id = AccountAdmin(database).create(
            "bench", password="bench-password", balance=Decimal(10**9)
        )
        return {n: measure(database, account_id, n, writes) for n in ORDERS_PER_WRITE}


def main(writes: int) -> None:
    sqlite = measure_backend("sqlite", writes)
    postgresql = measure_backend("postgresql", writes)
    rows = []
    for per_write in ORDERS_PER_WRITE:
        lite, pg = sqlite[per_write], postgresql[per_write]
        pg_total = pg.client_us + pg.database_us
        rows += [
            (
                f"SQLite, {per_write} a write",
                f"{lite.client_us:,.0f} µs of CPU ({lite.client_us / per_write:,.0f} an order), "
                f"{lite.wall_us:,.0f} µs wall",
            ),
            (
                f"PostgreSQL, {per_write} a write",
                f"{pg.client_us:,.0f} µs in smsgate + {pg.database_us:,.0f} in PostgreSQL "
                f"({pg_total / per_write:,.0f} an order; {pg_total / lite.client_us:.1f}x "
                f"SQLite), {pg.wall_us:,.0f} µs wall",
            ),
        ]
    report(f"One order write ({writes:,} writes of each size, durable commits)", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
