"""Incoming messages from connectors: routed, stored and their pushes queued in one commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection

from smsgate.delivery.connector import IncomingPart, IncomingSms
from smsgate.domain.text import replace_nul
from smsgate.inbound.fragments import stale_messages, whole_messages
from smsgate.inbound.pusher import Pusher
from smsgate.periodic import every
from smsgate.services.incoming import RecordedIncoming, record_incoming
from smsgate.store.database import Database

log = logging.getLogger(__name__)

# How often messages whose parts stopped coming are looked for (they are joined once their
# last part is ``STALE_AFTER`` old, 10 minutes).
STALE_CHECK_SECONDS: Final = 60.0


class IncomingRecorder:
    """Commits incoming messages; returns only once they are durable.

    Concurrent messages share a commit (``Database.write`` groups them), each in its own
    savepoint, so one that fails does not take the others with it. A message's push is leased
    to this process's pusher and offered to it right after the commit.
    """

    def __init__(self, database: Database, pusher: Pusher) -> None:
        self.database = database
        self.pusher = pusher

    async def incoming(self, message: IncomingSms) -> None:
        lease_until = datetime.now(UTC) + self.pusher.settings.lease
        recorded = await self.database.write(
            lambda connection: self._record(connection, message, lease_until)
        )
        self._recorded(message, recorded, lease_until)

    async def incoming_part(self, part: IncomingPart) -> None:
        """A part of a longer message: stored now, the message recorded in the commit that
        stores its last part (``smsgate.inbound.fragments``)."""
        await self._record_all(lambda connection: whole_messages(connection, part))

    async def join_stale(self, interval: float = STALE_CHECK_SECONDS) -> None:
        """Every ``interval``, record the messages whose parts stopped coming, until cancelled:
        a connector that gets no more parts would otherwise keep them unread."""
        await every(
            interval,
            lambda: self._record_all(lambda c: stale_messages(c, datetime.now(UTC))),
            log=log,
            failure="joining incoming messages whose parts stopped coming failed",
            first_now=False,
        )

    async def _record_all(self, messages: Callable[[Connection], list[IncomingSms]]) -> None:
        lease_until = datetime.now(UTC) + self.pusher.settings.lease

        def work(connection: Connection) -> list[tuple[IncomingSms, RecordedIncoming]]:
            return [
                (message, self._record(connection, message, lease_until))
                for message in messages(connection)
            ]

        for message, recorded in await self.database.write(work):
            self._recorded(message, recorded, lease_until)

    @staticmethod
    def _record(
        connection: Connection, message: IncomingSms, lease_until: datetime
    ) -> RecordedIncoming:
        return record_incoming(
            connection,
            connector=message.connector,
            source=message.source,
            destination=message.destination,
            # Every message, whole or joined from parts, is stored here; PostgreSQL cannot
            # hold a NUL, and a message is never dropped for one.
            text=replace_nul(message.text),
            received_at=message.received_at,
            lease_until=lease_until,
        )

    def _recorded(
        self, message: IncomingSms, recorded: RecordedIncoming, lease_until: datetime
    ) -> None:
        if recorded.message.account_id is None:
            log.info(
                "incoming message %d to %s is unrouted", recorded.message.id, message.destination
            )
        if recorded.push is not None:
            self.pusher.offer(recorded.push, lease_until)
