"""One SendBulk of 100,000 recipients: seconds to answer and the server's peak RSS growth.

Run: ``.venv/bin/python -m bench.bulk [recipients]``. Targets: under 3 s and under 250 MB.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

from bench.harness import PeakMemory, bench_account, bench_server, cpu_seconds, report
from bench.loadgen import post_request, request_once


def main(recipients: int) -> None:
    numbers = ",".join(str(79_160_000_000 + i * 7) for i in range(recipients))
    with bench_server(dispatch="false") as (server, admin):
        _, session_id = bench_account(server, admin)
        assert server.process is not None
        pid = server.process.pid
        request = post_request(
            "/rest/Send/SendBulk/",
            {
                "sessionId": session_id,
                "sourceAddress": "SMS Info",
                "destinationAddresses": numbers,
                "data": "Sale! 20% off everything this weekend only.",
            },
        )
        memory = PeakMemory(pid)
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        status, body = asyncio.run(request_once(server.port, request))
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        growth_mib = memory.growth_mib()
    assert status == 200, body[:300]
    ids = orjson.loads(body)
    assert len(ids) == recipients, len(ids)
    report(
        f"SendBulk of {recipients:,} recipients (embedded default, dispatcher off)",
        [
            ("seconds to answer", f"{seconds:.2f} (target < 3)"),
            ("server CPU seconds", f"{cpu:.2f} (the same work on an idle machine)"),
            ("recipients/s", f"{recipients / seconds:,.0f}"),
            ("peak RSS growth", f"{growth_mib:.0f} MiB (target < 250)"),
        ],
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
