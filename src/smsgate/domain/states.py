"""Lifecycle states of a message part and how the State endpoint reports them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

UNKNOWN_STATE_CODE = 255
UNKNOWN_STATE_DESCRIPTION = "Unknown"


class MessageState(enum.StrEnum):
    """Where a message part is; the value is what storage keeps."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    # Claimed by a dispatcher, not yet acknowledged by the operator.
    SUBMITTING = "submitting"
    SENT = "sent"
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    EXPIRED = "expired"

    @property
    def api_code(self) -> int:
        """The ``State`` number: -1 while in progress, else 0, 42 or 46."""
        return _API_CODES[self]

    @property
    def api_description(self) -> str:
        """The ``StateDescription`` text."""
        return _API_DESCRIPTIONS[self]

    @property
    def is_final(self) -> bool:
        """Whether the state can no longer change."""
        return self in FINAL


_API_CODES = {
    MessageState.QUEUED: -1,
    MessageState.SCHEDULED: -1,
    MessageState.SUBMITTING: -1,
    MessageState.SENT: -1,
    MessageState.DELIVERED: 0,
    MessageState.NOT_DELIVERED: 42,
    MessageState.EXPIRED: 46,
}

_API_DESCRIPTIONS = {
    MessageState.QUEUED: "Queued",
    MessageState.SCHEDULED: "Scheduled",
    # The operator may not have the part yet, so it must not read "Sent".
    MessageState.SUBMITTING: "Queued",
    MessageState.SENT: "Sent",
    MessageState.DELIVERED: "Delivered",
    MessageState.NOT_DELIVERED: "NotDelivered",
    MessageState.EXPIRED: "Expired",
}

FINAL = frozenset({MessageState.DELIVERED, MessageState.NOT_DELIVERED, MessageState.EXPIRED})
# Waiting for a dispatcher to claim them, due now or later; in the order they are claimed.
WAITING = (MessageState.QUEUED, MessageState.SCHEDULED)
# Not taken by an operator yet: refunded should they never be.
NOT_SUBMITTED = (*WAITING, MessageState.SUBMITTING)


def stored(states: Iterable[MessageState]) -> tuple[str, ...]:
    """The values the store keeps for ``states``, for its statements."""
    return tuple(state.value for state in states)


def report_date(done_at: datetime, submitted_at: datetime | None) -> datetime:
    """When a delivery report's state change is dated: its done date, but never before the part
    was submitted. An SMSC's receipt dates often stop at the minute, and its clock is not ours:
    a part's ReportedDateUtc would otherwise precede its SubmittedDateUtc."""
    return done_at if submitted_at is None or done_at >= submitted_at else submitted_at
