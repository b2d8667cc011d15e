"""Queries on message parts: accepting, claiming, submit results, receipts, expiry, reading
(the flood check's reads are ``store.flood``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)

from smsgate.domain.dates import through_its_last_digit
from smsgate.domain.receipts import PartUnderId, Receipt, match_receipts
from smsgate.domain.states import NOT_SUBMITTED, WAITING, MessageState, stored
from smsgate.store.accounts import (
    DEBIT_COLUMNS,
    change_balance,
    debit,
    debit_columns,
    take_from_balances,
)
from smsgate.store.conditions import lease_ended, parts_in_states, state_unindexed_in
from smsgate.store.prepared import BatchRows, BulkInsert, Prepared, PreparedBatch, PreparedIn
from smsgate.store.push import (
    enqueue_receipt_callbacks,
    enqueue_status_callbacks,
)
from smsgate.store.schema import accounts, counters, early_receipts, kept_error, messages
from smsgate.store.selected import AmongSelected
from smsgate.store.upserts import upsert

MESSAGE_ID_COUNTER = "messages"
_WAITING = stored(WAITING)
_NOT_SUBMITTED = stored(NOT_SUBMITTED)
# The most a part's SmallInteger attempts column counts.
MAX_ATTEMPTS_COUNTED = 32_767

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
    "timezone_step",
)


_ADVANCE_COUNTER = Prepared(
    update(counters)
    .where(counters.c.name == bindparam("name"))
    .values(value=counters.c.value + bindparam("count", type_=counters.c.value.type))
    .returning(counters.c.value)
)


def allocate_ids(connection: Connection, count: int) -> int:
    """Reserve ``count`` consecutive message ids; returns the first."""
    last = _ADVANCE_COUNTER.scalar(connection, name=MESSAGE_ID_COUNTER, count=count)
    if last is None:
        # The first allocation: ids go on after any part stored before the counter was. On
        # PostgreSQL another process may be making its first one at the same moment: then
        # this waits for it and adds to its counter.
        start = select(func.coalesce(func.max(messages.c.id), 0)).scalar_subquery()
        first = upsert(connection, counters).values(name=MESSAGE_ID_COUNTER, value=start + count)
        last = connection.execute(
            first.on_conflict_do_update(
                index_elements=[counters.c.name], set_={"value": counters.c.value + count}
            ).returning(counters.c.value)
        ).scalar_one()
    return int(last) - count + 1


# An order write's debits and its ids in one statement on PostgreSQL, where each statement is a
# round trip and 65-70 µs of the driver's CPU (``bench.order_write``: 14% less CPU in smsgate
# for a write of one order, 5% for one of sixteen, against a statement each).
_TAKEN = debit(BatchRows(DEBIT_COLUMNS, set_based=True)).returning(accounts.c.id).cte("taken")
_ADVANCED = _ADVANCE_COUNTER.statement.cte("advanced")
_TAKE_AND_ADVANCE = Prepared(
    select(
        select(func.count()).select_from(_TAKEN).scalar_subquery(),
        select(_ADVANCED.c.value).scalar_subquery(),
    ),
    arrays=DEBIT_COLUMNS,
)


def take_and_allocate_ids(
    connection: Connection, amounts: Mapping[int, Decimal], count: int
) -> int | None:
    """Take each amount from its account's balance (``take_from_balances``) and reserve
    ``count`` consecutive message ids (``allocate_ids``): the first id, or None when a balance
    did not cover its amount (the caller then rolls the transaction back)."""
    if connection.dialect.name != "postgresql":  # in-process: a statement costs little
        return allocate_ids(connection, count) if take_from_balances(connection, amounts) else None
    ((taken, last),) = _TAKE_AND_ADVANCE.rows(
        connection, **debit_columns(amounts), name=MESSAGE_ID_COUNTER, count=count
    )
    if taken != len(amounts):
        return None
    if last is None:  # no counter yet: the first allocation makes it
        return allocate_ids(connection, count)
    return int(last) - count + 1


_INSERT_PARTS = BulkInsert(messages, PART_COLUMNS)


def insert_parts(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert part rows given as tuples in ``PART_COLUMNS`` order."""
    if rows:
        columns = dict(zip(PART_COLUMNS, zip(*rows, strict=True), strict=True))
        _INSERT_PARTS.execute_columns(connection, columns, len(rows))


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
    # Read as the URL itself, not as ``callback_url IS NOT NULL``: in an UPDATE's RETURNING,
    # SQLite 3.40 answered 1 for that (and 0 for IS NULL) whatever the column held, so every
    # part seemed to have a callback, and each batch of results ran the callbacks' query.
    callback_url: str | None

    @property
    def has_callback(self) -> bool:
        """Whether its state changes are reported to a callback URL (most parts have none)."""
        return self.callback_url is not None


_CLAIM_COLUMNS = [messages.c[name] for name in ClaimedPart.__dataclass_fields__]
# A part released from a claim that lapsed (its dispatcher died) may have been taken by the
# SMSC: only the SMSC's answer to a submit again can tell, past its validity too (an SMSC that
# kept it answers with its id; the simulated one does). Refunded as never sent, it was Expired
# with its delivery report waiting unmatched. A submit again that is only put off (throttled,
# the link down) leaves the mark, until the SMSC answers or ``UNCONFIRMED_SUBMIT_KEPT`` passes.
_MAYBE_SUBMITTED = messages.c.maybe_submitted
# How long past its validity a part whose submit may have reached the SMSC is submitted again
# before it ends Expired, refunded: every route refused it for that long.
UNCONFIRMED_SUBMIT_KEPT = timedelta(days=1)
# How long a part submitted again after its validity ran out (its first submit's fate
# unknown) waits for the report of that submit before it is Expired.
LATE_SUBMIT_REPORT_WAIT = timedelta(minutes=10)


def _claim_statement(state: str) -> Prepared:
    # One waiting state per statement: each is then a single range of the (state, due_at)
    # index, read in order, instead of a sort of every due part.
    now = bindparam("now", type_=messages.c.due_at.type)
    due = (
        select(messages.c.id)
        # A part whose validity ran out unsent is the sweeper's to expire and refund; one whose
        # last claim lapsed may have reached the operator, and is submitted once more.
        .where(
            messages.c.state == state,
            messages.c.due_at <= now,
            or_(messages.c.expires_at > now, _MAYBE_SUBMITTED),
        )
        .order_by(messages.c.due_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)  # PostgreSQL: dispatchers never wait on each other
    )
    claimed: dict[str, Any] = {
        "state": MessageState.SUBMITTING.value,
        "lease_until": bindparam("lease_until", type_=messages.c.lease_until.type),
        # A count the column keeps: a part retried every 5 s through a validity of 72 h (its
        # route down) would pass 32,767, and on PostgreSQL every claim would then fail on it.
        "attempts": case(
            (messages.c.attempts < MAX_ATTEMPTS_COUNTED, messages.c.attempts + 1),
            else_=messages.c.attempts,
        ),
    }
    if state == MessageState.SCHEDULED.value:
        # Its State reads Queued from now on: a change of state, which ReportedDateUtc dates.
        claimed["reported_at"] = now
    return Prepared(
        update(messages)
        .where(AmongSelected(messages.c.id, due))
        .values(**claimed)
        .returning(*_CLAIM_COLUMNS)
    )


_CLAIM = {state: _claim_statement(state) for state in _WAITING}


def claim_due(
    connection: Connection, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedPart]:
    """Lease up to ``limit`` parts that are due.

    Each waiting state has an equal share of the batch, and then the room the others left:
    a backlog of parts sent now (a campaign going out at its TPS) never holds back parts
    scheduled for now, nor a scheduled campaign the one-time codes sent meanwhile.
    """
    share = -(-limit // len(_WAITING))
    claimed: list[ClaimedPart] = []
    more: list[str] = []  # the states that filled their share, and may have more due
    for state in _WAITING:
        taken = _claim_rows(connection, state, now, lease_until, min(share, limit - len(claimed)))
        claimed += taken
        if len(taken) == share:
            more.append(state)
    for state in more:
        if len(claimed) < limit:
            claimed += _claim_rows(connection, state, now, lease_until, limit - len(claimed))
    return sorted(claimed, key=lambda part: part.id)


def _claim_rows(
    connection: Connection, state: str, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedPart]:
    if limit <= 0:
        return []
    rows = _CLAIM[state].rows(connection, now=now, lease_until=lease_until, limit=limit)
    return [ClaimedPart(*row) for row in rows]


def release_lapsed_leases(connection: Connection, now: datetime) -> int:
    """Parts whose dispatcher died holding them become claimable again (``_MAYBE_SUBMITTED``)."""
    return _release(
        connection,
        and_(
            messages.c.state == MessageState.SUBMITTING.value,
            lease_ended(messages.c.lease_until, now),
        ),
    )


def release_all_part_leases(connection: Connection) -> int:
    """Make every leased part claimable now (only safe when no other dispatcher runs)."""
    return _release(connection, messages.c.state == MessageState.SUBMITTING.value)


def _release(connection: Connection, held: ColumnElement[bool]) -> int:
    result = connection.execute(
        update(messages)
        .where(held)
        .values(state=MessageState.QUEUED.value, lease_until=None, maybe_submitted=True)
    )
    return int(result.rowcount)


def _claimed_until(claimed_until: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Parts still held by the claim that leased them until ``claimed_until``. A dispatcher's
    late result must not apply to a part whose claim lapsed and that another dispatcher claimed
    since (a refund of a part the other got accepted, its smsc id overwritten): that claim
    holds another lease."""
    if isinstance(claimed_until, datetime):
        claimed_until = literal(claimed_until, type_=messages.c.lease_until.type)
    return and_(
        state_unindexed_in(MessageState.SUBMITTING.value),
        messages.c.lease_until == claimed_until,
    )


_RECORD_ACCEPTED = PreparedBatch(
    {"part_id": messages.c.id.type, "smsc_id": messages.c.smsc_id.type},
    lambda rows: (
        update(messages)
        .where(
            messages.c.id == rows["part_id"],
            _claimed_until(bindparam("claimed_until", type_=messages.c.lease_until.type)),
        )
        .values(
            state=MessageState.SENT.value,
            smsc_id=rows["smsc_id"],
            connector=bindparam("connector"),
            submitted_at=bindparam("now", type_=messages.c.submitted_at.type),
            reported_at=bindparam("now", type_=messages.c.reported_at.type),
            lease_until=None,
        )
    ),
)


_EARLY_RECEIPTS = PreparedIn(
    lambda among: select(
        early_receipts.c.smsc_id,
        early_receipts.c.state,
        early_receipts.c.done_at,
        early_receipts.c.error,
    ).where(
        early_receipts.c.connector == bindparam("connector"),
        among(early_receipts.c.smsc_id),
    )
)


_FORGET_EARLY_RECEIPTS = PreparedIn(
    lambda among: delete(early_receipts).where(
        early_receipts.c.connector == bindparam("connector"),
        among(early_receipts.c.smsc_id),
    )
)


def record_accepted(
    connection: Connection,
    connector: str,
    accepted: Sequence[tuple[int, str]],
    now: datetime,
    with_callback: Collection[int],
    *,
    claimed_until: datetime,
) -> Counter[MessageState]:
    """Parts the SMSC took: state Sent with its id; then apply receipts that came first (the
    final states of the parts they ended). ``with_callback``: the parts (of these or others)
    that have a callback URL; only parts still in the claim leased until ``claimed_until``
    change."""
    if not accepted:
        return Counter()
    reported = [part_id for part_id, _ in accepted if part_id in with_callback]
    if reported:
        # The parts the update below changes: a lapsed claim's result changes none.
        changing = and_(messages.c.id.in_(reported), _claimed_until(claimed_until))
        enqueue_status_callbacks(connection, changing, MessageState.SENT, now)
    part_ids, smsc_ids = zip(*sorted(accepted), strict=True)
    _RECORD_ACCEPTED.execute_columns(
        connection,
        {"part_id": part_ids, "smsc_id": smsc_ids},
        len(accepted),
        connector=connector,
        now=now,
        claimed_until=claimed_until,
    )
    early = _EARLY_RECEIPTS.rows(
        connection, [smsc_id for _, smsc_id in accepted], connector=connector
    )
    if not early:
        return Counter()
    _FORGET_EARLY_RECEIPTS.rows(connection, [row[0] for row in early], connector=connector)
    return apply_receipts(
        connection, connector, [(row[0], MessageState(row[1]), row[2], row[3]) for row in early]
    )


def owed_refunds(connection: Connection, account_id: int) -> Decimal:
    """What the account's parts not yet with the operator would give back if they all failed."""
    total = connection.execute(
        select(func.coalesce(func.sum(messages.c.price), 0)).where(
            messages.c.state.in_(_NOT_SUBMITTED),
            # ``+ 0``: found by the (state, due_at) index among the parts still to send, not
            # through the account's whole history by its (account, created) index.
            messages.c.account_id + 0 == account_id,
        )
    ).scalar_one()
    return Decimal(total)


_WAITING_RECEIPTS = Prepared(
    select(
        early_receipts.c.connector,
        early_receipts.c.smsc_id,
        early_receipts.c.state,
        early_receipts.c.done_at,
        early_receipts.c.error,
    ).where(
        select(messages.c.id)
        .where(
            messages.c.connector == early_receipts.c.connector,
            messages.c.smsc_id == early_receipts.c.smsc_id,
            # Unindexed: by the (state, due_at) index SQLite would read every sent part.
            state_unindexed_in(MessageState.SENT.value),
        )
        .exists()
    )
)


def apply_waiting_receipts(connection: Connection) -> Counter[MessageState]:
    """Apply the early receipts whose part is recorded as sent by now; the final states of the
    parts they ended.

    A result's write applies the receipts waiting for its parts, but on PostgreSQL a receipt
    kept by one process while another commits its part's result (a bind taken over between
    workers) is seen by neither transaction.
    """
    rows = _WAITING_RECEIPTS.rows(connection)
    by_connector: dict[str, list[tuple[str, MessageState, datetime, str | None]]] = defaultdict(
        list
    )
    for connector, smsc_id, state, done_at, error in rows:
        by_connector[connector].append((smsc_id, MessageState(state), done_at, error))
    ended: Counter[MessageState] = Counter()
    for connector, receipts in sorted(by_connector.items()):
        _FORGET_EARLY_RECEIPTS.rows(connection, [r[0] for r in receipts], connector=connector)
        ended += apply_receipts(connection, connector, receipts)
    return ended


def forget_early_receipts(connection: Connection, done_before: datetime) -> int:
    """Drop receipts kept for a submit result that never came (an SMSC's id for nothing of
    ours, or a result lost); how many. A part's result follows its receipt within seconds."""
    result = connection.execute(
        delete(early_receipts).where(early_receipts.c.done_at < done_before)
    )
    return int(result.rowcount)


def record_retry(
    connection: Connection,
    part_ids: Sequence[int],
    due_at: datetime,
    error: str | None,
    *,
    claimed_until: datetime,
    maybe_submitted: bool = False,
) -> None:
    """Parts to submit again later (throttled, queue full, link down), and why; due at
    ``due_at``, or when their validity runs out if that comes first (then the sweep expires
    and refunds them on time), unless the SMSC may have one already (``_MAYBE_SUBMITTED``):
    marked so from now on with ``maybe_submitted`` (a submit it never answered). Only parts
    still in the claim leased until ``claimed_until``."""
    if part_ids:
        retry_at = literal(due_at, type_=messages.c.due_at.type)
        expires_at = messages.c.expires_at
        if maybe_submitted:
            marked: dict[str, Any] = {"due_at": retry_at, "maybe_submitted": True}
        else:
            expiring = and_(expires_at < retry_at, not_(_MAYBE_SUBMITTED))
            marked = {"due_at": case((expiring, expires_at), else_=retry_at)}
        connection.execute(
            update(messages)
            .where(messages.c.id.in_(part_ids), _claimed_until(claimed_until))
            .values(
                state=MessageState.QUEUED.value,
                lease_until=None,
                error=kept_error(error),
                **marked,
            )
        )


def finish_unsent(
    connection: Connection,
    part_ids: Sequence[int],
    state: MessageState,
    now: datetime,
    error: str | None,
    *,
    claimed_until: datetime | None,
) -> int:
    """End parts that never reached the operator, refunding each part's price: those a
    dispatcher's claim leased until ``claimed_until`` holds (the SMSC refused them), or, with
    None, those waiting (their validity ran out). Either way only in that state: a waiting part
    another dispatcher claimed since it was found may be on its way to the operator, and is
    not refunded."""
    if not part_ids:
        return 0
    if claimed_until is None:
        leaving = parts_in_states(part_ids, _WAITING)
    else:
        leaving = and_(messages.c.id.in_(part_ids), _claimed_until(claimed_until))
    enqueue_status_callbacks(connection, leaving, state, now)
    rows = connection.execute(
        update(messages)
        .where(leaving)
        .values(state=state.value, reported_at=now, lease_until=None, error=kept_error(error))
        .returning(messages.c.account_id, messages.c.price)
    ).all()
    refunds: dict[int, Decimal] = defaultdict(Decimal)
    for account_id, price in rows:
        refunds[account_id] += price
    for account_id, amount in sorted(refunds.items()):  # in id order, as writers lock accounts
        if change_balance(connection, account_id, amount) is None:
            # Credits leave room for every refund owed (AccountAdmin.credit): not reached.
            raise RuntimeError(f"a refund of {amount} to account {account_id} was refused")
    return len(rows)


# By primary key: with a state term beside the smsc id, SQLite's planner would pick the state
# index and scan every part in state Sent for each receipt.
_APPLY_RECEIPT = PreparedBatch(
    {
        "part_id": messages.c.id.type,
        "state": messages.c.state.type,
        "done_at": messages.c.reported_at.type,
        "error": messages.c.error.type,
    },
    lambda rows: (
        update(messages)
        .where(messages.c.id == rows["part_id"], state_unindexed_in(MessageState.SENT.value))
        .values(state=rows["state"], reported_at=rows["done_at"], error=rows["error"])
    ),
)


# An SMSC delivers at least once: a receipt repeated before its part is recorded as sent
# keeps the first.
_KEEP_EARLY_RECEIPT = PreparedBatch(
    {
        "connector": early_receipts.c.connector.type,
        "smsc_id": early_receipts.c.smsc_id.type,
        "state": early_receipts.c.state.type,
        "done_at": early_receipts.c.done_at.type,
        "error": early_receipts.c.error.type,
    },
    lambda rows: rows.into(rows.insert(early_receipts)).on_conflict_do_nothing(),
)
_PART_COLUMNS_OF_RECEIPT = (
    messages.c.id,
    messages.c.callback_url.is_not(None).label("callback"),
    messages.c.state,
    messages.c.submitted_at,
    messages.c.reported_at,
)
# SQLite: the operator ids as an IN list, each a look-up of (connector, smsc_id).
_PARTS_BY_SMSC_ID = PreparedIn(
    lambda among: select(messages.c.smsc_id, *_PART_COLUMNS_OF_RECEIPT).where(
        messages.c.connector == bindparam("connector"), among(messages.c.smsc_id)
    )
)
# PostgreSQL: each operator id's parts as a subquery of its own (LATERAL; OFFSET 0 keeps the
# planner from merging it into a join), where the id can only be an index condition. Given
# ``smsc_id = ANY(...)``, a plan made on statistics taken while few parts were sent took the
# connector alone as the index condition and filtered the ids: each batch of receipts then
# read every part the connector ever sent (auto_explain: 20-355 ms a batch at 25,000 parts).
_SMSC_IDS = BatchRows({"smsc_id": messages.c.smsc_id.type}, set_based=True)
_PARTS_OF_SMSC_ID = (
    select(*_PART_COLUMNS_OF_RECEIPT)
    .where(
        messages.c.connector == bindparam("connector"), messages.c.smsc_id == _SMSC_IDS["smsc_id"]
    )
    .offset(0)
    .lateral("parts")
)
_PARTS_OF_RECEIPTS = Prepared(
    select(
        _SMSC_IDS["smsc_id"],
        _PARTS_OF_SMSC_ID.c.id,
        _PARTS_OF_SMSC_ID.c.callback,
        _PARTS_OF_SMSC_ID.c.state,
        _PARTS_OF_SMSC_ID.c.submitted_at,
        _PARTS_OF_SMSC_ID.c.reported_at,
    ).select_from(_SMSC_IDS.table.join(_PARTS_OF_SMSC_ID, true())),
    arrays=_SMSC_IDS.columns,
)


def _parts_of_receipts(
    connection: Connection, connector: str, smsc_ids: Collection[str]
) -> list[tuple[Any, ...]]:
    """(smsc_id, part id, whether the part has a callback URL, state, submitted_at,
    reported_at) of each part with those ids."""
    if connection.dialect.name == "postgresql":
        ids = sorted(set(smsc_ids))
        return _PARTS_OF_RECEIPTS.rows(connection, smsc_id=ids, connector=connector)
    return _PARTS_BY_SMSC_ID.rows(connection, smsc_ids, connector=connector)


def apply_receipts(
    connection: Connection, connector: str, receipts: Sequence[Receipt]
) -> Counter[MessageState]:
    """Final states from delivery reports (``match_receipts`` says which part each ends); a
    receipt for a part not yet recorded as sent waits in ``early_receipts``. The final states
    of the parts ended: a repeated receipt, or one that waits, ends none."""
    if not receipts:
        return Counter()
    found = _parts_of_receipts(connection, connector, [smsc_id for smsc_id, *_ in receipts])
    with_callback = set()
    parts = []
    for smsc_id, part_id, has_callback, state, submitted_at, reported_at in found:
        awaiting = state == MessageState.SENT.value
        parts.append(
            (smsc_id, PartUnderId(part_id, submitted_at, None if awaiting else reported_at))
        )
        if awaiting and has_callback:
            with_callback.add(part_id)
    matching = match_receipts(receipts, parts)
    if with_callback:
        enqueue_receipt_callbacks(
            connection,
            [
                (part_id, state, reported_at)
                for part_id, (state, reported_at, _) in matching.ended.items()
                if part_id in with_callback
            ],
        )
    _APPLY_RECEIPT.execute_many(
        connection,
        [
            {
                "part_id": part_id,
                "state": state.value,
                "done_at": reported_at,
                "error": kept_error(error),
            }
            for part_id, (state, reported_at, error) in sorted(matching.ended.items())
        ],
    )
    early = [
        {
            "connector": connector,
            "smsc_id": smsc_id,
            "state": state.value,
            "done_at": done_at,
            "error": kept_error(error),
        }
        for smsc_id, state, done_at, error in matching.early
    ]
    if early:
        _KEEP_EARLY_RECEIPT.execute_many(connection, early)
    return Counter(state for state, _, _ in matching.ended.values())


def expired_waiting(connection: Connection, now: datetime, limit: int) -> list[int]:
    """Waiting parts whose validity ran out before they were handed to the operator; not one
    that may have been, until the SMSC has answered a submit again (``_MAYBE_SUBMITTED``)."""
    # due_at <= expires_at always: the redundant bound lets the (state, due_at) index serve.
    query = (
        select(messages.c.id)
        .where(
            messages.c.state.in_(_WAITING),
            messages.c.due_at <= now,
            messages.c.expires_at <= now,
            or_(
                not_(_MAYBE_SUBMITTED),
                messages.c.expires_at <= now - UNCONFIRMED_SUBMIT_KEPT,
            ),
        )
        .limit(limit)
    )
    return list(connection.execute(query).scalars())


def expire_sent(connection: Connection, now: datetime) -> int:
    """Parts handed to the operator whose validity ran out with no report: Expired, no refund.
    One submitted again after its validity ran out gets ``LATE_SUBMIT_REPORT_WAIT`` for its
    report: expired at once, it read Expired while the SMSC delivered it."""
    submitted_at = messages.c.submitted_at
    overdue = and_(
        messages.c.state == MessageState.SENT.value,
        messages.c.expires_at <= now,
        or_(
            submitted_at < messages.c.expires_at,
            submitted_at <= now - LATE_SUBMIT_REPORT_WAIT,
        ),
    )
    enqueue_status_callbacks(connection, overdue, MessageState.EXPIRED, now)
    result = connection.execute(
        update(messages).where(overdue).values(state=MessageState.EXPIRED.value, reported_at=now)
    )
    return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class PartState:
    state: MessageState
    created_at: datetime
    submitted_at: datetime | None
    reported_at: datetime
    price: Decimal


_READ_PART_STATE = Prepared(
    select(
        messages.c.state,
        messages.c.created_at,
        messages.c.submitted_at,
        messages.c.reported_at,
        messages.c.price,
    ).where(messages.c.id == bindparam("part_id"), messages.c.account_id == bindparam("account_id"))
)


def read_part_state(connection: Connection, account_id: int, part_id: int) -> PartState | None:
    rows = _READ_PART_STATE.rows(connection, part_id=part_id, account_id=account_id)
    if not rows:
        return None
    state, created_at, submitted_at, reported_at, price = rows[0]
    return PartState(MessageState(state), created_at, submitted_at, reported_at, Decimal(price))


def count_by_state(
    connection: Connection, account_id: int, start: datetime, end: datetime
) -> dict[MessageState, int]:
    query = (
        select(messages.c.state, func.count())
        .where(
            messages.c.account_id == account_id,
            messages.c.created_at >= start,
            messages.c.created_at <= through_its_last_digit(end),
        )
        .group_by(messages.c.state)
    )
    return {MessageState(state): count for state, count in connection.execute(query)}
