"""The push queue: instant pushes of incoming messages and status callbacks of parts.

Jobs are written in the transaction of the change they report, so a committed incoming message
or state change always has its job, and are claimed with a lease, the way the dispatcher claims
parts: a pusher that dies gives its jobs back when the lease runs out.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.sql.dml import Insert

from smsgate.domain.states import MessageState
from smsgate.store.conditions import state_unindexed_in
from smsgate.store.incoming import IncomingRow
from smsgate.store.prepared import Prepared, PreparedBatch, PreparedIn
from smsgate.store.schema import accounts, incoming_messages, kept_error, messages, push_jobs


class PushKind(enum.StrEnum):
    INCOMING = "incoming"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A part's state as it changed; each change is a job of its own."""

    part_id: int
    state: MessageState
    reported_at: datetime
    price: Decimal


@dataclass(frozen=True, slots=True)
class PushJob:
    """A claimed job: where to POST, the key to sign with, and what the body reports."""

    id: int
    account_id: int
    url: str
    secret: str | None
    attempts: int
    created_at: datetime
    subject: IncomingRow | StatusChange


_INSERT_INCOMING_JOB = Prepared(
    insert(push_jobs)
    .values(
        kind=PushKind.INCOMING.value,
        account_id=bindparam("account_id"),
        url=bindparam("url"),
        subject_id=bindparam("message_id"),
        created_at=bindparam("now", type_=push_jobs.c.created_at.type),
        due_at=bindparam("due_at", type_=push_jobs.c.due_at.type),
        leased=bindparam("leased", type_=push_jobs.c.leased.type),
        attempts=bindparam("attempts", type_=push_jobs.c.attempts.type),
    )
    .returning(push_jobs.c.id)
)


def enqueue_incoming_push(
    connection: Connection,
    account_id: int,
    url: str,
    message_id: int,
    now: datetime,
    lease_until: datetime | None = None,
) -> int:
    """Queue the push of an incoming message; returns the job's id.

    With ``lease_until`` the job is leased (its first attempt claimed) to the pusher of the
    caller's process, which then must push it or hand it back (``finish_jobs``).
    """
    return int(
        _INSERT_INCOMING_JOB.scalar(
            connection,
            account_id=account_id,
            url=url,
            message_id=message_id,
            now=now,
            due_at=lease_until or now,
            leased=lease_until is not None,
            attempts=1 if lease_until else 0,
        )
    )


def redirect_incoming_pushes(connection: Connection, account_id: int, url: str | None) -> None:
    """Send the account's pending pushes of incoming messages to its new webhook ``url``, or,
    with None, drop them: its operator stopped the pushing. (A job keeps the URL it was queued
    for, so a job failing at the old one went on there, for a day.)"""
    pending = (
        push_jobs.c.account_id == account_id,
        push_jobs.c.kind == PushKind.INCOMING.value,
        push_jobs.c.due_at.is_not(None),  # not given up
    )
    if url is None:
        connection.execute(delete(push_jobs).where(*pending))
    else:
        connection.execute(update(push_jobs).where(*pending).values(url=url))


_STATUS_JOB_COLUMNS = (
    "kind",
    "account_id",
    "url",
    "subject_id",
    "state",
    "reported_at",
    "price",
    "created_at",
    "due_at",
    "leased",
    "attempts",
)


def _status_jobs(changing: ColumnElement[bool]) -> Insert:
    """Insert a status job for each part that ``changing`` selects and that has a callback URL;
    the new state, its time and ``now`` are bound at execution."""
    parts = (
        select(
            literal(PushKind.STATUS.value),
            messages.c.account_id,
            messages.c.callback_url,
            messages.c.id,
            bindparam("state", type_=push_jobs.c.state.type),
            bindparam("reported_at", type_=push_jobs.c.reported_at.type),
            messages.c.price,
            bindparam("now", type_=push_jobs.c.created_at.type),
            bindparam("now", type_=push_jobs.c.due_at.type),
            literal(False, Boolean()),
            literal(0, Integer()),
        )
        .where(changing, messages.c.callback_url.is_not(None))
        # PostgreSQL: the parts are locked (SQLite has no row locks and renders nothing).
        .with_for_update(of=messages)
    )
    return insert(push_jobs).from_select(_STATUS_JOB_COLUMNS, parts)


def _change(state: MessageState, reported_at: datetime) -> dict[str, Any]:
    return {"state": state.value, "reported_at": reported_at, "now": datetime.now(UTC)}


def enqueue_status_callbacks(
    connection: Connection,
    changing: ColumnElement[bool],
    state: MessageState,
    reported_at: datetime,
) -> None:
    """Queue a callback for each part that ``changing`` selects and that has a callback URL.

    Call it in the transaction of the UPDATE that moves those parts to ``state``, just before
    it and with the same condition (including the state moved from). On PostgreSQL the parts
    are locked here, so a concurrent change of the same parts waits and then finds them moved.
    """
    connection.execute(_status_jobs(changing), _change(state, reported_at))


# The same for parts by id in one state, on every batch the dispatcher records: prepared.
_STATUS_JOBS_OF_PARTS = PreparedIn(
    lambda among: _status_jobs(
        and_(
            among(messages.c.id),
            state_unindexed_in(bindparam("from_state")),
        )
    )
)


def enqueue_part_callbacks(
    connection: Connection,
    part_ids: Sequence[int],
    from_state: MessageState,
    state: MessageState,
    reported_at: datetime,
) -> None:
    """``enqueue_status_callbacks`` for the parts of ``part_ids`` in ``from_state``."""
    _STATUS_JOBS_OF_PARTS.rows(
        connection, part_ids, from_state=from_state.value, **_change(state, reported_at)
    )


def enqueue_receipt_callbacks(
    connection: Connection, receipts: Sequence[tuple[int, MessageState, datetime]]
) -> None:
    """Callbacks for (part id, final state, done at) receipts about to apply to sent parts.

    Pass only the parts known to have a callback URL: the caller has just looked them up.
    """
    by_change: dict[tuple[MessageState, datetime], list[int]] = defaultdict(list)
    seen = set()
    for part_id, state, done_at in receipts:
        if part_id not in seen:  # a repeated report changes nothing: the first one applies
            seen.add(part_id)
            by_change[state, done_at].append(part_id)
    for (state, done_at), part_ids in by_change.items():
        enqueue_part_callbacks(connection, part_ids, MessageState.SENT, state, done_at)


_CLAIMED_COLUMNS = (
    push_jobs.c.id,
    push_jobs.c.account_id,
    push_jobs.c.url,
    accounts.c.webhook_secret,
    push_jobs.c.attempts,
    push_jobs.c.created_at,
    push_jobs.c.kind,
    push_jobs.c.subject_id,
    push_jobs.c.state,
    push_jobs.c.reported_at,
    push_jobs.c.price,
    incoming_messages.c.account_id,
    incoming_messages.c.prefix,
    incoming_messages.c.source,
    incoming_messages.c.destination,
    incoming_messages.c.text,
    incoming_messages.c.created_at,
)


_EARLIER = push_jobs.alias("earlier")
# A job waits while an earlier job about the same subject is pending, so that a receiver sees
# a part's state changes in order.
_DUE = (
    select(*_CLAIMED_COLUMNS)
    .select_from(
        push_jobs.join(accounts, accounts.c.id == push_jobs.c.account_id).outerjoin(
            incoming_messages,
            and_(
                push_jobs.c.kind == PushKind.INCOMING.value,
                incoming_messages.c.id == push_jobs.c.subject_id,
            ),
        )
    )
    .where(
        ~exists().where(
            _EARLIER.c.kind == push_jobs.c.kind,
            _EARLIER.c.subject_id == push_jobs.c.subject_id,
            _EARLIER.c.id < push_jobs.c.id,
            _EARLIER.c.due_at.is_not(None),
        )
    )
    .order_by(push_jobs.c.due_at)
)


def claim_jobs(
    connection: Connection,
    now: datetime,
    lease_until: datetime,
    limit: int,
    per_account: int,
    busy: Mapping[int, int],
) -> list[PushJob]:
    """Lease up to ``limit`` due jobs, at most ``per_account`` in flight per account counting
    the ``busy`` ones (account id -> jobs in flight)."""
    taken = dict(busy)
    claimed: list[PushJob] = []
    while len(claimed) < limit:
        # The accounts at their share are left out, else the due jobs of one account (a
        # receiver that fails fast, its backlog the oldest) would fill every claim, only its
        # share taken: the others' jobs came after it, round after round.
        full = [account for account, count in taken.items() if count >= per_account]
        query = _DUE.where(push_jobs.c.due_at <= now)
        if full:
            query = query.where(push_jobs.c.account_id.not_in(full))
        wanted = limit - len(claimed)
        query = query.limit(wanted)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(of=push_jobs, skip_locked=True)
        rows = connection.execute(query).all()
        round_claimed = []
        for row in rows:
            account_id = row[1]
            if taken.get(account_id, 0) < per_account:
                taken[account_id] = taken.get(account_id, 0) + 1
                round_claimed.append(_claimed(row))
        if round_claimed:
            # Leased, so no longer due: the next look skips them.
            connection.execute(
                update(push_jobs)
                .where(push_jobs.c.id.in_([job.id for job in round_claimed]))
                .values(due_at=lease_until, leased=True, attempts=push_jobs.c.attempts + 1)
            )
            claimed += round_claimed
        if len(rows) < wanted or len(round_claimed) == len(rows):
            break  # no more due, or the claim is full
    return claimed


def _claimed(row: Sequence[Any]) -> PushJob:
    (job_id, account_id, url, secret, attempts, created_at, kind, subject_id) = row[:8]
    state, reported_at, price, owner, prefix, source, destination, text, received_at = row[8:]
    subject: IncomingRow | StatusChange
    if kind == PushKind.INCOMING:
        subject = IncomingRow(subject_id, owner, prefix, source, destination, text, received_at)
    else:
        subject = StatusChange(subject_id, MessageState(state), reported_at, price)
    # The claim counts as an attempt.
    return PushJob(job_id, account_id, url, secret, attempts + 1, created_at, subject)


_RESCHEDULE = PreparedBatch(
    {
        "job_id": push_jobs.c.id.type,
        "due_at": push_jobs.c.due_at.type,
        "error": push_jobs.c.error.type,
    },
    lambda rows: (
        update(push_jobs)
        .where(push_jobs.c.id == rows["job_id"])
        .values(due_at=rows["due_at"], leased=False, error=rows["error"])
    ),
)


def finish_jobs(
    connection: Connection,
    delivered: Sequence[int],
    failed: Sequence[tuple[int, datetime | None, str]],
    handed_back: Sequence[int],
    now: datetime,
) -> None:
    """Drop the delivered jobs; ``failed`` are (job id, next attempt or None to give up, what
    went wrong); ``handed_back`` are leased jobs left unattempted, due again now."""
    if delivered:
        connection.execute(push_jobs.delete().where(push_jobs.c.id.in_(delivered)))
    if failed:
        _RESCHEDULE.execute_many(
            connection,
            [
                {"job_id": job_id, "due_at": due_at, "error": kept_error(error)}
                for job_id, due_at, error in failed
            ],
        )
    if handed_back:
        connection.execute(
            update(push_jobs)
            .where(push_jobs.c.id.in_(handed_back))
            .values(due_at=now, leased=False, attempts=push_jobs.c.attempts - 1)
        )


def release_push_leases(connection: Connection, now: datetime) -> int:
    """Make every leased job due now (only safe when no other pusher runs)."""
    result = connection.execute(
        update(push_jobs).where(push_jobs.c.leased.is_(True)).values(due_at=now, leased=False)
    )
    return int(result.rowcount)


def forget_given_up(connection: Connection, created_before: datetime) -> int:
    """Delete the jobs given up (``due_at`` NULL) that were created before ``created_before``;
    how many."""
    result = connection.execute(
        delete(push_jobs).where(
            push_jobs.c.due_at.is_(None), push_jobs.c.created_at < created_before
        )
    )
    return int(result.rowcount)
