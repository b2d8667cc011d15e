"""Read-only use cases: balance, the state of a part, statistics for a period, the queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.states import MessageState
from smsgate.store import accounts as account_store
from smsgate.store import messages as message_store
from smsgate.store.database import Database
from smsgate.store.messages import PartState
from smsgate.store.monitoring import QueueFigures as QueueFigures
from smsgate.store.monitoring import queue_figures as read_queue_figures

MAX_STATISTIC_PERIOD = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Statistic:
    sent: int
    delivered: int
    not_delivered: int
    in_progress: int
    expired: int

    @property
    def delivery_ratio(self) -> int:
        if not self.sent:
            return 0
        ratio = Decimal(100 * self.delivered) / Decimal(self.sent)
        # round() as API.md writes it: a half goes to the even number.
        return int(ratio.to_integral_value(rounding=ROUND_HALF_EVEN))


async def balance(database: Database, account_id: int) -> Decimal:
    return await database.lookup(lambda c: account_store.read_balance(c, account_id))


async def part_state(database: Database, account_id: int, part_id: int) -> PartState | None:
    return await database.lookup(lambda c: message_store.read_part_state(c, account_id, part_id))


async def statistic(
    database: Database, account_id: int, start: datetime, end: datetime
) -> Statistic:
    if end < start:
        raise InvalidArgument("endDateTime is before startDateTime")
    if end - start > MAX_STATISTIC_PERIOD:
        raise InvalidArgument("The period must not be longer than 90 days")
    counts = await database.read(lambda c: message_store.count_by_state(c, account_id, start, end))
    delivered = counts.get(MessageState.DELIVERED, 0)
    not_delivered = counts.get(MessageState.NOT_DELIVERED, 0)
    expired = counts.get(MessageState.EXPIRED, 0)
    sent = sum(counts.values())
    return Statistic(
        sent=sent,
        delivered=delivered,
        not_delivered=not_delivered,
        in_progress=sent - delivered - not_delivered - expired,
        expired=expired,
    )


async def queue_figures(database: Database, now: datetime) -> QueueFigures:
    """What operators watch of the queue and the webhook backlog."""
    return await database.read(lambda c: read_queue_figures(c, now))
