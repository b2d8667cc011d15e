"""Accepting send orders with group commit.

Concurrent requests queue their orders; one task writes everything queued in a single
transaction. Inside it each order is still all or nothing: its flood check and its conditional
balance debit come before any of its rows, and an order that fails them writes nothing. One
commit (and one trip to the writer thread) then serves many requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from smsgate.domain.errors import ApiError, FloodDetected, NotEnoughCredits
from smsgate.domain.flood import flooded_destination
from smsgate.domain.states import MessageState
from smsgate.services.sending import SendOrder
from smsgate.store.accounts import change_balance
from smsgate.store.database import Database
from smsgate.store.messages import PartWriter, allocate_ids, recent_message_counts

log = logging.getLogger(__name__)

MAX_PARTS_PER_COMMIT = 50_000


@dataclass(slots=True)
class _Pending:
    order: SendOrder
    answer: asyncio.Future[list[int]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def write_order(connection: Connection, writer: PartWriter, order: SendOrder) -> list[int]:
    """Check, debit and insert one order; raises ``ApiError`` having written nothing."""
    if order.flood.limit:
        requested = Counter(message.destination for message in order.messages)
        recent = recent_message_counts(
            connection, order.account_id, requested, order.created_at - order.flood.window
        )
        flooded = flooded_destination(recent, requested, order.flood.limit)
        if flooded is not None:
            raise FloodDetected(f"Too many messages to {flooded}, try again later")
    cost = order.cost
    if change_balance(connection, order.account_id, -cost) is None:
        raise NotEnoughCredits(f"Not enough credits: the request costs {cost}")
    first_id = allocate_ids(connection, order.part_count)
    rows = []
    ids = []
    part_id = first_id
    for message in order.messages:
        parts = message.segmentation.parts
        state = MessageState.SCHEDULED if message.due_at > order.created_at else MessageState.QUEUED
        encoding = message.segmentation.encoding.value
        for number, text in enumerate(parts, start=1):
            rows.append(
                (
                    part_id,
                    order.account_id,
                    part_id - number + 1,
                    number,
                    len(parts),
                    order.sender_name,
                    message.destination,
                    text,
                    encoding,
                    message.price_per_part,
                    state.value,
                    order.created_at,
                    message.due_at,
                    message.expires_at,
                    order.created_at,
                    0,
                    order.callback_url,
                )
            )
            ids.append(part_id)
            part_id += 1
    writer.insert(connection, rows)
    return ids


class OrderWriter:
    """Queues orders and commits them in batches on the database's writer thread."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._writer: PartWriter | None = None
        self.on_commit: Callable[[], None] | None = None

    async def accept(self, order: SendOrder) -> list[int]:
        """The ids of the order's parts once committed; raises the order's ``ApiError``."""
        pending = _Pending(order)
        self._queue.append(pending)
        self._wakeup.set()
        return await pending.answer

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._commit(self._take_batch())

    def _take_batch(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        parts = batch[0].order.part_count
        while self._queue and parts + self._queue[0].order.part_count <= MAX_PARTS_PER_COMMIT:
            pending = self._queue.popleft()
            parts += pending.order.part_count
            batch.append(pending)
        return batch

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self.database.write(lambda c: self._write_batch(c, batch))
        except Exception as error:  # the transaction rolled back: no order of it was accepted
            log.exception("writing %d send orders failed", len(batch))
            for pending in batch:
                if not pending.answer.done():
                    pending.answer.set_exception(error)
            return
        if self.on_commit is not None:
            self.on_commit()
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.answer.done():
                continue  # the client went away; its parts stay accepted and will be sent
            if isinstance(outcome, ApiError):
                pending.answer.set_exception(outcome)
            else:
                pending.answer.set_result(outcome)

    def _write_batch(
        self, connection: Connection, batch: list[_Pending]
    ) -> list[list[int] | ApiError]:
        if self._writer is None:
            self._writer = PartWriter(connection)
        outcomes: list[list[int] | ApiError] = []
        for pending in batch:
            try:
                outcomes.append(write_order(connection, self._writer, pending.order))
            except ApiError as error:
                outcomes.append(error)
        return outcomes
