"""A server stopped while parts are in an SMPP window: what the SMSC took is recorded, however
the stop ends, so that the parts are not sent again at the next start."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from smsgate.delivery.status import read_status
from smsgate.domain.states import MessageState
from tests.api import conftest as api_fixtures
from tests.api.helpers import Deployment, message_rows, send_ok, wait_for
from tests.databases import Databases
from tests.smpp_interop.gateway import TEST_CONNECTOR, settings_file
from tests.smpp_interop.smsc import NodeSmsc

# Long enough for both signals to come while the part is in the window, shorter than the
# session's response timeout (TEST_CONNECTOR), which a stopping bind waits for its answers.
RESP_DELAY_MS = 1500
# The part's receipt comes after the server stopped: its submit result alone is tested.
RECEIPT_DELAY_MS = 60_000


def test_a_stop_cut_short_records_the_parts_the_smsc_took(
    databases: Databases, tmp_path: Path, smscs: Callable[..., NodeSmsc]
) -> None:
    smsc = smscs(resp_delay=RESP_DELAY_MS, receipt_delay=RECEIPT_DELAY_MS)
    config = settings_file(
        tmp_path / "smsgate.toml",
        {"main": {**TEST_CONNECTOR, "port": smsc.port}},
        [("7", ["main"])],
    )
    workdir = tmp_path / "server"
    workdir.mkdir()
    deployment = api_fixtures.deploy(databases, workdir, config=str(config))
    try:
        wait_for(lambda: _bound(deployment), timeout=15, interval=0.1)
        account = deployment.make_account()
        (part_id,) = send_ok(account, "79001234567")
        wait_for(lambda: smsc.stats()["in_flight"] == 1, timeout=10, interval=0.02)
        process = deployment.process.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # two signals pending at once would be one
        process.send_signal(signal.SIGTERM)  # cut short while the part is in the window
        assert process.wait(15) == 0
        deployment.process.stop()
        assert "shutdown cut short by a second signal" in deployment.process.log_path.read_text()
        assert smsc.stats()["accepted"] == 1
        (row,) = message_rows(deployment.database, [part_id]).values()
        assert (row.state, row.connector) == (MessageState.SENT, "main"), row
        assert row.smsc_id is not None and row.lease_until is None, row
    finally:
        api_fixtures.undeploy(deployment)


def _bound(deployment: Deployment) -> bool:
    # Read as it comes: the status file may not be written yet.
    status = read_status(deployment.process.workdir / "var")
    return status is not None and any(c["up"] for c in status["connectors"])
