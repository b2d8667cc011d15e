"""Incoming messages per second, from the simulated SMSC to stored and pushed to a receiver.

Messages are queued in the simulated SMSC's inbox (its table) in one commit; the server joins,
routes and stores each, and POSTs it (signed) to a local receiver in another process, which
counts distinct IDs.

Run: ``.venv/bin/python -m bench.incoming [messages]``. Target: at least 2,000 messages/s.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from multiprocessing.sharedctypes import Synchronized

import orjson
from sqlalchemy import func, select
from tests.server import free_port

from bench.harness import bench_account, bench_server, cpu_seconds, report
from smsgate.delivery.connectors.simulator import queue_incoming
from smsgate.services.inbound_admin import InboundAdmin
from smsgate.store.schema import incoming_messages

TARGET_PER_SECOND = 2000
NUMBER = "2420"
WARM_UP = 500


async def _serve_receiver(port: int, seen: Synchronized[int]) -> None:
    ids: set[int] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                ids.add(orjson.loads(await reader.readexactly(length))["ID"])
                seen.value = len(ids)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=1024)
    await server.serve_forever()


def run_receiver(port: int, seen: Synchronized[int]) -> None:
    """A lean keep-alive HTTP receiver that answers 200 and counts distinct pushed IDs."""
    import uvloop

    uvloop.run(_serve_receiver(port, seen))


def incoming(start: int, count: int) -> list[tuple[str, str, str]]:
    """``count`` messages (source, destination, text) to the benchmark's number."""
    return [
        (f"7911{index:07d}", NUMBER, f"message {index}") for index in range(start, start + count)
    ]


def wait_until(done: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not done in {timeout}s")
        time.sleep(0.02)


def main(messages: int) -> None:
    port = free_port()
    context = multiprocessing.get_context("spawn")
    seen: Synchronized[int] = context.Value("q", 0)
    receiver = context.Process(target=run_receiver, args=(port, seen), daemon=True)
    receiver.start()
    try:
        with bench_server() as (server, admin):
            login, _ = bench_account(server, admin)
            inbound = InboundAdmin(admin.database)
            inbound.add_number(login, NUMBER)
            inbound.set_webhook(login, f"http://127.0.0.1:{port}/push", secret="bench-secret")

            def stored() -> int:
                # The newest id, not a count: the poll must not take CPU from the server.
                query = select(func.coalesce(func.max(incoming_messages.c.id), 0))
                return int(admin.database.read_sync(lambda c: c.execute(query).scalar_one()))

            def deliver(messages: list[tuple[str, str, str]], expected: int) -> tuple[float, float]:
                """Queue the messages; seconds until stored, until pushed."""
                start = time.perf_counter()
                queue_incoming(admin.database, messages)
                wait_until(lambda: stored() >= expected)
                until_stored = time.perf_counter() - start
                wait_until(lambda: seen.value >= expected)
                return until_stored, time.perf_counter() - start

            deliver(incoming(0, WARM_UP), WARM_UP)
            load = os.getloadavg()[0]
            assert server.process is not None
            cpu_before = cpu_seconds(server.process.pid)
            stored_seconds, pushed_seconds = deliver(
                incoming(WARM_UP, messages), WARM_UP + messages
            )
            cpu_per_message = (cpu_seconds(server.process.pid) - cpu_before) / messages
    finally:
        receiver.terminate()
        receiver.join()
    stored_rate = messages / stored_seconds
    pushed_rate = messages / pushed_seconds
    report(
        f"Incoming: {messages:,} messages from the simulated SMSC, pushed signed to a receiver",
        [
            ("stored messages/s", f"{stored_rate:,.0f}"),
            ("stored and pushed messages/s", f"{pushed_rate:,.0f}"),
            (
                "stored and pushed / target",
                f"{pushed_rate / TARGET_PER_SECOND:.0%} (target >= {TARGET_PER_SECOND:,}/s)",
            ),
            ("server CPU per message", f"{cpu_per_message * 1e6:,.0f} µs"),
            ("messages/s per core at that CPU", f"{1 / cpu_per_message:,.0f}"),
            ("machine load at start (1 min)", f"{load:.1f} on {os.cpu_count()} CPUs"),
        ],
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
