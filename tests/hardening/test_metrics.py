"""``/metrics``: request and part counters move with the traffic; queue, connector and webhook
figures are read at scrape time; the page can have a port of its own."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Connection, update

from smsgate.delivery.connector import DeliveryReport, ReportStatus
from smsgate.domain.states import MessageState
from smsgate.inbound.receipts import ReceiptRecorder
from smsgate.metrics import PARTS
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.messages import insert_parts
from smsgate.store.schema import messages
from tests.api.helpers import (
    Deployment,
    api_date,
    assert_error,
    creds,
    send_ok,
    state,
    wait_for,
)
from tests.hardening.conftest import Ops
from tests.hardening.helpers import Samples, sample, scrape
from tests.server import free_port, http_client
from tests.store.parts import part_row

DELIVERED_PHONE = "79001234567"
FAILING_PHONE = "79001230000"  # the simulator reports NotDelivered


def parts(samples: Samples, outcome: str) -> float:
    return sample(samples, "smsgate_parts_total", outcome=outcome)


def test_request_and_part_counters_move_with_a_send(shared: Deployment) -> None:
    url = f"{shared.process.url}/metrics"
    account = shared.make_account()
    refused_port = free_port()  # status callbacks to a receiver that is not there wait
    before = scrape(url)
    delivered = parts(before, "delivered")
    ids = send_ok(
        account,
        f"{DELIVERED_PHONE},{FAILING_PHONE}",
        callback_url=f"http://127.0.0.1:{refused_port}/status",
    )
    assert_error(shared.client.get("/rest/Balance/", params={**creds(account), "pass": "no"}), 4)
    wait_for(lambda: all(state(account, part)["State"] in (0, 42) for part in ids))

    def counted() -> Samples | None:
        # Reports are counted once committed: a moment after the states show them.
        samples = scrape(url)
        return samples if parts(samples, "delivered") > delivered else None

    after = wait_for(counted)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("smsgate_requests_total", endpoint="send_sms", code="0") == 1
    assert moved("smsgate_requests_total", endpoint="balance", code="4") == 1
    assert moved("smsgate_request_seconds_count", endpoint="send_sms") == 1
    assert moved("smsgate_request_seconds_bucket", endpoint="send_sms", le="+Inf") == 1
    for outcome, count in {"accepted": 2, "submitted": 2, "delivered": 1, "failed": 1}.items():
        assert parts(after, outcome) - parts(before, outcome) == count, outcome
    assert sample(after, "smsgate_database_up") == 1
    assert sample(after, "smsgate_connector_up", connector="simulator") == 1
    assert ("smsgate_queue_depth", frozenset()) in after
    assert sample(after, "smsgate_webhook_backlog") >= 1


def test_a_body_cut_off_by_its_client_counts_as_aborted(shared: Deployment) -> None:
    """In every encoding a client that goes away mid-body is owed no answer: counted aborted,
    not a failure of the server (Code 9) with a traceback in its log."""
    url = f"{shared.process.url}/metrics"
    before = scrape(url)
    heads = {
        "urlencoded": "application/x-www-form-urlencoded",
        "multipart": "multipart/form-data; boundary=cut",
    }
    for kind in heads.values():
        with socket.create_connection(("127.0.0.1", shared.process.port)) as sock:
            sock.sendall(
                b"POST /rest/Send/SendBulk/ HTTP/1.1\r\nHost: t\r\n"
                + f"Content-Type: {kind}\r\nContent-Length: 100000\r\n\r\n".encode()
                + b'--cut\r\nContent-Disposition: form-data; name="data"\r\n\r\nHel'
            )
            time.sleep(0.2)  # the body's first bytes are read before the client goes

    def count(samples: Samples, code: str) -> float:
        return sample(samples, "smsgate_requests_total", endpoint="send_bulk", code=code)

    def aborted() -> Samples | None:
        samples = scrape(url)
        return samples if count(samples, "aborted") - count(before, "aborted") == 2 else None

    after = wait_for(aborted)
    assert count(after, "9") == count(before, "9")


def test_the_queue_depth_and_the_oldest_due_parts_age_are_read_at_scrape(ops: Ops) -> None:
    account = ops.deployment.make_account()
    before = scrape(ops.metrics_url)  # no dispatcher takes parts from this server's queue
    send_ok(account, "79001234567,79001234568")
    tomorrow = api_date(datetime.now(UTC) + timedelta(days=1))
    send_ok(account, sendDate=tomorrow)  # queued, but not due: it has not waited yet
    first = scrape(ops.metrics_url)
    depth = "smsgate_queue_depth"
    assert sample(first, depth) - sample(before, depth) == 3
    time.sleep(0.3)
    second = scrape(ops.metrics_url)
    waited = sample(second, "smsgate_queue_oldest_due_age_seconds")
    assert waited - sample(first, "smsgate_queue_oldest_due_age_seconds") >= 0.3
    assert 0.3 <= waited < 600
    # This process dispatches nothing: it shows no connector (the process that runs it does).
    assert ("smsgate_connector_up", frozenset({("connector", "simulator")})) not in second


def test_metrics_can_have_a_port_of_their_own(ops: Ops) -> None:
    assert sample(scrape(ops.metrics_url), "smsgate_database_up") == 1
    assert_error(ops.deployment.client.get("/metrics"), 6)  # not on the API's port
    other_path = ops.metrics_url.replace("/metrics", "/rest/Balance/")
    with http_client() as client:
        assert client.get(other_path).status_code == 404


def test_parts_ended_by_delivery_reports_are_counted_not_the_reports(
    database: Database,
) -> None:
    """An SMSC sends a receipt again, or one for an id no part has: the counters followed the
    reports, and reported parts delivered or failed that were not."""
    account_id = AccountAdmin(database).create("counted", password="account-password")
    now = datetime.now(UTC)
    rows = [part_row(n, account_id, now, state=MessageState.SENT.value) for n in (1, 2)]

    def sent(connection: Connection) -> None:
        insert_parts(connection, rows)
        for n in (1, 2):
            connection.execute(
                update(messages).where(messages.c.id == n).values(connector="c", smsc_id=f"id-{n}")
            )

    database.write_sync(sent)
    registry = CollectorRegistry()
    registry.register(PARTS)

    def counts() -> dict[str, float]:
        return {
            outcome: registry.get_sample_value("smsgate_parts_total", {"outcome": outcome}) or 0
            for outcome in ("delivered", "failed", "expired")
        }

    def report(smsc_id: str, status: ReportStatus) -> DeliveryReport:
        return DeliveryReport("c", smsc_id, status, now)

    async def receive() -> None:
        recorder = ReceiptRecorder(database)
        delivered = report("id-1", ReportStatus.DELIVERED)
        await recorder.delivery_reports([delivered, delivered])
        await recorder.delivery_reports([delivered, report("id-2", ReportStatus.EXPIRED)])
        await recorder.delivery_reports([report("unknown", ReportStatus.NOT_DELIVERED)])

    before = counts()
    asyncio.run(receive())
    moved = {outcome: count - before[outcome] for outcome, count in counts().items()}
    assert moved == {"delivered": 1, "failed": 0, "expired": 1}
