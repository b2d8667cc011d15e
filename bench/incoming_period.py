"""One ``Incoming`` request for a period holding many messages: seconds to answer, and the
server's peak RSS growth beside the size of the answer it sent (the answer goes out page by
page, so the growth stays flat however long the period).

Run: ``.venv/bin/python -m bench.incoming_period [messages]`` (200,000 by default).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from tests.server import http_client

from bench.harness import PeakMemory, bench_account, bench_server, report
from smsgate.store.schema import accounts, incoming_messages

START = datetime(2025, 3, 1, tzinfo=UTC)
PERIOD = {"minDateUTC": "2025-03-01T00:00:00", "maxDateUTC": "2025-03-02T00:00:00"}


def main(messages: int) -> None:
    with bench_server() as (server, admin):
        login, session_id = bench_account(server, admin)
        database = admin.database
        account_id = database.read_sync(
            lambda c: c.execute(select(accounts.c.id).where(accounts.c.login == login))
        ).scalar_one()
        rows = [
            {
                "account_id": account_id,
                "prefix": "",
                "source": f"7911{index:07d}",
                "destination": "2420",
                "text": f"Incoming message number {index}, a reply",
                "connector": "bench",
                # A hundred a second: a million still fit in the period's day.
                "created_at": START + timedelta(milliseconds=10 * index),
            }
            for index in range(messages)
        ]
        database.write_sync(lambda c: c.execute(incoming_messages.insert(), rows))
        assert server.process is not None
        peak = PeakMemory(server.process.pid)
        # Made before the clock starts: making a client takes 37 ms (its SSL context).
        with http_client(server.url, timeout=300) as client:
            started = time.perf_counter()
            response = client.get("/rest/Incoming/", params={"sessionId": session_id, **PERIOD})
            seconds = time.perf_counter() - started
        growth = peak.growth_mib()
    response.raise_for_status()
    answered = len(response.json())
    assert answered == messages, answered
    size = len(response.content) / 2**20
    report(
        f"Incoming: one request for a period of {messages:,} messages (embedded default)",
        [
            ("seconds to answer", f"{seconds:.2f}"),
            ("answer size", f"{size:,.0f} MiB"),
            ("server peak RSS growth", f"{growth:,.0f} MiB"),
            ("peak RSS growth / answer size", f"{growth / size:.0%}"),
        ],
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
