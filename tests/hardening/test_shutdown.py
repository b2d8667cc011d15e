"""Graceful shutdown: SIGTERM stops accepting, finishes the requests and the dispatcher's
batches in flight and takes delivery reports for a grace period; a second SIGTERM, or the
timeout, stops at once. Either way nothing acknowledged is lost."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from smsgate.domain.states import MessageState
from smsgate.store.schema import messages
from tests.api.helpers import (
    SENDER,
    Deployment,
    assert_error,
    assert_ids,
    assert_ok,
    creds,
    message_rows,
    send_ok,
    state,
    statistic,
    wait_for,
)
from tests.api.test_durability import check_simulator, simulator_count, simulator_takes
from tests.databases import Databases, write_lock_held
from tests.hardening.helpers import (
    FORM,
    accepted,
    read_response,
    request_head,
    send_head_in_flight,
)
from tests.server import ServerProcess

PARTS = 20_000
BULK = 10_000


def running(deployment: Deployment) -> subprocess.Popen[bytes]:
    return running_process(deployment.process)


def running_process(server: ServerProcess) -> subprocess.Popen[bytes]:
    assert server.process is not None
    return server.process


def parts_by_state(deployment: Deployment) -> dict[str, int]:
    def count(connection: Any) -> dict[str, int]:
        rows = connection.execute(select(messages.c.state, func.count()).group_by(messages.c.state))
        return {state: number for state, number in rows}

    return deployment.database.read_sync(count)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True  # reset: the connect was in the backlog of the listener as it closed
    return False


def test_sigterm_in_a_20000_part_run_answers_the_request_in_flight_exits_and_loses_nothing(
    spawn: Callable[..., Deployment],
) -> None:
    deployment = spawn(simulator_delay="0.2", report_grace_seconds="5")
    account = deployment.make_account(balance=str(PARTS + 1), price=Decimal("1"))
    ids: list[int] = []
    for first in range(0, PARTS, BULK):
        # Ending in 12: the simulator delivers them all.
        numbers = ",".join(f"7900{first + n:05d}12" for n in range(BULK))
        bulk = {**creds(account), "sourceAddress": SENDER, "destinationAddresses": numbers}
        response = deployment.client.post("/rest/Send/SendBulk/", data={**bulk, "data": "Run"})
        ids += assert_ids(assert_ok(response), BULK)
    port = deployment.process.port
    one_more = {**creds(account), "sourceAddress": SENDER, "destinationAddress": "79001234512"}
    body = urlencode({**one_more, "data": "In flight"}).encode()
    with accepted(port) as sock:
        send_head_in_flight(sock, request_head("/rest/Send/SendSms/", FORM, len(body)))
        sock.sendall(body[:10])
        wait_for(lambda: simulator_count(deployment) >= 2000, timeout=30, interval=0.005)
        running(deployment).send_signal(signal.SIGTERM)
        wait_for(lambda: refuses_connections(port))  # no new connection is taken ...
        sock.sendall(body[10:])
        in_flight = read_response(sock)  # ... but the request in flight is answered
    assert in_flight.status == 200
    in_flight_ids = in_flight.json()
    assert isinstance(in_flight_ids, list), in_flight_ids
    ids += [int(part_id) for part_id in in_flight_ids]
    assert running(deployment).wait(60) == 0
    deployment.process.stop()  # forgets the exited process, so that it can start again
    assert "the dispatcher finished its work in flight" in deployment.process.log_path.read_text()
    states = parts_by_state(deployment)
    # Stopped mid-run with no batch half done: each part is still queued, or the SMSC took it
    # (its table says so) and its report, due within the grace period, was recorded.
    assert MessageState.SUBMITTING not in states and MessageState.SENT not in states, states
    delivered = states.get(MessageState.DELIVERED, 0)
    assert 0 < delivered < len(ids) and states[MessageState.QUEUED] == len(ids) - delivered
    first_run = simulator_takes(deployment)
    assert len(first_run) == delivered
    deployment.process.start()

    def finished() -> dict[str, int] | None:
        figures = statistic(account)
        return figures if figures["InProgress"] == 0 else None

    figures = wait_for(finished, timeout=60, interval=0.2)
    assert (figures["Sent"], figures["Delivered"]) == (len(ids), len(ids)), figures
    check_simulator(deployment, ids)
    # Every part went to the SMSC exactly once over the two runs.
    assert simulator_takes(deployment) == dict.fromkeys(ids, 1)


SECOND_SIGNAL = "a second signal"
TIMEOUT = "the shutdown timeout"


@pytest.mark.parametrize(
    ("cut_short_by", "while_answering"),
    [(SECOND_SIGNAL, False), (SECOND_SIGNAL, True), (TIMEOUT, False)],
    ids=["second signal in the grace period", "second signal in a request", "timeout"],
)
def test_a_second_sigterm_or_the_timeout_stops_at_once_losing_nothing(
    spawn: Callable[..., Deployment], cut_short_by: str, while_answering: bool
) -> None:
    timeout = 1 if cut_short_by == TIMEOUT else 30
    deployment = spawn(
        simulator_delay="0.2",
        report_grace_seconds="60",
        shutdown_timeout_seconds=str(timeout),
    )
    account = deployment.make_account()
    (silent,) = send_ok(account, "79001239999")  # the simulator never reports it
    (delivered,) = send_ok(account, "79001234567")
    wait_for(
        lambda: (
            state(account, silent)["StateDescription"] == "Sent"
            and state(account, delivered)["State"] == 0
        )
    )
    process = running(deployment)
    # Taken by the server first: one still in the listening queue a stop closes unanswered,
    # and the case would quietly become the grace period's.
    with accepted(deployment.process.port) as sock:
        if while_answering:  # a request whose body never comes holds the first stage
            sock.sendall(request_head("/rest/Send/SendSms/", FORM, 1000) + b"login=")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        if cut_short_by == SECOND_SIGNAL:
            time.sleep(1)
            assert process.poll() is None  # waiting for the request, or for the silent report
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    assert time.monotonic() - started < timeout + 2
    deployment.process.stop()
    assert f"shutdown cut short by {cut_short_by}" in deployment.process.log_path.read_text()
    rows = message_rows(deployment.database, [silent, delivered])
    assert {part_id: row.state for part_id, row in rows.items()} == {
        int(silent): MessageState.SENT,
        int(delivered): MessageState.DELIVERED,
    }
    assert simulator_takes(deployment) == {int(silent): 1, int(delivered): 1}
    assert sum(parts_by_state(deployment).values()) == 2  # the request unanswered made none


@pytest.mark.parametrize("databases", ["sqlite"], indirect=True)
def test_a_request_the_shutdown_timeout_cuts_short_answers_code_9_in_json(
    spawn: Callable[..., Deployment],
) -> None:
    """Not the server's plain-text 500 and a traceback: an API answer, and one log line."""
    deployment = spawn(shutdown_timeout_seconds="1", lock_wait_seconds="3")
    account = deployment.make_account()
    send = {**creds(account), "sourceAddress": SENDER, "destinationAddress": "79001234567"}
    with (
        write_lock_held(deployment.process.database_url),
        ThreadPoolExecutor(max_workers=1) as client,
    ):
        answer = client.submit(
            account.client.post, "/rest/Send/SendSms/", data={**send, "data": "x"}
        )
        time.sleep(0.5)  # the send waits for the write lock another program holds
        running(deployment).send_signal(signal.SIGTERM)
        response = answer.result(timeout=15)
    assert_error(response, 9)
    assert "it may have been carried out" in response.json()["Desc"]
    assert running(deployment).wait(15) == 0
    log = deployment.process.log_path.read_text()
    assert "cut short by the shutdown" in log
    assert "Exception in ASGI application" not in log


@pytest.mark.parametrize("databases", ["sqlite"], indirect=True)
def test_api_processes_stopping_refuse_new_connections_at_once(
    databases: Databases, tmp_path: Path
) -> None:
    """With ``--workers`` the supervisor kept its copies of the listening sockets open until
    its children ended: a new connection was taken in, hung through the drain, then reset."""
    url = databases.create(tmp_path)
    server = ServerProcess(url, tmp_path, shutdown_timeout_seconds="20")
    held: list[socket.socket] = []
    try:
        server.start("--workers", "2")
        for _ in range(6):  # requests whose bodies never come, in each API process likely
            held.append(accepted(server.port))
            send_head_in_flight(held[-1], request_head("/rest/Send/SendSms/", FORM, 1000))
        supervisor = running_process(server)
        supervisor.send_signal(signal.SIGTERM)
        wait_for(lambda: refuses_connections(server.port))
        assert supervisor.poll() is None  # still draining
    finally:
        for sock in held:
            sock.close()
        server.stop()
        databases.drop(url)
