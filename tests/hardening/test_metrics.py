"""``/metrics``: request and part counters move with the traffic; queue, connector and webhook
figures are read at scrape time; the page can have a port of its own."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import CollectorRegistry

from smsgate.delivery.connector import DeliveryReport, IncomingPart, IncomingSms, ReportStatus
from smsgate.inbound.events import CountedEvents
from smsgate.metrics import PARTS
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
from tests.server import free_port

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
    assert httpx.get(other_path).status_code == 404


class Recorded:
    """ConnectorEvents that keep what they are given."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.messages: list[IncomingSms | IncomingPart] = []

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        self.reports.extend(reports)

    async def incoming(self, message: IncomingSms) -> None:
        self.messages.append(message)

    async def incoming_part(self, part: IncomingPart) -> None:
        self.messages.append(part)


def test_delivery_reports_are_counted_by_outcome_once_recorded() -> None:
    recorded = Recorded()
    events = CountedEvents(recorded)
    now = datetime.now(UTC)
    statuses = [ReportStatus.DELIVERED, ReportStatus.EXPIRED, ReportStatus.EXPIRED]
    reports = [DeliveryReport("c", str(n), status, now) for n, status in enumerate(statuses)]
    registry = CollectorRegistry()
    registry.register(PARTS)

    def counts() -> dict[str, float]:
        return {
            outcome: registry.get_sample_value("smsgate_parts_total", {"outcome": outcome}) or 0
            for outcome in ("delivered", "failed", "expired")
        }

    before = counts()
    message = IncomingSms("c", "79001234567", "1234", "Hi", now)
    part = IncomingPart("c", "79001234567", "1234", 7, 2, 1, 0, b"Hi", now)
    asyncio.run(events.delivery_reports(reports))
    asyncio.run(events.incoming(message))
    asyncio.run(events.incoming_part(part))
    moved = {outcome: count - before[outcome] for outcome, count in counts().items()}
    assert moved == {"delivered": 1, "failed": 0, "expired": 2}
    assert recorded.reports == reports and recorded.messages == [message, part]
