"""50,000 parts from accepted to state 0 (Delivered) through the simulated SMSC with delay 0.

Run: ``.venv/bin/python -m bench.pipeline [parts]``. Target: at least 5,000 parts/s.
"""

from __future__ import annotations

import asyncio
import sys
import time

from tests.server import ServerProcess, http_client

from bench.harness import bench_account, bench_server, report
from bench.loadgen import post_request, request_once

BULK = 5_000


def main(parts: int) -> None:
    with bench_server(simulator_delay="0") as (server, admin):
        _, session_id = bench_account(server, admin)
        accepted, seconds = accept_and_deliver(server, session_id, parts)
    report(
        f"{parts:,} parts accepted -> Delivered (simulator delay 0)",
        [
            ("seconds to accept all", f"{accepted:.2f}"),
            ("seconds until all Delivered", f"{seconds:.2f}"),
            ("parts/s end to end", f"{parts / seconds:,.0f} (target >= 5,000)"),
        ],
    )


def accept_and_deliver(server: ServerProcess, session_id: str, parts: int) -> tuple[float, float]:
    """Send ``parts`` one-part messages by SendBulk, wait until all are Delivered; (seconds
    until all were accepted, seconds until all were Delivered)."""
    started = time.perf_counter()
    for first in range(0, parts, BULK):
        # Ending in 1: never the simulator's 0000 (NotDelivered) or 9999 (no report).
        numbers = ",".join(
            str(79_160_000_001 + 10 * i) for i in range(first, min(parts, first + BULK))
        )
        request = post_request(
            "/rest/Send/SendBulk/",
            {
                "sessionId": session_id,
                "sourceAddress": "SMS Info",
                "destinationAddresses": numbers,
                "data": "Your parcel is on its way.",
            },
        )
        status, body = asyncio.run(request_once(server.port, request))
        assert status == 200, body[:300]
    accepted = time.perf_counter() - started
    statistic: dict[str, int] = {}
    # One client: making one costs 37 ms of CPU, taken from the server every poll.
    with http_client(server.url) as client:
        while time.perf_counter() - started < 300:
            statistic = client.get(
                "/rest/Statistic/", params={"sessionId": session_id, **_today()}
            ).json()
            if statistic.get("Delivered") == parts:
                break
            time.sleep(0.1)
    assert statistic.get("Delivered") == parts, statistic
    return accepted, time.perf_counter() - started


def _today() -> dict[str, str]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return {
        "startDateTime": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "endDateTime": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
    }


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
