"""Queries on message parts: accepting, claiming, submit results, receipts, expiry, reading."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from smsgate.domain.states import MessageState
from smsgate.store.accounts import change_balance
from smsgate.store.schema import counters, early_receipts, messages

MESSAGE_ID_COUNTER = "messages"
_WAITING = (MessageState.QUEUED.value, MessageState.SCHEDULED.value)

PART_COLUMNS = (
    "id",
    "account_id",
    "group_id",
    "part_number",
    "part_count",
    "sender_name",
    "destination",
    "text",
    "encoding",
    "price",
    "state",
    "created_at",
    "due_at",
    "expires_at",
    "reported_at",
    "attempts",
    "callback_url",
)


def allocate_ids(connection: Connection, count: int) -> int:
    """Reserve ``count`` consecutive message ids; returns the first."""
    table = counters
    result = connection.execute(
        update(table)
        .where(table.c.name == MESSAGE_ID_COUNTER)
        .values(value=table.c.value + count)
        .returning(table.c.value)
    ).scalar_one_or_none()
    if result is None:
        start = connection.execute(select(func.coalesce(func.max(messages.c.id), 0))).scalar_one()
        connection.execute(insert(table).values(name=MESSAGE_ID_COUNTER, value=start + count))
        result = start + count
    return int(result) - count + 1


class PartWriter:
    """Inserts many part rows fast: the statement is compiled once, values bound positionally.

    Values arrive in ``PART_COLUMNS`` order as Python objects; the column types' own bind
    processors convert them, memoised per value since a request repeats the same prices and times.
    """

    def __init__(self, connection: Connection) -> None:
        dialect = connection.dialect
        columns = [messages.c[name] for name in PART_COLUMNS]
        self._processors = [column.type.bind_processor(dialect) for column in columns]
        statement = insert(messages).values({name: bindparam(name) for name in PART_COLUMNS})
        compiled = statement.compile(dialect=dialect)
        self._positional = dialect.paramstyle in ("qmark", "numeric", "format")
        self._sql = str(compiled)
        self._names = compiled.positiontup if self._positional else None

    def insert(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        memo: list[dict[Any, Any]] = [{} for _ in self._processors]
        converted = []
        for row in rows:
            values = []
            for index, value in enumerate(row):
                processor = self._processors[index]
                if processor is not None and value is not None:
                    cache = memo[index]
                    bound = cache.get(value)
                    if bound is None:
                        bound = cache[value] = processor(value)
                    value = bound
                values.append(value)
            converted.append(values)
        if self._positional:
            assert self._names is not None
            order = [PART_COLUMNS.index(name) for name in self._names]
            params: list[Any] = [tuple(values[i] for i in order) for values in converted]
        else:
            params = [dict(zip(PART_COLUMNS, values, strict=True)) for values in converted]
        connection.exec_driver_sql(self._sql, params)


def recent_message_counts(
    connection: Connection, account_id: int, destinations: Iterable[str], since: datetime
) -> dict[str, int]:
    """How many messages (first parts) the account sent to each destination since ``since``."""
    wanted = set(destinations)
    recent = and_(
        messages.c.account_id == account_id,
        messages.c.created_at >= since,
        messages.c.part_number == 1,
    )
    query = select(messages.c.destination, func.count()).where(recent)
    # A few numbers: one index probe each. Many: one scan of the account's recent window.
    if len(wanted) <= 64:
        query = query.where(messages.c.destination.in_(wanted))
    counts = connection.execute(query.group_by(messages.c.destination))
    return {destination: count for destination, count in counts if destination in wanted}


@dataclass(frozen=True, slots=True)
class ClaimedPart:
    id: int
    account_id: int
    group_id: int
    part_number: int
    part_count: int
    sender_name: str
    destination: str
    text: str
    encoding: str
    expires_at: datetime
    attempts: int


_CLAIM_COLUMNS = [messages.c[name] for name in ClaimedPart.__dataclass_fields__]


def claim_due(
    connection: Connection, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedPart]:
    """Lease up to ``limit`` parts that are due, or whose previous lease lapsed."""
    due = or_(
        and_(messages.c.state.in_(_WAITING), messages.c.due_at <= now),
        and_(messages.c.state == MessageState.SUBMITTING.value, messages.c.lease_until < now),
    )
    query = select(messages.c.id).where(due).order_by(messages.c.due_at).limit(limit)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(connection.execute(query).scalars())
    if not ids:
        return []
    claimed = connection.execute(
        update(messages)
        .where(messages.c.id.in_(ids))
        .values(
            state=MessageState.SUBMITTING.value,
            lease_until=lease_until,
            attempts=messages.c.attempts + 1,
        )
        .returning(*_CLAIM_COLUMNS)
    )
    return sorted((ClaimedPart(*row) for row in claimed), key=lambda part: part.id)


def release_all_leases(connection: Connection) -> int:
    """Make every leased part claimable now (only safe when no other dispatcher runs)."""
    result = connection.execute(
        update(messages)
        .where(messages.c.state == MessageState.SUBMITTING.value)
        .values(state=MessageState.QUEUED.value, lease_until=None)
    )
    return int(result.rowcount)


def record_accepted(
    connection: Connection, connector: str, accepted: Sequence[tuple[int, str]], now: datetime
) -> None:
    """Parts the SMSC took: state Sent with its id; then apply receipts that came first."""
    if not accepted:
        return
    connection.execute(
        update(messages)
        .where(
            messages.c.id == bindparam("part_id"), messages.c.state == MessageState.SUBMITTING.value
        )
        .values(
            state=MessageState.SENT.value,
            smsc_id=bindparam("smsc"),
            connector=connector,
            submitted_at=now,
            reported_at=now,
            lease_until=None,
        ),
        [{"part_id": part_id, "smsc": smsc_id} for part_id, smsc_id in accepted],
    )
    smsc_ids = [smsc_id for _, smsc_id in accepted]
    early = connection.execute(
        select(
            early_receipts.c.smsc_id,
            early_receipts.c.state,
            early_receipts.c.done_at,
            early_receipts.c.error,
        ).where(early_receipts.c.connector == connector, early_receipts.c.smsc_id.in_(smsc_ids))
    ).all()
    if early:
        connection.execute(
            early_receipts.delete().where(
                early_receipts.c.connector == connector,
                early_receipts.c.smsc_id.in_([row[0] for row in early]),
            )
        )
        apply_receipts(
            connection, connector, [(row[0], MessageState(row[1]), row[2], row[3]) for row in early]
        )


def record_retry(
    connection: Connection, part_ids: Sequence[int], due_at: datetime, error: str | None
) -> None:
    """Parts to submit again later (throttled, queue full, link down)."""
    if part_ids:
        connection.execute(
            update(messages)
            .where(messages.c.id.in_(part_ids), messages.c.state == MessageState.SUBMITTING.value)
            .values(state=MessageState.QUEUED.value, due_at=due_at, lease_until=None, error=error)
        )


def finish_unsent(
    connection: Connection,
    part_ids: Sequence[int],
    state: MessageState,
    now: datetime,
    error: str | None,
) -> int:
    """End parts that never reached the operator, refunding each part's price."""
    if not part_ids:
        return 0
    rows = connection.execute(
        update(messages)
        .where(
            messages.c.id.in_(part_ids),
            messages.c.state.in_((*_WAITING, MessageState.SUBMITTING.value)),
        )
        .values(state=state.value, reported_at=now, lease_until=None, error=error)
        .returning(messages.c.account_id, messages.c.price)
    ).all()
    refunds: dict[int, Decimal] = defaultdict(Decimal)
    for account_id, price in rows:
        refunds[account_id] += price
    for account_id, amount in refunds.items():
        change_balance(connection, account_id, amount)
    return len(rows)


def apply_receipts(
    connection: Connection,
    connector: str,
    receipts: Sequence[tuple[str, MessageState, datetime, str | None]],
) -> None:
    """Final states from delivery reports; receipts for parts not yet recorded wait in
    ``early_receipts``."""
    if not receipts:
        return
    known = set(
        connection.execute(
            select(messages.c.smsc_id).where(
                messages.c.connector == connector,
                messages.c.smsc_id.in_([smsc_id for smsc_id, *_ in receipts]),
            )
        ).scalars()
    )
    matched = [
        {"smsc": smsc_id, "new_state": state.value, "done": done_at, "err": error}
        for smsc_id, state, done_at, error in receipts
        if smsc_id in known
    ]
    if matched:
        connection.execute(
            update(messages)
            .where(
                messages.c.connector == connector,
                messages.c.smsc_id == bindparam("smsc"),
                messages.c.state == MessageState.SENT.value,
            )
            .values(
                state=bindparam("new_state"), reported_at=bindparam("done"), error=bindparam("err")
            ),
            matched,
        )
    early = [
        {
            "connector": connector,
            "smsc_id": smsc_id,
            "state": state.value,
            "done_at": done_at,
            "error": error,
        }
        for smsc_id, state, done_at, error in receipts
        if smsc_id not in known
    ]
    if early:
        connection.execute(insert(early_receipts), early)


def expired_waiting(connection: Connection, now: datetime, limit: int) -> list[int]:
    """Parts not handed to the operator whose validity ran out."""
    # A leased part is left to its dispatcher until the lease lapses: a connector may hold it.
    unsent = or_(
        messages.c.state.in_(_WAITING),
        and_(messages.c.state == MessageState.SUBMITTING.value, messages.c.lease_until < now),
    )
    query = select(messages.c.id).where(unsent, messages.c.expires_at <= now).limit(limit)
    return list(connection.execute(query).scalars())


def expire_sent(connection: Connection, now: datetime) -> int:
    """Parts handed to the operator whose validity ran out with no report: Expired, no refund."""
    result = connection.execute(
        update(messages)
        .where(messages.c.state == MessageState.SENT.value, messages.c.expires_at <= now)
        .values(state=MessageState.EXPIRED.value, reported_at=now)
    )
    return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class PartState:
    state: MessageState
    created_at: datetime
    submitted_at: datetime | None
    reported_at: datetime
    price: Decimal


def read_part_state(connection: Connection, account_id: int, part_id: int) -> PartState | None:
    row = connection.execute(
        select(
            messages.c.state,
            messages.c.created_at,
            messages.c.submitted_at,
            messages.c.reported_at,
            messages.c.price,
        ).where(messages.c.id == part_id, messages.c.account_id == account_id)
    ).one_or_none()
    if row is None:
        return None
    return PartState(MessageState(row[0]), row[1], row[2], row[3], Decimal(row[4]))


def count_by_state(
    connection: Connection, account_id: int, start: datetime, end: datetime
) -> dict[MessageState, int]:
    query = (
        select(messages.c.state, func.count())
        .where(
            messages.c.account_id == account_id,
            messages.c.created_at >= start,
            messages.c.created_at <= end,
        )
        .group_by(messages.c.state)
    )
    return {MessageState(state): count for state, count in connection.execute(query)}


def count_unfinished(connection: Connection) -> int:
    final = [state.value for state in MessageState if state.is_final]
    query = select(func.count()).select_from(messages).where(messages.c.state.not_in(final))
    return int(connection.execute(query).scalar_one())
