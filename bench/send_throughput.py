"""SendSms requests per second with 32 keep-alive clients, beside the bare route of the same
server, on the embedded default (SQLite, dispatcher and simulated SMSC in the process).

Run: ``.venv/bin/python -m bench.send_throughput [seconds]``. Targets: at least 3,000
SendSms/s and at least 35% of the bare route.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator

from bench.harness import bench_account, bench_server, report
from bench.loadgen import get_request, post_request, run_load


def sms_requests(session_id: str, numbers: Iterator[int]) -> Callable[[], bytes]:
    """Makes a SendSms request to the next of ``numbers`` at each call."""

    def send_sms() -> bytes:
        return post_request(
            "/rest/Send/SendSms/",
            {
                "sessionId": session_id,
                "sourceAddress": "SMS Info",
                "destinationAddress": str(next(numbers)),
                "data": "Your code is 4242. It expires in 10 minutes.",
            },
        )

    return send_sms


def main(seconds: float, **settings: str) -> None:
    with bench_server(**settings) as (server, admin):
        _, session_id = bench_account(server, admin)
        send_sms = sms_requests(session_id, itertools.count(79_160_000_000))
        assert server.process is not None
        pid = server.process.pid

        bare_request = get_request("/healthz")
        run_load(server.port, send_sms, seconds=1)  # warm up
        bare = run_load(server.port, lambda: bare_request, seconds=seconds, server_pid=pid)
        sends = run_load(server.port, send_sms, seconds=seconds, server_pid=pid)
    assert set(sends.statuses) == {200}, sends.statuses
    report(
        "SendSms with 32 keep-alive clients (embedded default)",
        [
            ("bare route req/s", f"{bare.rate:,.0f}"),
            ("SendSms req/s", f"{sends.rate:,.0f} (target >= 3,000)"),
            ("SendSms / bare", f"{sends.rate / bare.rate:.0%} (target >= 35%)"),
            ("server CPU per bare request", f"{bare.cpu_per_request_us:.0f} µs"),
            # Includes the dispatch and delivery report of the parts accepted in the run.
            ("server CPU per SendSms", f"{sends.cpu_per_request_us:.0f} µs"),
        ],
    )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
