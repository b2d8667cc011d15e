"""Writing accepted send orders: flood check, balance debit and part rows.

Orders that arrive together are written together. Under the write lock, the recent messages
and the balances of the accounts involved are read once; each order is then decided in
arrival order against running counts and a running balance (all or nothing per order); the
accepted ones are written with one debit per account, one id allocation and one insert.
Orders that arrive while a write waits for its accounts' locks join it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from smsgate.domain.errors import ApiError, FloodDetected, NotEnoughCredits
from smsgate.domain.flood import flooded_destination
from smsgate.domain.money import decimal_text
from smsgate.domain.states import MessageState
from smsgate.services.sending import SendOrder
from smsgate.store.accounts import lock_balances
from smsgate.store.database import Database
from smsgate.store.flood import FloodProbe, frequent_destinations, recent_message_times
from smsgate.store.messages import insert_parts, take_and_allocate_ids

Outcome = list[int] | ApiError
# An order waiting for its write, and where its outcome goes.
_Waiting = tuple[SendOrder, "asyncio.Future[list[int]]"]


# Given the accounts whose balances a write holds: the orders of those accounts still waiting
# for a write, taken to be written now.
Joining = Callable[[Collection[int]], list[SendOrder]]


def write_orders(
    connection: Connection, orders: Sequence[SendOrder], joining: Joining | None = None
) -> list[Outcome]:
    """Decide and write ``orders``, then those ``joining`` gives once the balances are locked;
    each outcome is the order's part ids or its error, in that order."""
    # The accounts are locked first, and in one order in every process (no two writers wait on
    # each other in a cycle); the recent messages are read under the locks, so a concurrent
    # writer's orders of the same account are either all counted or none exist yet.
    balances = lock_balances(connection, {order.account_id for order in orders})
    if joining is not None:
        # The lock may have been a wait for another process's write: what arrived meanwhile
        # for these accounts goes in this write rather than waiting for its own.
        orders = [*orders, *joining(balances.keys())]
    recent = _recent_messages(connection, orders)
    # Orders still to decide per account: the last one's messages need not be counted.
    following = Counter(order.account_id for order in orders)
    outcomes: list[Outcome | None] = []
    accepted: list[SendOrder] = []
    for order in orders:
        following[order.account_id] -= 1
        error = _flood_error(order, recent) or _credit_error(order, balances)
        outcomes.append(error)
        if error is None:
            accepted.append(order)
            balances[order.account_id] -= order.cost
            if following[order.account_id]:
                sent = recent[order.account_id]
                for message in order.messages:
                    sent[message.destination].append(order.created_at)
    ids = iter(_debit_and_insert(connection, accepted) if accepted else [])
    return [outcome if outcome is not None else next(ids) for outcome in outcomes]


def _recent_messages(
    connection: Connection, orders: Sequence[SendOrder]
) -> dict[int, dict[str, list[datetime]]]:
    requested: dict[int, Counter[str]] = defaultdict(Counter)
    since: dict[int, datetime] = {}
    limit: dict[int, int] = {}
    for order in orders:
        if order.flood.limit:
            account_id = order.account_id
            requested[account_id].update(m.destination for m in order.messages)
            start = order.created_at - order.flood.window
            since[account_id] = min(start, since.get(account_id, start))
            limit[account_id] = min(order.flood.limit, limit.get(account_id, order.flood.limit))
    # A number the batch asks for at most k times can only be flooded if it already had
    # limit - k + 1 messages in the window; the others' times would change no decision, and a
    # busy window (bulks of thousands) would cost every one of its rows.
    probes: list[FloodProbe] = []
    numbers: dict[int, set[str]] = defaultdict(set)
    for account_id, counts in requested.items():
        at_least = limit[account_id] + 1 - max(counts.values())
        if at_least > 1:
            probes.append(FloodProbe(account_id, counts.keys(), since[account_id], at_least))
        else:
            numbers[account_id].update(counts)
    for account_id, number in frequent_destinations(connection, probes):
        numbers[account_id].add(number)
    recent: dict[int, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    for account_id, wanted in numbers.items():
        recent[account_id].update(
            recent_message_times(connection, account_id, wanted, since[account_id])
        )
    return recent


def _flood_error(
    order: SendOrder, recent: dict[int, dict[str, list[datetime]]]
) -> FloodDetected | None:
    if not order.flood.limit:
        return None
    requested = Counter(message.destination for message in order.messages)
    start = order.created_at - order.flood.window
    sent = recent[order.account_id]
    counts = {
        number: sum(1 for moment in sent[number] if moment >= start)
        for number in sent.keys() & requested.keys()
    }
    flooded = flooded_destination(counts, requested, order.flood.limit)
    return FloodDetected(f"Too many messages to {flooded}, try again later") if flooded else None


def _credit_error(order: SendOrder, balances: dict[int, Decimal]) -> NotEnoughCredits | None:
    cost = order.cost
    if cost > balances[order.account_id]:
        return NotEnoughCredits(f"Not enough credits: the request costs {decimal_text(cost)}")
    return None


def _debit_and_insert(connection: Connection, orders: Sequence[SendOrder]) -> list[list[int]]:
    """Take the cost of ``orders`` from their balances and insert their parts with consecutive
    ids; each order's ids, in order."""
    debits: dict[int, Decimal] = defaultdict(Decimal)
    for order in orders:
        debits[order.account_id] += order.cost
    part_count = sum(order.part_count for order in orders)
    part_id = take_and_allocate_ids(connection, debits, part_count)
    if part_id is None:
        raise RuntimeError("a balance changed under the write lock")
    rows: list[tuple[Any, ...]] = []
    answers = []
    for order in orders:
        ids = []
        for message in order.messages:
            parts = message.segmentation.parts
            scheduled = message.due_at > order.created_at
            state = (MessageState.SCHEDULED if scheduled else MessageState.QUEUED).value
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
                        state,
                        order.created_at,
                        message.due_at,
                        message.expires_at,
                        order.created_at,
                        0,
                        order.callback_url,
                        message.timezone_step,
                    )
                )
                ids.append(part_id)
                part_id += 1
        answers.append(ids)
    insert_parts(connection, rows)
    return answers


class OrderDesk:
    """Gathers orders into writes: one write at a time, taking every order that arrived while
    the last one ran, and those that arrive while it waits for its accounts' locks.

    A write's cost hardly depends on its size (a few statements and a commit, each a round trip
    on PostgreSQL, where the account's row stays locked until the commit), so under load orders
    wait for the write in progress and then go together, instead of queueing up as many small
    writes that each pay for it. With several API processes the writes of one account take
    turns on its row: each would carry only the orders of its own process that arrived before
    it began, so the orders that arrive while it waits for the row join it.
    """

    def __init__(self, database: Database, on_accepted: Callable[[], None] | None = None) -> None:
        self.database = database
        self.on_accepted = on_accepted
        # Taken by the event loop and by the write's thread (``_join``).
        self._queue_lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._writing: asyncio.Task[None] | None = None

    async def accept(self, order: SendOrder) -> list[int]:
        """The ids of the order's parts once committed; raises the order's ``ApiError``."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[int]] = loop.create_future()
        with self._queue_lock:
            if not self._waiting and self._writing is None:
                # After the callbacks already due: the orders of this loop turn go together.
                loop.call_soon(self._flush)
            self._waiting.append((order, answer))
        return await answer

    def _flush(self) -> None:
        with self._queue_lock:
            if self._writing is not None or not self._waiting:
                return
            batch, self._waiting = self._waiting, []
        self._writing = asyncio.create_task(self._write(batch))
        self._writing.add_done_callback(self._written)

    def _written(self, _task: asyncio.Task[None]) -> None:
        self._writing = None
        self._flush()

    def _join(self, batch: list[_Waiting], locked: Collection[int]) -> list[SendOrder]:
        with self._queue_lock:
            joined = [waiting for waiting in self._waiting if waiting[0].account_id in locked]
            if joined:
                self._waiting = [
                    waiting for waiting in self._waiting if waiting[0].account_id not in locked
                ]
        batch.extend(joined)  # answered with the batch, and in it if the write runs again
        return [order for order, _ in joined]

    async def _write(self, batch: list[_Waiting]) -> None:
        def write(connection: Connection) -> list[Outcome]:
            orders = [order for order, _ in batch]
            return write_orders(connection, orders, lambda locked: self._join(batch, locked))

        try:
            outcomes = await self.database.write(write)
        except Exception as error:  # rolled back: no order of the batch was accepted
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
            return
        if self.on_accepted is not None:
            self.on_accepted()
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            if answer.done():
                continue  # the client went away; its parts stay accepted and will be sent
            if isinstance(outcome, ApiError):
                answer.set_exception(outcome)
            else:
                answer.set_result(outcome)
