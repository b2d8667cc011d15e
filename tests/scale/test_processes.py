"""The process layout of issue 8: API-only nodes, workers, ``serve --workers N``, and SMPP binds
owned by one worker at a time. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from smsgate.delivery.ownership import BINDS_LEASE
from smsgate.domain.states import MessageState
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from tests.api.helpers import Deployment, message_rows, send_ok, state, wait_for
from tests.conftest import Account
from tests.hardening.helpers import sample, scrape
from tests.scale.processes import WorkerProcess, lease_holders, spawned_children
from tests.server import ServerProcess, http_client
from tests.smpp_interop.gateway import TEST_CONNECTOR, numbers, send_bulk, settings_file
from tests.smpp_interop.smsc import NodeSmsc, node_ready

FAST = {"simulator_delay": "0.1", "ownership_lease_seconds": "1.5"}


def deployment(process: ServerProcess, database: Database) -> Deployment:
    return Deployment(process, database, AccountAdmin(database), http_client(process.url))


def test_an_api_only_node_queues_and_a_worker_delivers(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    api = ServerProcess(database_url, tmp_path, **FAST).start("--no-dispatch")
    worker = WorkerProcess(database_url, tmp_path, "worker", **FAST)
    try:
        account = deployment(api, database).make_account()
        ids = [send_ok(account, f"791655500{n}1")[0] for n in range(3)]
        # Nothing delivers on an API-only node: the parts wait in the queue.
        wait_for(lambda: all(state(account, i)["State"] == -1 for i in ids))
        rows = message_rows(database, ids)
        assert {row.state for row in rows.values()} == {MessageState.QUEUED.value}
        worker.start()
        wait_for(lambda: all(state(account, i)["State"] == 0 for i in ids), timeout=20)
        assert worker.stop() == 0
    finally:
        worker.kill()
        api.stop()


def test_serve_workers_runs_api_processes_and_a_worker_and_restarts_them(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    supervisor = ServerProcess(database_url, tmp_path, **FAST).start("--workers", "2")
    assert supervisor.process is not None
    pid = supervisor.process.pid
    try:
        children = wait_for(lambda: len(c := spawned_children(pid)) == 3 and c, 30)
        account = deployment(supervisor, database).make_account()
        sent = send_ok(account, "79165550010")
        wait_for(lambda: state(account, sent[0])["State"] == 0, timeout=20)
        for _ in range(10):  # on the client's one connection: all to one API process
            state(account, sent[0])

        # /metrics counts every process, whichever API process a scrape reaches: the worker's
        # delivery and connector, and the requests the other API process answered.
        def counted() -> bool:
            samples = scrape(f"{supervisor.url}/metrics")  # a new connection each time
            return (
                sample(samples, "smsgate_requests_total", endpoint="state", code="0") >= 11
                and sample(samples, "smsgate_parts_total", outcome="delivered") == 1
                and sample(samples, "smsgate_connector_up", connector="simulator") == 1
            )

        # Each process publishes its counts every second: once they are out, every scrape
        # agrees, whichever process answers it.
        wait_for(lambda: all(counted() for _ in range(8)), timeout=15)

        api_children = [c for c in children if _listens(c, supervisor.port)]
        assert len(api_children) == 2
        # The port is shared among its API processes only: another smsgate cannot join.
        second = subprocess.run(
            [sys.executable, "-m", "smsgate", "serve", "--workers", "2"],
            cwd=tmp_path,
            env=supervisor.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 3, second.stderr[-2000:]
        assert f"cannot listen on 127.0.0.1 port {supervisor.port}" in second.stderr
        # Connections are spread over the API processes (each has a socket of its own).
        clients = [socket.create_connection(("127.0.0.1", supervisor.port)) for _ in range(32)]
        try:
            port = supervisor.port
            spread = wait_for(lambda: sum(s := _accepted(api_children, port)) == 32 and s)
            # Uneven only by chance: at most 4 of 32 on one process has odds of about 1e-5.
            assert min(spread) > 4, spread
        finally:
            for client in clients:
                client.close()

        # An API process that dies is replaced; the others answer meanwhile.
        os.kill(api_children[0].pid, signal.SIGKILL)
        # A new connection for each request: those of the killed process are reset.
        account.client = http_client(
            supervisor.url, limits=httpx.Limits(max_keepalive_connections=0)
        )
        for _ in range(20):
            assert state(account, sent[0])["State"] == 0
        pids = {c.pid for c in children}
        wait_for(lambda: len(c := spawned_children(pid)) == 3 and c, 30)
        replaced = {c.pid for c in spawned_children(pid)}
        assert api_children[0].pid not in replaced and len(replaced - pids) == 1
        supervisor.wait_ready()

        supervisor.stop()  # SIGTERM: every child stops gracefully
        assert not any(psutil.pid_exists(pid) for pid in replaced)
    finally:
        supervisor.kill()


def _accepted(processes: list[psutil.Process], port: int) -> list[int]:
    """How many connections to ``port`` each of ``processes`` holds."""
    return [
        sum(
            connection.status == psutil.CONN_ESTABLISHED and connection.laddr.port == port
            for connection in process.net_connections("tcp")
        )
        for process in processes
    ]


def _listens(process: psutil.Process, port: int) -> bool:
    return any(
        connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
        for connection in process.net_connections("tcp")
    )


@pytest.fixture
def node_smsc() -> Iterator[NodeSmsc]:
    reason = node_ready()
    if reason is not None:
        pytest.fail(reason)
    smsc = NodeSmsc().start()
    yield smsc
    smsc.stop()


def test_the_smpp_binds_are_run_by_one_worker_and_taken_over_together_when_it_dies(
    database: Database, database_url: str, tmp_path: Path, node_smsc: NodeSmsc
) -> None:
    """Two connectors, three workers: one worker binds both, the others stand by and, once it
    dies, one of them binds both in its turn; split between them, each worker would claim the
    other's parts too and put them back for it a retry delay later."""
    other_smsc = NodeSmsc().start()
    smscs = {"main": node_smsc, "other": other_smsc}
    config = settings_file(
        tmp_path / "smpp.toml",
        {name: {**TEST_CONNECTOR, "port": smsc.port} for name, smsc in smscs.items()},
        [("7916", ["main"]), ("7917", ["other"])],
    )
    smpp = {**FAST, "config": str(config)}
    api = ServerProcess(database_url, tmp_path, **smpp).start("--no-dispatch")
    workers = [WorkerProcess(database_url, tmp_path, f"worker-{n}", **smpp) for n in (1, 2, 3)]
    try:
        for worker in workers:
            worker.start()
        account = deployment(api, database).make_account()
        for run in (1, 2):
            for smsc in smscs.values():
                smsc.wait_event(lambda event: event["event"] == "bound", timeout=20)
            _send_delivered(account, [*numbers("7916", 10), *numbers("7917", 10)])
            owner = next(w for w in workers if f":{w.pid}:" in _lease_holder(database))
            # Both binds are the owner's, once each; the standbys bound neither.
            assert [smsc.stats()["binds"] for smsc in smscs.values()] == [run, run]
            for worker in workers:
                expected = {smsc.port for smsc in smscs.values()} if worker is owner else set()
                assert _smsc_ports(worker.pid, smscs.values()) == expected
            if run == 1:
                owner.kill()
                workers.remove(owner)
    finally:
        for worker in workers:
            worker.kill()
        api.stop()
        other_smsc.stop()


def _send_delivered(account: Account, destinations: list[str]) -> None:
    sent = send_bulk(account, destinations, "Through either bind")
    wait_for(lambda: all(state(account, i)["State"] == 0 for i in sent), timeout=20)


def _smsc_ports(pid: int, smscs: Iterable[NodeSmsc]) -> set[int]:
    """The ports of ``smscs`` that the process has a connection to."""
    ports = {smsc.port for smsc in smscs}
    connections = psutil.Process(pid).net_connections("tcp")
    return {c.raddr.port for c in connections if c.raddr and c.raddr.port in ports}


def _lease_holder(database: Database) -> str:
    holders = database.read_sync(lease_holders)
    name = "delivery" if database.dialect == "sqlite" else BINDS_LEASE
    return holders[name][0]
