"""What connectors report, as one ``ConnectorEvents``: delivery reports and incoming messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from smsgate.delivery.connector import (
    ConnectorEvents,
    DeliveryReport,
    IncomingPart,
    IncomingSms,
    ReportStatus,
)
from smsgate.inbound.incoming import IncomingRecorder
from smsgate.inbound.pusher import Pusher
from smsgate.inbound.receipts import ReceiptRecorder
from smsgate.metrics import PARTS_DELIVERED, PARTS_EXPIRED, PARTS_FAILED
from smsgate.store.database import Database

_COUNTED_AS = {
    ReportStatus.DELIVERED: PARTS_DELIVERED,
    ReportStatus.NOT_DELIVERED: PARTS_FAILED,
    ReportStatus.EXPIRED: PARTS_EXPIRED,
}


class InboundEvents:
    """Commits whatever a connector reports before acknowledging it."""

    def __init__(self, database: Database, pusher: Pusher) -> None:
        self.receipts = ReceiptRecorder(database)
        self.messages = IncomingRecorder(database, pusher)

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        await self.receipts.delivery_reports(reports)

    async def incoming(self, message: IncomingSms) -> None:
        await self.messages.incoming(message)

    async def incoming_part(self, part: IncomingPart) -> None:
        await self.messages.incoming_part(part)


class CountedEvents:
    """``ConnectorEvents`` that count the delivery reports once they are committed."""

    def __init__(self, events: ConnectorEvents) -> None:
        self._events = events

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        await self._events.delivery_reports(reports)
        for status, count in Counter(report.status for report in reports).items():
            _COUNTED_AS[status].inc(count)

    async def incoming(self, message: IncomingSms) -> None:
        await self._events.incoming(message)

    async def incoming_part(self, part: IncomingPart) -> None:
        await self._events.incoming_part(part)
