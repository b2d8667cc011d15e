"""Starting a benchmark server with an account, and reporting figures."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
from tests.databases import Databases
from tests.server import ServerProcess

from smsgate.config import Settings
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import open_migrated

BENCH_PASSWORD = "bench-password"


@contextmanager
def bench_database(backend: str = "sqlite") -> Iterator[tuple[str, Database, Path]]:
    """A fresh database of ``backend`` (a SQLite file, or a database made on the PostgreSQL of
    SMSGATE_TEST_POSTGRES_URL), migrated: its URL, the database, and a work folder."""
    databases = Databases.open(backend)
    try:
        with tempfile.TemporaryDirectory(prefix="smsgate-bench-") as workdir:
            url = databases.create(Path(workdir))
            database = open_migrated(url)
            try:
                yield url, database, Path(workdir)
            finally:
                database.close()
    finally:
        databases.close()


@contextmanager
def bench_server(
    backend: str = "sqlite", serve_args: Sequence[str] = (), **settings: str
) -> Iterator[tuple[ServerProcess, AccountAdmin]]:
    """A real server (``smsgate serve *serve_args``) on a fresh database of ``backend``
    (``bench_database``), and the admin of its database."""
    # The tests' servers check their caches five times as often as the default, which each
    # API process pays for in reads: a benchmark measures the default.
    refresh = Settings.model_fields["cache_refresh_seconds"].default
    settings = {"cache_refresh_seconds": str(refresh), **settings}
    with bench_database(backend) as (url, database, workdir):
        server = ServerProcess(url, workdir, **settings)
        try:
            server.start(*serve_args)
            yield server, AccountAdmin(database)
        finally:
            server.stop()


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


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


class PeakMemory:
    """Peak RSS growth of a process over a stretch of work (Linux: resets the VmHWM mark)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
        self.start_kib = _status_kib(pid, "VmRSS")

    def growth_mib(self) -> float:
        return (_status_kib(self.pid, "VmHWM") - self.start_kib) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (a supervisor's API processes and worker)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found.extend(process_tree(int(child)))
    return found


def database_backends(database: Database) -> list[int]:
    """The process ids of PostgreSQL's backends serving ``database``; none on SQLite."""
    if database.dialect != "postgresql":
        return []
    query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    pids = database.read_sync(lambda c: c.exec_driver_sql(query).scalars().all())
    return [int(pid) for pid in pids]


def spent_cpu(pids: list[int]) -> dict[int, float]:
    """The CPU seconds each process has used, of those still running."""
    spent = {}
    for pid in pids:
        try:
            spent[pid] = cpu_seconds(pid)
        except FileNotFoundError:  # it ended meanwhile
            continue
    return spent


class CpuWatch:
    """CPU time spent over a stretch of work by the server's processes and, on PostgreSQL, by
    the database server's backends serving the server's database."""

    def __init__(self, server: ServerProcess, admin: AccountAdmin) -> None:
        assert server.process is not None
        self.server_pid = server.process.pid
        self.database = admin.database
        self.start = (
            spent_cpu(process_tree(self.server_pid)),
            spent_cpu(database_backends(self.database)),
        )

    def seconds(self) -> tuple[float, float]:
        """CPU seconds since the watch began: (server processes, database backends)."""
        server_before, database_before = self.start
        server_now = spent_cpu(process_tree(self.server_pid))
        database_now = spent_cpu(database_backends(self.database))
        return (
            sum(now - server_before.get(pid, 0.0) for pid, now in server_now.items()),
            sum(now - database_before.get(pid, 0.0) for pid, now in database_now.items()),
        )


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
