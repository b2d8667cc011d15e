"""smsgate as a gateway: a real server whose SMPP connectors bind to node-smpp SMSCs and to
``smpp34.Server``, driven through the REST API.

One server serves every test here; each SMSC sits behind its own route:

| prefix | connector | SMSC |
|---|---|---|
| 79 | main | node-smpp, answers after 2 ms (so the window of 10 fills) |
| 7902 | racing | node-smpp, receipts before their resp, hex ids in the text alone |
| 7903 | throttled | node-smpp, 10% of submits answered ESME_RTHROTTLED |
| 7904 | tls | node-smpp over TLS, its certificate from a private CA |
| 7905 | dead, then main | nothing listens for ``dead``: its parts fail over to main |
| 7906 | crashy | node-smpp that the test kills and restarts (it keeps a journal) |
| 7907 | sar | node-smpp; long messages carry SAR TLVs instead of a UDH |
| 7908 | rust | smpp34.Server, receipts before their resp |
| 7909 | stalling | node-smpp; numbers ending in 99 throttled while a test wants it |

No route covers 7495 (Moscow landlines): sending there answers Code 8.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smsgate.delivery.smpp.pdu import CommandStatus
from tests.api import conftest as api_fixtures
from tests.api.helpers import (
    Deployment,
    assert_error,
    balance,
    message_rows,
    send_sms,
    state,
    wait_for,
)
from tests.databases import Databases
from tests.inbound.helpers import Inbound, unique_number, wait_incoming
from tests.server import free_port
from tests.smpp_interop.gateway import (
    TEST_CONNECTOR,
    RustSmsc,
    connector_status,
    numbers,
    send_bulk,
    settings_file,
    wait_delivered,
)
from tests.smpp_interop.smsc import NodeSmsc
from tests.tls import CertificateFiles

pytestmark = pytest.mark.timeout(90)


@dataclass
class Gateway:
    deployment: Deployment
    smscs: dict[str, NodeSmsc]
    rust: RustSmsc

    def account(self, *senders: str) -> Any:
        return self.deployment.make_account(balance="100000", sender_names=("SMS Info", *senders))


@pytest.fixture(scope="module")
def gateway(
    databases: Databases,
    tmp_path_factory: pytest.TempPathFactory,
    certificates: CertificateFiles,
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("gateway")
    smscs = {
        "main": NodeSmsc(resp_delay=2),
        "racing": NodeSmsc(receipts_before_resp=True, id_format="hex", receipt_text_only=True),
        "throttled": NodeSmsc(throttle_percent=10),
        "tls": NodeSmsc(tls_cert=certificates.certfile, tls_key=certificates.keyfile),
        "crashy": NodeSmsc(resp_delay=5, receipt_delay=300, journal=workdir / "crashy.journal"),
        "sar": NodeSmsc(),
        "stalling": NodeSmsc(),
    }
    rust = RustSmsc()
    deployment = None
    try:
        for smsc in smscs.values():
            smsc.start()
        rust.start()
        connectors: dict[str, dict[str, object]] = {
            name: {**TEST_CONNECTOR, "port": smsc.port} for name, smsc in smscs.items()
        }
        connectors["racing"] |= {"submit_ids_hex": True, "receipt_ids_hex": True}
        connectors["throttled"] |= {"throttle_delay": 0.01, "throttle_max_delay": 0.1}
        connectors["tls"] |= {"tls": True, "ca_file": str(certificates.ca_file)}
        connectors["sar"] |= {"concatenation": "sar"}
        connectors["stalling"] |= {"throttle_delay": 0.05, "throttle_max_delay": 0.2}
        connectors["dead"] = {**TEST_CONNECTOR, "port": free_port()}
        connectors["rust"] = {**TEST_CONNECTOR, "port": rust.port}
        routes = [
            ("79", ["main"]),
            ("7902", ["racing"]),
            ("7903", ["throttled"]),
            ("7904", ["tls"]),
            ("7905", ["dead", "main"]),
            ("7906", ["crashy"]),
            ("7907", ["sar"]),
            ("7908", ["rust"]),
            ("7909", ["stalling"]),
        ]
        config = settings_file(workdir / "smsgate.toml", connectors, routes)
        deployment = api_fixtures.deploy(databases, workdir, config=str(config))
        gateway = Gateway(deployment, smscs, rust)

        # Every connector but ``dead`` binds (a status written before the connectors started
        # lists none of them).
        def bound() -> bool:
            statuses = connector_status(deployment) or {}
            return set(statuses) == set(connectors) and all(
                status["up"] == (name != "dead") for name, status in statuses.items()
            )

        wait_for(bound, timeout=15, interval=0.1)
        yield gateway
    finally:
        if deployment is not None:
            api_fixtures.undeploy(deployment)
        for smsc in smscs.values():
            smsc.stop()
        rust.stop()


def test_receipts_match_every_part_and_the_window_holds(gateway: Gateway) -> None:
    smsc = gateway.smscs["main"]
    before = smsc.stats()["accepted"]
    account = gateway.account()
    send_bulk(account, numbers("7916", 400), "Your code is 1234")
    wait_delivered(account, 400)
    stats = smsc.stats()
    assert stats["accepted"] - before == 400
    assert stats["max_in_flight"] == 10  # the connector's window: filled, never exceeded


def test_receipts_racing_ahead_of_their_resps_still_match(gateway: Gateway) -> None:
    smsc = gateway.smscs["racing"]
    before = smsc.stats()
    account = gateway.account()
    send_bulk(account, numbers("7902", 200), "Racing receipts")
    wait_delivered(account, 200)
    after = smsc.stats()
    # Through the racing SMSC, each receipt sent ahead of its resp and acknowledged.
    assert after["accepted"] - before["accepted"] == 200
    assert after["receipts_acked"] - before["receipts_acked"] == 200
    assert after["receipts_refused"] == before["receipts_refused"]


def test_receipts_racing_ahead_from_smpp34_still_match(gateway: Gateway) -> None:
    account = gateway.account()
    sent = numbers("7908", 30)
    send_bulk(account, sent, "Rust receipts")
    wait_delivered(account, 30)
    assert sorted(gateway.rust.submitted) == sent
    assert gateway.rust.receipt_statuses.count(CommandStatus.ESME_ROK) >= 30
    assert set(gateway.rust.receipt_statuses) == {CommandStatus.ESME_ROK}


def test_a_throttling_storm_loses_nothing(gateway: Gateway) -> None:
    smsc = gateway.smscs["throttled"]
    before = smsc.stats()
    account = gateway.account()
    send_bulk(account, numbers("7903", 500), "Throttled but delivered")
    wait_delivered(account, 500)
    after = smsc.stats()
    assert after["accepted"] - before["accepted"] == 500  # each taken once
    assert after["throttled"] - before["throttled"] > 10


def test_parts_taken_are_recorded_while_the_rest_of_their_batch_is_throttled(
    gateway: Gateway,
) -> None:
    # A stop cut short, or a crash, while the batch is still out would otherwise leave the
    # part the SMSC took unrecorded, to be sent again.
    smsc = gateway.smscs["stalling"]
    smsc.send("set", throttle_suffix="99")
    account = gateway.account()
    taken, stalled = send_bulk(account, ["79090000001", "79090000099"], "Half throttled")
    try:
        wait_for(lambda: state(account, taken)["SubmittedDateUtc"] is not None, timeout=5)
        assert state(account, stalled)["SubmittedDateUtc"] is None  # its batch is still out
    finally:
        smsc.send("set", throttle_suffix=None)
    wait_delivered(account, 2)
    assert smsc.stats()["accepted"] == 2  # each taken once


def test_a_part_the_smsc_refuses_is_not_delivered_and_refunded(gateway: Gateway) -> None:
    smsc = gateway.smscs["stalling"]
    account = gateway.account()
    before = balance(account)
    smsc.send("set", resp_status=CommandStatus.ESME_RINVDSTADR, resp_body="")
    try:
        (refused,) = send_bulk(account, ["79090000123"], "Refused")
        wait_for(lambda: state(account, refused)["State"] == 42, timeout=10)
    finally:
        smsc.send("set", resp_status=0, resp_body=None)
    assert balance(account) == before
    assert state(account, refused)["SubmittedDateUtc"] is None


def test_an_smsc_killed_and_restarted_mid_run_loses_nothing(gateway: Gateway) -> None:
    smsc = gateway.smscs["crashy"]
    account = gateway.account()
    send_bulk(account, numbers("7906", 300), "Crash survivor")
    wait_for(lambda: smsc.stats()["accepted"] >= 100, timeout=15)
    smsc.kill()
    time.sleep(0.5)
    smsc.restart()
    # Parts in flight come back to the queue and go again; receipts owed before the crash
    # arrive from the restarted SMSC's journal.
    wait_delivered(account, 300, timeout=45)
    assert smsc.stats()["receipts_refused"] == 0


# 3 parts each: 153 + 153 + a few GSM septets (the € and brackets take two), and 67 + 67 + a
# few UCS-2 characters.
GSM_TEXT = ("Hello [world] €5 " * 20)[:320]
UCS2_TEXT = ("Привет, мир! 😀 " * 12)[:150]


@pytest.mark.parametrize(
    ("prefix", "connector", "text", "data_coding"),
    [
        ("7916", "main", GSM_TEXT, 0),
        ("7916", "main", UCS2_TEXT, 8),
        ("7907", "sar", GSM_TEXT, 0),
        ("7907", "sar", UCS2_TEXT, 8),
    ],
)
def test_long_messages_arrive_whole(
    gateway: Gateway, prefix: str, connector: str, text: str, data_coding: int
) -> None:
    smsc = gateway.smscs[connector]
    account = gateway.account()
    number = f"{prefix}{unique_number()[:7]}"
    sent_at = datetime.now(UTC)
    ids = send_bulk(account, [number], text)
    assert len(ids) == 3
    wait_delivered(account, 3)
    (arrived,) = [m for m in smsc.messages() if m["destination"] == number]
    assert (arrived["text"], arrived["parts"], arrived["data_coding"]) == (text, 3, data_coding)
    assert (arrived["source"], arrived["source_ton"], arrived["source_npi"]) == ("SMS Info", 5, 0)
    assert (arrived["dest_ton"], arrived["dest_npi"], arrived["registered_delivery"]) == (1, 1, 1)
    validity = datetime.fromisoformat(arrived["validity_period"])
    assert sent_at < validity <= sent_at + timedelta(days=1, seconds=1)


def test_a_numeric_sender_is_sent_as_an_international_number(gateway: Gateway) -> None:
    smsc = gateway.smscs["main"]
    account = gateway.account("79001112233")
    number = f"7916{unique_number()[:7]}"
    send_bulk(account, [number], "From a number", sender="79001112233")
    wait_delivered(account, 1)
    (arrived,) = [m for m in smsc.messages() if m["destination"] == number]
    assert (arrived["source"], arrived["source_ton"], arrived["source_npi"]) == (
        "79001112233",
        1,
        1,
    )


def test_an_incoming_long_message_is_joined(gateway: Gateway) -> None:
    inbound = Inbound(gateway.deployment)
    account = inbound.account()
    number = unique_number()
    inbound.admin.add_number(account.login, number)
    text = "Ответ абонента: " + "да, всё получил, спасибо! " * 6
    done = gateway.smscs["main"].inject(
        "long", source="79115687451", destination=number, text=text, coding="ucs2", reverse=True
    )
    assert done["statuses"] == [CommandStatus.ESME_ROK] * 3
    (message,) = wait_incoming(account, 1)
    assert (message["Data"], message["SourceAddress"]) == (text, "79115687451")


def test_an_incoming_binary_message_is_refused(gateway: Gateway) -> None:
    done = gateway.smscs["main"].inject(
        "binary",
        source="79115687451",
        destination=unique_number(),
        text="\x01\x02",
        coding="binary",
    )
    assert done["statuses"] == [CommandStatus.ESME_RX_P_APPN]


def test_a_connector_that_is_down_fails_over(gateway: Gateway) -> None:
    account = gateway.account()
    ids = send_bulk(account, numbers("7905", 5), "Fail over")
    wait_delivered(account, 5)
    rows = message_rows(gateway.deployment.database, ids)
    assert {row.connector for row in rows.values()} == {"main"}


def test_a_destination_without_a_route_answers_code_8(gateway: Gateway) -> None:
    account = gateway.account()
    assert_error(send_sms(account, "74951234567"), 8, "No route to 74951234567")
    assert balance(account) == 100000


def test_tls_connector_delivers(gateway: Gateway) -> None:
    account = gateway.account()
    send_bulk(account, numbers("7904", 20), "Over TLS")
    wait_delivered(account, 20)
    assert gateway.smscs["tls"].stats()["accepted"] == 20


def connector_named(status: dict[str, Any], name: str) -> dict[str, Any]:
    (connector,) = (c for c in status["connectors"] if c["name"] == name)
    return dict(connector)


def smsgate(
    deployment: Deployment, *args: str, columns: int = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsgate", *args],
        cwd=deployment.process.workdir,
        env={**deployment.process.environment(), "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_admin_connectors_shows_each_bind(gateway: Gateway) -> None:
    account = gateway.account()
    send_bulk(account, numbers("7916", 1), "Counted")  # whatever ran before this test
    wait_delivered(account, 1)

    def shown_status() -> dict[str, Any]:
        shown = smsgate(gateway.deployment, "admin", "connectors", "--json")
        return dict(json.loads(shown.stdout))

    def main_counted() -> bool:
        (main,) = connector_named(shown_status(), "main")["sessions"]
        return bool(main["accepted"] >= 1 and main["inbound"] >= 1)

    wait_for(main_counted, timeout=10, interval=0.2)  # the status file is written each second
    status = shown_status()
    assert status["running"] is True
    by_name = {connector["name"]: connector for connector in status["connectors"]}
    assert set(by_name) == {
        "main",
        "racing",
        "throttled",
        "tls",
        "dead",
        "crashy",
        "sar",
        "rust",
        "stalling",
    }
    (main,) = by_name["main"]["sessions"]
    assert (main["state"], main["window"], main["bind"]) == ("bound", 10, "transceiver")
    (dead,) = by_name["dead"]["sessions"]
    assert by_name["dead"]["up"] is False
    assert "Connect" in dead["last_error"] or "refused" in dead["last_error"], dead

    table = smsgate(gateway.deployment, "admin", "connectors").stdout
    assert "running" in table and "main (up)" in table and "dead (down)" in table
    assert re.search(r"┃ connector +┃ bind +┃ state +┃", table), table  # a wide terminal
    # At 80 columns a line per bind: the table's 13 columns wrapped every cell.
    lines = smsgate(gateway.deployment, "admin", "connectors", columns=80).stdout.splitlines()
    assert lines[1].startswith("main (up): receipts ")
    assert lines[2].startswith("  bind transceiver, state bound, window ")
    assert any(line.startswith("dead (down): ") for line in lines)


def test_admin_connectors_without_a_server_says_so(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "smsgate", "admin", "connectors"],
        env={**os.environ, "SMSGATE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 1
    assert "no server with the dispatcher has run on this data folder" in process.stderr


def test_receipts_wait_for_their_submit_results_one_second_at_most(gateway: Gateway) -> None:
    """A receipt is held while its part's submit call is out, so that it finds the part
    recorded; a batch that stays out long must not keep the SMSC waiting for the resp."""
    smsc = gateway.smscs["main"]
    # 100 parts through a window of 10 answered after 0.2 s: the batch is out for 2 s, while
    # the receipts of its first parts arrive at once.
    smsc.send("set", resp_delay=200)
    try:
        account = gateway.account()
        send_bulk(account, numbers("7917", 100), "Held receipts")
        wait_delivered(account, 100)
    finally:
        smsc.send("set", resp_delay=2)
    assert 0 < smsc.stats()["max_receipt_wait_ms"] < 1500
