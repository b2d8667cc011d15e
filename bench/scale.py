"""SendSms/s and parts/s end to end with 1, 2 and 4 API processes on PostgreSQL, beside the
embedded default (SQLite, one process), in one run on this machine.

Each layout is a fresh server: ``smsgate serve`` for one process (API and delivery together),
``smsgate serve --workers N`` for N API processes plus one worker process. SendSms: 32
keep-alive clients for a few seconds, and the CPU each costs in all the processes, the
database server's included. End to end: parts sent by SendBulk until all are Delivered
through the simulated SMSC with delay 0.

Run: ``.venv/bin/python -m bench.scale [seconds] [parts] [rounds]`` (PostgreSQL from
SMSGATE_TEST_POSTGRES_URL, the local server by default; 3 rounds, the layouts taking turns).
Target: PostgreSQL with 2 processes at least as fast as SQLite with one.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from statistics import median

from bench.harness import CpuWatch, bench_account, bench_server, report
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
    # CPU per SendSms, in microseconds, over all the layout's processes (API, worker) and the
    # database server's backends: on 2 cores, what bounds the rate once the cores are busy.
    server_cpu_per_send: float
    database_cpu_per_send: float


def measure(layout: Layout, seconds: float, parts: int) -> Figures:
    serve_args = ("--workers", str(layout.api_processes)) if layout.api_processes > 1 else ()
    with bench_server(layout.backend, serve_args, simulator_delay="0") as (server, admin):
        _, session_id = bench_account(server, admin)
        send_sms = sms_requests(session_id, itertools.count(79_260_000_001, 10))

        run_load(server.port, send_sms, seconds=1)  # warm up every process
        watch = CpuWatch(server, admin)
        sends = run_load(server.port, send_sms, seconds=seconds)
        server_cpu, database_cpu = watch.seconds()
        assert set(sends.statuses) == {200}, sends.statuses
        # A fresh account: the end-to-end count is not mixed with the SendSms run's parts.
        _, session_id = bench_account(server, admin)
        _, delivered_after = accept_and_deliver(server, session_id, parts)
    return Figures(
        sends.rate,
        parts / delivered_after,
        server_cpu / sends.requests * 1e6,
        database_cpu / sends.requests * 1e6,
    )


def main(seconds: float, parts: int, rounds: int) -> None:
    # Layouts take turns, round after round: runs minutes apart on a shared machine differ by
    # up to a third, so each ratio is taken within a round and the median of them reported.
    runs: dict[Layout, list[Figures]] = {layout: [] for layout in LAYOUTS}
    for _ in range(rounds):
        for layout in LAYOUTS:
            runs[layout].append(measure(layout, seconds, parts))
    sqlite = runs[LAYOUTS[0]]
    rows = []
    met = False
    for layout, measured in runs.items():
        sends = _ratio(measured, sqlite, "sends_per_second")
        delivered = _ratio(measured, sqlite, "parts_per_second")
        rows.append(
            (
                layout.name,
                f"SendSms {_spread([m.sends_per_second for m in measured])}/s "
                f"({sends:.2f}x SQLite), end to end "
                f"{_spread([m.parts_per_second for m in measured])} parts/s "
                f"({delivered:.2f}x SQLite); CPU per SendSms "
                f"{median(m.server_cpu_per_send for m in measured):,.0f} µs in smsgate"
                + _database_cpu(layout, measured),
            )
        )
        if layout is LAYOUTS[2]:
            met = sends >= 1 and delivered >= 1
    rows.append(("target: PostgreSQL x2 >= SQLite x1", "met" if met else "NOT met"))
    title = f"Scale-out ({seconds:.0f} s of SendSms, {parts:,} parts end to end"
    report(f"{title}, {rounds} round{'s' if rounds > 1 else ''}; medians)", rows)


def _ratio(measured: list[Figures], reference: list[Figures], figure: str) -> float:
    """The median over the rounds of ``figure`` against the reference's in the same round."""
    return float(
        median(
            getattr(run, figure) / getattr(base, figure)
            for run, base in zip(measured, reference, strict=True)
        )
    )


def _database_cpu(layout: Layout, measured: list[Figures]) -> str:
    if layout.backend == "sqlite":
        return ""
    return f" + {median(m.database_cpu_per_send for m in measured):,.0f} µs in PostgreSQL"


def _spread(values: list[float]) -> str:
    """The median, and the range when there are several."""
    if len(values) == 1:
        return f"{values[0]:,.0f}"
    return f"{median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 5.0,
        int(sys.argv[2]) if len(sys.argv) > 2 else 20_000,
        int(sys.argv[3]) if len(sys.argv) > 3 else 3,
    )
