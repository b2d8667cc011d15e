"""The platform's Prometheus instruments, counted where things happen.

They belong to no registry here: each app registers them, beside the figures read at scrape time
(``smsgate.api.metrics``), in a registry of its own, so that several apps in one process (tests)
do not clash.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from smsgate.delivery.connector import (
    ConnectorEvents,
    DeliveryReport,
    IncomingPart,
    IncomingSms,
    ReportStatus,
)

REQUESTS = Counter(
    "smsgate_requests",
    "API requests by endpoint and answer code (0: success; aborted: the client went away).",
    ["endpoint", "code"],
    registry=None,
)
LATENCY = Histogram(
    "smsgate_request_seconds",
    "Time to answer an API request.",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None,
)
PARTS = Counter(
    "smsgate_parts",
    "Message parts by what happened to them: accepted (billed and queued), submitted (taken by "
    "the SMSC), delivered, failed (rejected at submit or not delivered) and expired.",
    ["outcome"],
    registry=None,
)
PARTS_ACCEPTED = PARTS.labels("accepted")
PARTS_SUBMITTED = PARTS.labels("submitted")
PARTS_DELIVERED = PARTS.labels("delivered")
PARTS_FAILED = PARTS.labels("failed")
PARTS_EXPIRED = PARTS.labels("expired")

INSTRUMENTS = (REQUESTS, LATENCY, PARTS)

_BY_REPORT = {
    ReportStatus.DELIVERED: PARTS_DELIVERED,
    ReportStatus.NOT_DELIVERED: PARTS_FAILED,
    ReportStatus.EXPIRED: PARTS_EXPIRED,
}


class CountedEvents:
    """``ConnectorEvents`` that count the delivery reports once they are committed."""

    def __init__(self, events: ConnectorEvents) -> None:
        self._events = events

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        await self._events.delivery_reports(reports)
        for status, count in Tally(report.status for report in reports).items():
            _BY_REPORT[status].inc(count)

    async def incoming(self, message: IncomingSms) -> None:
        await self._events.incoming(message)

    async def incoming_part(self, part: IncomingPart) -> None:
        await self._events.incoming_part(part)
