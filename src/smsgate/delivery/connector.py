"""The one interface every SMSC connector implements (simulator, SMPP).

A connector never touches the platform's tables (parts, accounts, incoming messages). The
dispatcher hands it parts to submit and gets one ``SubmitResult`` per part back; delivery reports
and incoming messages travel the other way through ``ConnectorEvents``, whose coroutines return
only after their effect is committed (so an SMPP ``deliver_sm`` is acknowledged only then). The
simulated SMSC is the SMSC too, so it keeps that SMSC's state in tables of its own in the same
database (``smsgate.store.simulator``), which nothing of the platform reads.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from smsgate.domain.segments import Encoding

__all__ = [
    "Connector",
    "ConnectorEvents",
    "DeliveryReport",
    "Encoding",
    "IncomingPart",
    "IncomingSms",
    "OutboundPart",
    "ReportStatus",
    "SubmitOutcome",
    "SubmitResult",
]


@dataclass(frozen=True, slots=True)
class OutboundPart:
    """One SMS part ready for submission; ``message_id`` is the part's own id."""

    message_id: int
    sender_name: str
    destination: str
    text: str
    encoding: Encoding
    part_number: int
    part_count: int
    concat_reference: int
    expires_at: datetime


class SubmitOutcome(enum.StrEnum):
    ACCEPTED = "accepted"  # the SMSC took it; smsc_id is set
    REJECTED = "rejected"  # permanent failure: the part is refunded and ends NotDelivered
    RETRY = "retry"  # throttled, queue full, or the link is down: submit again later
    # refused for now by the SMSC's own trouble (a system error): again later, waiting longer
    # after each such answer, so an SMSC that says so of every part is not flooded
    DEFERRED = "deferred"


@dataclass(frozen=True, slots=True)
class SubmitResult:
    message_id: int
    outcome: SubmitOutcome
    smsc_id: str | None = None
    error: str | None = None
    # Not accepted, but the SMSC got it and may have taken it (no answer came, or the link
    # was lost before it): submitted again also once its validity ran out, never refunded as
    # unsent before the SMSC has answered for it.
    maybe_taken: bool = False


class ReportStatus(enum.StrEnum):
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A final state for the part that the SMSC knows as ``smsc_id``."""

    connector: str
    smsc_id: str
    status: ReportStatus
    done_at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """A mobile-originated message, already joined when it arrived in several parts."""

    connector: str
    source: str
    destination: str
    text: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class IncomingPart:
    """One part of a mobile-originated message that came in several.

    ``body`` holds the part's text octets (UDH removed, GSM septets one per octet) in
    ``data_coding``: the bodies of all parts are joined before decoding, so a character split
    between two parts survives. Parts of one message share (connector, source, destination,
    reference, total).
    """

    connector: str
    source: str
    destination: str
    reference: int
    total: int
    seqnum: int
    data_coding: int
    body: bytes
    received_at: datetime


class ConnectorEvents(Protocol):
    async def delivery_reports(self, reports: Sequence[DeliveryReport]) -> None: ...

    async def incoming(self, message: IncomingSms) -> None: ...

    async def incoming_part(self, part: IncomingPart) -> None:
        """Keep ``part`` durably; the message is recorded in the commit that completes it."""
        ...


# Told each part's result as the SMSC answers it, while the rest of the batch is still out.
OnAnswer = Callable[[SubmitResult], None]


class Connector(Protocol):
    """An outbound link to an SMSC."""

    name: str

    @property
    def is_up(self) -> bool: ...

    async def start(self, events: ConnectorEvents) -> None: ...

    async def submit(
        self, parts: Sequence[OutboundPart], on_answer: OnAnswer | None = None
    ) -> list[SubmitResult]:
        """Submit ``parts``; each one's result, in order. A connector whose parts are answered
        one by one tells ``on_answer`` each result as it comes, before the call returns."""
        ...

    async def stop(self) -> None: ...
