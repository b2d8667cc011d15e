"""What connectors report, as one ``ConnectorEvents``: delivery reports and incoming messages."""

from __future__ import annotations

from collections.abc import Sequence

from smsgate.delivery.connector import DeliveryReport, IncomingPart, IncomingSms
from smsgate.inbound.incoming import IncomingRecorder
from smsgate.inbound.pusher import Pusher
from smsgate.inbound.receipts import ReceiptRecorder
from smsgate.store.database import Database


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
