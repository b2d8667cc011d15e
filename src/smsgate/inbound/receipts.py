"""Delivery reports from connectors become final part states."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from smsgate.delivery.connector import DeliveryReport, ReportStatus
from smsgate.domain.states import MessageState
from smsgate.metrics import count_ended
from smsgate.store.database import Database, Lane
from smsgate.store.messages import apply_receipts

STATE_BY_REPORT = {
    ReportStatus.DELIVERED: MessageState.DELIVERED,
    ReportStatus.NOT_DELIVERED: MessageState.NOT_DELIVERED,
    ReportStatus.EXPIRED: MessageState.EXPIRED,
}


class ReceiptRecorder:
    """Commits delivery reports; returns only once they are durable, and counts the parts they
    ended."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None:
        by_connector: dict[str, list[tuple[str, MessageState, datetime, str | None]]] = defaultdict(
            list
        )
        for report in reports:
            by_connector[report.connector].append(
                (report.smsc_id, STATE_BY_REPORT[report.status], report.done_at, report.error)
            )

        def work(connection: Connection) -> Counter[MessageState]:
            ended: Counter[MessageState] = Counter()
            for connector, receipts in by_connector.items():
                ended += apply_receipts(connection, connector, receipts)
            return ended

        count_ended(await self.database.write(work, Lane.OUTCOMES))
