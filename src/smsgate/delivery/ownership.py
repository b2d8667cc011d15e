"""Connectors that one process of the platform runs at a time: SMPP binds.

An operator allows a system id a few binds and sends a delivery report back on a bind of its
own choosing, so with several workers each bind is run by exactly one of them: the holder of
the lease ``connector:<name>``. The other workers stand by, and one takes the bind over when the
lease lapses (its holder died or stalled). A worker that does not hold the bind sees the
connector down, so the router fails over, or the dispatcher leaves the parts for the holder.
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


class ExclusiveConnector:
    """``connector``, run only while this process holds ``lease``."""

    def __init__(self, connector: Connector, lease: Lease) -> None:
        self.name = connector.name
        self.connector = connector
        self.lease = lease
        self._runner: asyncio.Task[None] | None = None

    @property
    def is_up(self) -> bool:
        return self.lease.held and self.connector.is_up

    async def start(self, events: ConnectorEvents) -> None:
        self._runner = asyncio.create_task(self._run(events))

    async def _run(self, events: ConnectorEvents) -> None:
        while True:
            try:
                async with self.lease.hold():
                    await self.connector.start(events)
                    try:
                        await asyncio.Future()  # until stopped, or the lease is lost
                    finally:
                        await self.connector.stop()
            except LeaseLost:
                log.warning("%s: lease lost, connector stopped; standing by", self.name)

    async def submit(
        self, parts: Sequence[OutboundPart], on_answer: OnAnswer | None = None
    ) -> list[SubmitResult]:
        if not self.lease.held:
            return [
                SubmitResult(part.message_id, SubmitOutcome.RETRY, error="bind run elsewhere")
                for part in parts
            ]
        return await self.connector.submit(parts, on_answer)

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
