"""SendSms/s and parts/s end to end with 1, 2 and 4 API processes on PostgreSQL, beside the
embedded default (SQLite, one process), in one run on this machine.

Each layout is a fresh server: ``smsgate serve`` for one process (API and delivery together),
``smsgate serve --workers N`` for N API processes plus one worker process. SendSms: 32
keep-alive clients for a few seconds. End to end: parts sent by SendBulk until all are
Delivered through the simulated SMSC with delay 0.

Run: ``.venv/bin/python -m bench.scale [seconds] [parts]`` (PostgreSQL from
SMSGATE_TEST_POSTGRES_URL, the local server by default). Target: PostgreSQL with 2 processes at
least as fast as SQLite with one.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass

from bench.harness import bench_account, bench_server, report
from bench.loadgen import run_load
from bench.pipeline import accept_and_deliver
from bench.send_throughput import sms_requests


@dataclass(frozen=True)
class Layout:
    name: str
    backend: str
    api_processes: int


LAYOUTS = (
    Layout("SQLite, 1 process", "sqlite", 1),
    Layout("PostgreSQL, 1 process", "postgresql", 1),
    Layout("PostgreSQL, 2 API processes + worker", "postgresql", 2),
    Layout("PostgreSQL, 4 API processes + worker", "postgresql", 4),
)


@dataclass(frozen=True)
class Figures:
    sends_per_second: float
    parts_per_second: float


def measure(layout: Layout, seconds: float, parts: int) -> Figures:
    serve_args = ("--workers", str(layout.api_processes)) if layout.api_processes > 1 else ()
    with bench_server(layout.backend, serve_args, simulator_delay="0") as (server, admin):
        _, session_id = bench_account(server, admin)
        send_sms = sms_requests(session_id, itertools.count(79_260_000_001, 10))

        run_load(server.port, send_sms, seconds=1)  # warm up every process
        sends = run_load(server.port, send_sms, seconds=seconds)
        assert set(sends.statuses) == {200}, sends.statuses
        # A fresh account: the end-to-end count is not mixed with the SendSms run's parts.
        _, session_id = bench_account(server, admin)
        _, delivered_after = accept_and_deliver(server, session_id, parts)
    return Figures(sends.rate, parts / delivered_after)


def main(seconds: float, parts: int) -> None:
    figures = {layout: measure(layout, seconds, parts) for layout in LAYOUTS}
    sqlite = figures[LAYOUTS[0]]
    rows = []
    for layout, measured in figures.items():
        rows.append(
            (
                layout.name,
                f"SendSms {measured.sends_per_second:,.0f}/s "
                f"({measured.sends_per_second / sqlite.sends_per_second:.2f}x SQLite), "
                f"end to end {measured.parts_per_second:,.0f} parts/s "
                f"({measured.parts_per_second / sqlite.parts_per_second:.2f}x SQLite)",
            )
        )
    two = figures[LAYOUTS[2]]
    met = (
        two.sends_per_second >= sqlite.sends_per_second
        and two.parts_per_second >= sqlite.parts_per_second
    )
    rows.append(("target: PostgreSQL x2 >= SQLite x1", "met" if met else "NOT met"))
    report(f"Scale-out ({seconds:.0f} s of SendSms, {parts:,} parts end to end)", rows)


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 5.0,
        int(sys.argv[2]) if len(sys.argv) > 2 else 20_000,
    )
