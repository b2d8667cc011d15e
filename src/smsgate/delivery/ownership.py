"""Connectors that one process of the platform runs at a time: SMPP binds.

An operator allows a system id a few binds and sends a delivery report back on a bind of its
own choosing, so with several workers each bind is run by exactly one of them. All of them are
run by the same one, the holder of the lease ``smpp-binds``: a worker that ran some binds and
not others would claim the parts of the others' routes too, only to put them back for their
holder, a retry delay later (after a takeover that split the binds between the workers left,
every other part waited so, again and again). The other workers stand by, and one takes every
bind over when the lease lapses (its holder died or stalled). A worker that does not hold the
binds sees them down, and claims nothing for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from smsgate.delivery.connector import (
    Connector,
    ConnectorEvents,
    OnAnswer,
    OutboundPart,
    SubmitOutcome,
    SubmitResult,
)
from smsgate.store.leases import Lease, LeaseLost

log = logging.getLogger(__name__)

BINDS_LEASE = "smpp-binds"


class BindOwnership:
    """Runs its ``connectors`` together, only while this process holds ``lease``."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.connectors: list[Connector] = []
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # While the connectors run (or are being stopped): a stop then waits for them rather
        # than cancel the runner, which would cut their own stop short.
        self._running = False

    def exclusive(self, connector: Connector) -> ExclusiveConnector:
        """``connector`` as one of the connectors run together."""
        self.connectors.append(connector)
        return ExclusiveConnector(connector, self)

    def start(self, events: ConnectorEvents) -> None:
        """Start running the connectors whenever the lease is held (once for all of them)."""
        if self._runner is None:
            self._stopping.clear()
            self._runner = asyncio.create_task(self._run(events))

    async def _run(self, events: ConnectorEvents) -> None:
        while not self._stopping.is_set():
            try:
                async with self.lease.hold():
                    self._running = True
                    started: list[Connector] = []
                    try:
                        for connector in self.connectors:
                            await connector.start(events)
                            started.append(connector)
                        await self._stopping.wait()  # or cancelled: the lease is lost
                    finally:
                        for connector in started:
                            await connector.stop()
                        self._running = False
            except LeaseLost:
                log.warning("lease %s lost, binds stopped; standing by", self.lease.name)

    async def stop(self) -> None:
        """Stop the connectors (collecting what their SMSCs answer meanwhile) and stand down."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            self._stopping.set()
            if not self._running:  # standing by: nothing of its own to stop
                runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


class ExclusiveConnector:
    """``connector``, run only while this process holds its ``ownership``'s lease."""

    def __init__(self, connector: Connector, ownership: BindOwnership) -> None:
        self.name = connector.name
        self.connector = connector
        self.ownership = ownership

    @property
    def held(self) -> bool:
        """Whether this process runs the connector (holds the lease)."""
        return self.ownership.lease.held

    @property
    def is_up(self) -> bool:
        return self.held and self.connector.is_up

    async def start(self, events: ConnectorEvents) -> None:
        self.ownership.start(events)

    async def submit(
        self, parts: Sequence[OutboundPart], on_answer: OnAnswer | None = None
    ) -> list[SubmitResult]:
        if not self.held:
            return [
                SubmitResult(part.message_id, SubmitOutcome.RETRY, error="bind run elsewhere")
                for part in parts
            ]
        return await self.connector.submit(parts, on_answer)

    async def stop(self) -> None:
        await self.ownership.stop()
