"""A detailed statistics report of 1,000,000 parts: seconds to build the CSV and the XLSX, and
the peak RSS growth of the process that builds each.

Parts are seeded straight through the store (``insert_parts``, executemany in chunks), a
hundred per second of a day as bulk sends create them. Each report is ordered through the API
of a real server and timed from the order to the report being ready (so process start and
claim are in); the server's build process is sampled meanwhile for its CPU time and peak RSS
(VmHWM), and its growth is measured against the peak of an empty report's build (what the
process needs to start at all).

Run: ``.venv/bin/python -m bench.report [parts]``. Targets: CSV under 10 s, XLSX under 60 s,
RSS growth under 150 MB for either.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psutil
from sqlalchemy import select
from tests.server import ServerProcess, http_client

from bench.harness import _status_kib, bench_account, bench_server, cpu_seconds, report
from smsgate.domain.states import MessageState
from smsgate.store.accounts import find_account
from smsgate.store.database import Database
from smsgate.store.messages import PART_COLUMNS, allocate_ids, insert_parts
from smsgate.store.schema import reports

TARGET_SECONDS = {"CSV": 10.0, "XLSX": 60.0}
TARGET_GROWTH_MB = 150.0
CHUNK = 50_000
PER_SECOND = 100
START = datetime(2025, 3, 10, tzinfo=UTC)
_FINAL = [
    MessageState.DELIVERED,
    MessageState.DELIVERED,
    MessageState.NOT_DELIVERED,
    MessageState.EXPIRED,
]


def part_rows(account_id: int, first_id: int, first: int, count: int) -> Iterator[tuple[Any, ...]]:
    price = Decimal("0.55")
    for index in range(first, first + count):
        created = START + timedelta(seconds=index // PER_SECOND)
        values = {
            "id": first_id + index - first,
            "account_id": account_id,
            "group_id": first_id + index - first,
            "part_number": 1,
            "part_count": 1,
            "sender_name": "SMS Info",
            "destination": f"7916{index % 10_000_000:07d}",
            "text": f"Your code is {index % 1_000_000:06d}. Do not tell it anyone.",
            "encoding": "gsm",
            "price": price,
            "state": _FINAL[index % len(_FINAL)].value,
            "created_at": created,
            "due_at": created,
            "expires_at": created,
            "reported_at": created + timedelta(seconds=7),
            "attempts": 1,
            "callback_url": None,
            "timezone_step": None,
        }
        yield tuple(values[name] for name in PART_COLUMNS)


def seed(database: Database, account_id: int, parts: int) -> None:
    for first in range(0, parts, CHUNK):
        count = min(CHUNK, parts - first)

        def insert(connection: Any, first: int = first, count: int = count) -> None:
            first_id = allocate_ids(connection, count)
            insert_parts(connection, list(part_rows(account_id, first_id, first, count)))

        database.write_sync(insert)


class BuildWatch:
    """Samples the server's report build processes (forked by its fork server, so the
    server's grandchildren): CPU seconds and peak RSS of the last one seen."""

    def __init__(self, server_pid: int) -> None:
        self.server = psutil.Process(server_pid)
        self.cpu = 0.0
        self.peak_kib = 0

    def sample(self) -> None:
        for process in self.server.children(recursive=True):
            try:
                if process.ppid() != self.server.pid:
                    self.cpu = cpu_seconds(process.pid)
                    self.peak_kib = max(self.peak_kib, _status_kib(process.pid, "VmHWM"))
            except (psutil.NoSuchProcess, FileNotFoundError, RuntimeError):
                pass  # it just ended (a zombie has no VmHWM): the previous sample stands


def build(
    server: ServerProcess, database: Database, session_id: str, params: dict[str, str]
) -> tuple[float, BuildWatch, int]:
    """Order a report; (seconds until ready, its build process's figures, its rows)."""
    assert server.process is not None
    watch = BuildWatch(server.process.pid)
    # Made before the clock starts: making a client takes 37 ms (its SSL context).
    with http_client(server.url) as client:
        started = time.perf_counter()
        response = client.post(
            "/rest/Statistic/all_stat.php", data={"sessionId": session_id, **params}
        )
    response.raise_for_status()
    query = select(reports.c.status, reports.c.row_count).where(reports.c.id == response.json())
    while True:
        watch.sample()
        status, rows = database.read_sync(lambda c: c.execute(query).one())
        if status != "building":
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    assert status == "ready", status
    return seconds, watch, int(rows)


def python_speed() -> float:
    """Millions of iterations of a plain loop per second: to compare machines' figures."""
    started = time.process_time()
    total = 0
    for index in range(3_000_000):
        total += index
    return 3 / (time.process_time() - started)


def main(parts: int) -> None:
    whole = {"startTime": "2025-01-01T00:00:00", "endTime": "2026-01-01T00:00:00"}
    # Reports are built by the process that delivers (the seeded parts are final: nothing
    # else is dispatched meanwhile).
    with bench_server() as (server, admin):
        login, session_id = bench_account(server, admin)
        database = Database(server.database_url)
        found = database.read_sync(lambda c: find_account(c, login=login))
        assert found is not None
        started = time.perf_counter()
        seed(database, found.id, parts)
        seeded = time.perf_counter() - started
        empty = {"startTime": "2024-01-01T00:00:00", "endTime": "2024-01-02T00:00:00"}
        _, idle, _ = build(server, database, session_id, empty)
        results = {
            name: build(server, database, session_id, {**whole, "type_load": type_load})
            for name, type_load in (("CSV", "0"), ("XLSX", "1"))
        }
        database.close()
    rows: list[tuple[str, str]] = [
        ("parts seeded", f"{parts:,} in {seeded:.1f} s"),
        ("python speed", f"{python_speed():.1f} M loop iterations/s (compare machines by it)"),
        ("build process at start", f"{idle.peak_kib / 1024:.0f} MB peak RSS"),
    ]
    for name, (seconds, watch, listed) in results.items():
        assert listed == parts, (name, listed)
        target = TARGET_SECONDS[name]
        growth = (watch.peak_kib - idle.peak_kib) / 1024
        rows += [
            (
                f"{name} seconds",
                f"{seconds:.1f} = {seconds / target:.0%} of the {target:.0f} s target",
            ),
            (f"{name} build CPU seconds", f"{watch.cpu:.1f} (the same work on an idle machine)"),
            (
                f"{name} peak RSS growth",
                f"{growth:.0f} MB = {growth / TARGET_GROWTH_MB:.0%} of the 150 MB target",
            ),
        ]
    report(f"Detailed statistics of {parts:,} parts (all_stat.php, whole period)", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
