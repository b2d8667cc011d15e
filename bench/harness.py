"""Starting a benchmark server with an account, and reporting figures."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
from tests.server import ServerProcess

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade

BENCH_PASSWORD = "bench-password"


@contextmanager
def bench_server(**settings: str) -> Iterator[tuple[ServerProcess, AccountAdmin]]:
    """A real server on a fresh SQLite file, and the admin of its database."""
    with tempfile.TemporaryDirectory(prefix="smsgate-bench-") as workdir:
        server = ServerProcess(f"sqlite:///{Path(workdir) / 'bench.db'}", Path(workdir), **settings)
        database = Database(server.database_url)
        upgrade(database.write_engine)
        server.start()
        try:
            yield server, AccountAdmin(database)
        finally:
            server.stop()
            database.close()


def bench_account(
    server: ServerProcess, admin: AccountAdmin, balance: str = "100000000"
) -> tuple[str, str]:
    """A fresh account with a large balance, no flood limit to speak of; (login, session id)."""
    login = f"bench-{uuid.uuid4().hex[:8]}"
    admin.create(
        login,
        password=BENCH_PASSWORD,
        balance=Decimal(balance),
        sender_names=["SMS Info"],
    )
    admin.set_flood_limit(login, 1_000_000, 60)
    session = httpx.get(
        f"{server.url}/rest/Session/", params={"login": login, "password": BENCH_PASSWORD}
    )
    session.raise_for_status()
    return login, str(session.json())


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status")


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
