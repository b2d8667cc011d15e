"""50,000 parts end to end over SMPP to the node-smpp SMSC, beside a bare blast of the same SMSC.

End to end: HTTP SendBulk accepted -> submit_sm -> submit_sm_resp -> delivery receipt ->
state 0 (Delivered), through a real server whose one transceiver bind has window 10, then 100.
Bare blast: the same number of submit_sm, and their receipts, by smsgate's codec and session
alone (no HTTP, no database) on the same window: the SMSC's ceiling here.

Run: ``.venv/bin/python -m bench.smpp [parts]`` (after ``make smpp-interop-deps``).
Targets: at least 4,000 parts/s end to end at window 100, and at least 70% of the bare blast.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvloop
from sqlalchemy import Connection, func, select
from tests.server import http_client
from tests.smpp_interop.gateway import settings_file
from tests.smpp_interop.smsc import PASSWORD, SYSTEM_ID, NodeSmsc, node_ready

from bench.harness import bench_account, bench_server, report
from bench.loadgen import post_request, request_once
from bench.pipeline import _today
from smsgate.delivery.connector import Encoding, OutboundPart
from smsgate.delivery.connectors.settings import SmppConnectorSettings
from smsgate.delivery.connectors.smpp import submit_sm_for
from smsgate.delivery.smpp.pdu import CommandStatus, DataSm, DeliverSm
from smsgate.delivery.smpp.session import Session
from smsgate.delivery.status import read_status
from smsgate.domain.states import MessageState
from smsgate.store.schema import messages

BULK = 5_000
TEXT = "Your parcel is on its way."
WINDOWS = (10, 100)


def connector(smsc: NodeSmsc, window: int) -> SmppConnectorSettings:
    return SmppConnectorSettings(
        host="127.0.0.1", port=smsc.port, system_id=SYSTEM_ID, password=PASSWORD, window=window
    )


def number(index: int) -> str:
    return str(79_160_000_000 + index)


async def bare_blast(settings: SmppConnectorSettings, parts: int) -> float:
    """Seconds for ``parts`` submit_sm and their receipts through one session, nothing else."""
    loop = asyncio.get_running_loop()
    receipts = 0
    all_in = loop.create_future()

    def acknowledge(_pdu: DeliverSm | DataSm) -> asyncio.Future[int]:
        # Answered at once, as the connector answers what needs no commit: no task per PDU.
        nonlocal receipts
        receipts += 1
        if receipts == parts:
            all_in.set_result(None)
        answered: asyncio.Future[int] = loop.create_future()
        answered.set_result(CommandStatus.ESME_ROK)
        return answered

    (config,) = settings.session_configs()
    session = Session(config, acknowledge)
    session.start()
    await session.bound.wait()
    expires = datetime.now(UTC) + timedelta(days=1)
    started = time.perf_counter()
    pdus = [
        submit_sm_for(
            OutboundPart(i, "SMS Info", number(i), TEXT, Encoding.GSM7, 1, 1, i, expires), settings
        )
        for i in range(parts)
    ]
    replies = await asyncio.gather(*session.submit(pdus))
    await all_in
    seconds = time.perf_counter() - started
    await session.stop()
    assert all(reply.status == CommandStatus.ESME_ROK for reply in replies)
    return seconds


def end_to_end(smsc: NodeSmsc, window: int, parts: int, workdir: Path) -> tuple[float, float]:
    """(seconds until every part is accepted by the API, seconds until all are Delivered)."""
    config = settings_file(
        workdir / f"smpp-{window}.toml",
        {"bench": {**connector(smsc, window).model_dump(mode="json", exclude_defaults=True)}},
        [],
    )
    with bench_server(config=str(config)) as (server, admin):
        _, session_id = bench_account(server, admin)
        deadline = time.monotonic() + 30
        with http_client(server.url) as client:  # one client: each costs 37 ms of CPU
            while not client.get("/healthz").is_success or not _bound(server.workdir):
                assert time.monotonic() < deadline, "the connector did not bind"
                time.sleep(0.05)
        started = time.perf_counter()
        for first in range(0, parts, BULK):
            request = post_request(
                "/rest/Send/SendBulk/",
                {
                    "sessionId": session_id,
                    "sourceAddress": "SMS Info",
                    "destinationAddresses": ",".join(
                        number(i) for i in range(first, min(parts, first + BULK))
                    ),
                    "data": TEXT,
                },
            )
            status, body = asyncio.run(request_once(server.port, request))
            assert status == 200, body[:300]
        accepted = time.perf_counter() - started
        # Watched in the database file itself, by its state index: the API's Statistic would
        # count every part of the account in the server, a load of its own at 10 polls a second.
        done = 0
        while done < parts and time.perf_counter() - started < 300:
            done = admin.database.read_sync(_delivered)
            time.sleep(0.02)
        delivered = time.perf_counter() - started
        statistic = httpx.get(
            f"{server.url}/rest/Statistic/", params={"sessionId": session_id, **_today()}
        ).json()
    assert statistic["Delivered"] == parts, statistic
    return accepted, delivered


def _delivered(connection: Connection) -> int:
    query = select(func.count()).where(messages.c.state == MessageState.DELIVERED.value)
    return int(connection.execute(query).scalar_one())


def _bound(workdir: Path) -> bool:
    status = read_status(workdir / "var")
    return status is not None and any(connector["up"] for connector in status["connectors"])


def main(parts: int) -> None:
    reason = node_ready()
    if reason is not None:
        sys.exit(reason)
    rows: list[tuple[str, str]] = []
    smsc = NodeSmsc(quiet=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="smsgate-bench-smpp-") as workdir:
            for window in WINDOWS:
                bare = uvloop.run(bare_blast(connector(smsc, window), parts))
                accepted, delivered = end_to_end(smsc, window, parts, Path(workdir))
                bare_rate, rate = parts / bare, parts / delivered
                target = " (target >= 4,000)" if window == 100 else ""
                rows += [
                    (f"window {window}: bare blast parts/s", f"{bare_rate:,.0f}"),
                    (f"window {window}: end to end parts/s", f"{rate:,.0f}{target}"),
                    (f"window {window}: seconds to accept all", f"{accepted:.2f}"),
                    (
                        f"window {window}: end to end / bare",
                        f"{rate / bare_rate:.0%} (target >= 70%)",
                    ),
                ]
    finally:
        smsc.stop()
    report(f"{parts:,} parts accepted -> submit_sm -> receipt -> Delivered (node-smpp)", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
