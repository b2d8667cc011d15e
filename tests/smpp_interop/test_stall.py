"""A delivering process stalled (a frozen VM or container, SIGSTOP) past two thirds of its
leases wakes to find them about to lapse: it stops its binds (and on SQLite its delivery) and
takes them back. Both stops came in one turn of the loop, and delivery stopped for good."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.api import conftest as api_fixtures
from tests.api.helpers import send_ok, wait_for
from tests.databases import Databases
from tests.smpp_interop.gateway import TEST_CONNECTOR, settings_file, wait_delivered
from tests.smpp_interop.smsc import NodeSmsc
from tests.smpp_interop.test_stop import _bound

LEASE_SECONDS = 3.0
# Past the two thirds at which a holder gives a lease up, short of its lapsing.
STALL_SECONDS = 2.5


def test_a_process_stalled_past_its_leases_delivers_again(
    databases: Databases, tmp_path: Path, smscs: Callable[..., NodeSmsc]
) -> None:
    smsc = smscs()
    config = settings_file(
        tmp_path / "smsgate.toml", {"main": {**TEST_CONNECTOR, "port": smsc.port}}, []
    )
    workdir = tmp_path / "server"
    workdir.mkdir()
    deployment = api_fixtures.deploy(
        databases, workdir, config=str(config), ownership_lease_seconds=str(LEASE_SECONDS)
    )
    try:
        wait_for(lambda: _bound(deployment), timeout=15, interval=0.1)
        account = deployment.make_account()
        send_ok(account, "79001230000")
        wait_delivered(account, 1)
        process = deployment.process.process
        assert process is not None
        process.send_signal(signal.SIGSTOP)
        time.sleep(STALL_SECONDS)
        process.send_signal(signal.SIGCONT)
        wait_for(lambda: "binds stopped; standing by" in deployment.process.log_path.read_text())
        for index in range(1, 6):
            send_ok(account, f"7900123000{index}")
        wait_delivered(account, 6)
    finally:
        api_fixtures.undeploy(deployment)
