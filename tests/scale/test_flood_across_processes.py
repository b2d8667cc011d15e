"""The flood limit holds across real API processes on one database: three ``serve
--no-dispatch`` processes take sends to one number from one account at the same time, and
between them accept exactly the limit.

Each process decides its own orders (``OrderDesk``), so the limit holds only if a write counts
the messages another process is committing meanwhile: on PostgreSQL the account's row is locked
before the recent messages are read, on SQLite one write runs at a time (``BEGIN IMMEDIATE``).
``tests/api/test_flood_processes.py`` checks the same with platforms in one process; here each is
a process of its own, with its own event loop, connections and caches.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import Connection, select

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.schema import messages
from tests.api.helpers import PHONE, assert_error, assert_ids, assert_ok, balance, send_sms
from tests.conftest import Account, new_account
from tests.server import ServerProcess, http_client

FLOOD_LIMIT = 5
SERVERS = 3
THREADS_PER_SERVER = 4
SENDS_PER_THREAD = 3  # 36 sends in all: 31 over the limit
BALANCE = 1000  # one credit a part at the default price


def test_the_flood_limit_holds_across_api_processes(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    settings = {"flood_limit": str(FLOOD_LIMIT), "flood_window_seconds": "60"}
    servers = [ServerProcess(database_url, tmp_path, **settings) for _ in range(SERVERS)]
    try:
        with ThreadPoolExecutor(SERVERS) as pool:  # started side by side: a second, not three
            for started in [pool.submit(server.start, "--no-dispatch") for server in servers]:
                started.result()
        with http_client(servers[0].url) as client:
            account = new_account(AccountAdmin(database), client, balance=str(BALANCE))
            responses = _send_together(account, servers)

            accepted: list[str] = []
            for response in responses:
                if response.status_code == 200:
                    accepted += [str(i) for i in assert_ids(assert_ok(response), 1)]
                else:
                    assert_error(response, 10, f"Too many messages to {PHONE}, try again later")
            assert len(accepted) == FLOOD_LIMIT, accepted
            # The database is this test's own: every part stored is one of the answered ones.
            assert sorted(database.read_sync(_stored_ids)) == sorted(map(int, accepted))
            assert balance(account) == BALANCE - FLOOD_LIMIT  # no refused send was charged
    finally:
        for server in servers:
            server.stop()


def _send_together(account: Account, servers: list[ServerProcess]) -> list[httpx.Response]:
    """Every thread sends SENDS_PER_THREAD messages to PHONE, one after another, through its
    own connection to its server; the threads start together. Every answer, in no order."""
    threads = len(servers) * THREADS_PER_SERVER
    start = threading.Barrier(threads)

    def sender(server: ServerProcess) -> list[httpx.Response]:
        with http_client(server.url) as client:
            own = dataclasses.replace(account, client=client)
            client.get("/healthz")  # connected before the start: the sends go out together
            start.wait(timeout=30)
            return [send_sms(own, PHONE, "Hi") for _ in range(SENDS_PER_THREAD)]

    with ThreadPoolExecutor(threads) as pool:
        runs = [pool.submit(sender, servers[n % len(servers)]) for n in range(threads)]
        return [response for run in runs for response in run.result()]


def _stored_ids(connection: Connection) -> list[int]:
    return list(connection.execute(select(messages.c.id)).scalars())
