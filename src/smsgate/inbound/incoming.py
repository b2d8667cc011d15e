"""Incoming messages from connectors: routed, stored and their pushes queued in one commit."""

from __future__ import annotations

import logging
from collections.abc import Callable

from smsgate.delivery.connector import IncomingSms
from smsgate.services.incoming import record_incoming
from smsgate.store.database import Database

log = logging.getLogger(__name__)


class IncomingRecorder:
    """Commits incoming messages; returns only once they are durable.

    Concurrent messages share a commit (``Database.write`` groups them), each in its own
    savepoint, so one that fails does not take the others with it.
    """

    def __init__(self, database: Database, on_push_queued: Callable[[], None]) -> None:
        self.database = database
        self.on_push_queued = on_push_queued

    async def incoming(self, message: IncomingSms) -> None:
        recorded = await self.database.write(
            lambda connection: record_incoming(
                connection,
                connector=message.connector,
                source=message.source,
                destination=message.destination,
                text=message.text,
                received_at=message.received_at,
            )
        )
        if recorded.account_id is None:
            log.info("incoming message %d to %s is unrouted", recorded.id, message.destination)
        if recorded.push_queued:
            self.on_push_queued()
