"""The simulated SMSC's own tables: the parts it took and the incoming messages it holds.

They are the SMSC's state, not the platform's: only the simulator (and the tools that feed its
inbox) use them. Every process on one database shares them, as every bind shares one real SMSC.
Rows are held by leases (``lease_until``) so that what a dead process held goes to another.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.sql.dml import UpdateBase

from smsgate.store.conditions import lease_ended
from smsgate.store.prepared import BatchRows, Prepared, PreparedBatch, PreparedIn
from smsgate.store.schema import simulator_inbox, simulator_parts
from smsgate.store.selected import AmongSelected

_parts = simulator_parts.c
_inbox = simulator_inbox.c


@dataclass(frozen=True, slots=True)
class TakenPart:
    """A part as the simulator takes it; ``report`` None: it is never reported."""

    part_id: int
    smsc_id: str
    report: str | None
    report_due_at: datetime
    lease_until: datetime | None


@dataclass(frozen=True, slots=True)
class OwedReport:
    part_id: int
    smsc_id: str
    report: str
    report_due_at: datetime  # its done date, the same every time it is delivered


_TAKE_COLUMNS = tuple(TakenPart.__dataclass_fields__)


def _take_statement(rows: BatchRows) -> UpdateBase:
    return rows.into(rows.insert(simulator_parts), submissions=1).on_conflict_do_update(
        index_elements=[_parts.part_id], set_={"submissions": _parts.submissions + 1}
    )


_TAKE = PreparedBatch({name: _parts[name].type for name in _TAKE_COLUMNS}, _take_statement)
_SMSC_IDS = PreparedIn(
    lambda among: select(_parts.part_id, _parts.smsc_id).where(among(_parts.part_id))
)


def take_parts(
    connection: Connection, parts: Sequence[TakenPart], expired: Collection[int] = ()
) -> dict[int, str]:
    """Record the parts; one taken before (by any process) keeps its row and smsc id and counts
    one more submission. Of the ``expired`` (their validity ran out), only those taken before
    are: an SMSC refuses a message past its validity. The smsc id each part holds, by part id."""
    if expired:
        known = dict(_SMSC_IDS.rows(connection, list(expired)))
        parts = [part for part in parts if part.part_id not in expired or part.part_id in known]
    if not parts:
        return {}
    # In key order, as every writer locks rows: two batches never wait on each other in a cycle.
    ordered = sorted(parts, key=lambda part: part.part_id)
    columns = {name: [getattr(part, name) for part in ordered] for name in _TAKE_COLUMNS}
    _TAKE.execute_columns(connection, columns, len(parts))
    # Read back rather than RETURNING: a driver's executemany returns no rows. On PostgreSQL a
    # concurrent insert of the same part was waited for by the upsert, so it is visible here.
    return dict(_SMSC_IDS.rows(connection, [part.part_id for part in parts]))


_MARK_REPORTED = PreparedBatch(
    {"part_id": _parts.part_id.type},
    lambda rows: (
        update(simulator_parts)
        .where(_parts.part_id == rows["part_id"])
        .values(lease_until=None, reported_at=bindparam("now", type_=_parts.reported_at.type))
    ),
)


def mark_reported(connection: Connection, part_ids: Sequence[int], now: datetime) -> None:
    """The reports of these parts were delivered (and committed by the platform)."""
    _MARK_REPORTED.execute_columns(
        connection, {"part_id": sorted(part_ids)}, len(part_ids), now=now
    )


# A released report is claimable once it is due: a claimed report is always due.
_RELEASE_PART = PreparedBatch(
    {"part_id": _parts.part_id.type},
    lambda rows: (
        update(simulator_parts)
        .where(_parts.part_id == rows["part_id"], _parts.lease_until.is_not(None))
        .values(lease_until=_parts.report_due_at)
    ),
)


def release_parts(connection: Connection, part_ids: Sequence[int]) -> None:
    """Give up the leases of reports not delivered, for any simulator to deliver when due."""
    _RELEASE_PART.execute_columns(connection, {"part_id": part_ids}, len(part_ids))


def _lease_statement(table: Table, *returning: ColumnElement[Any]) -> Prepared:
    """Lease the rows of ``table`` whose lease ended by ``now`` (oldest first, up to ``limit``)
    until ``lease_until``, returning ``returning`` of each."""
    key = table.primary_key.columns[0]
    lease_until = table.c.lease_until
    ended = (
        select(key)
        .where(lease_ended(lease_until, bindparam("now", type_=lease_until.type)))
        .order_by(lease_until)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)  # PostgreSQL: simulators never wait on each other
    )
    return Prepared(
        update(table)
        .where(AmongSelected(key, ended))
        .values(lease_until=bindparam("lease_until", type_=lease_until.type))
        .returning(*returning)
    )


def _any_lease_ended(table: Table) -> Prepared:
    """Whether a row of ``table`` has its lease ended by ``now``: a cheap read before a claim."""
    lease_until = table.c.lease_until
    key = table.primary_key.columns[0]
    return Prepared(
        select(key)
        .where(lease_ended(lease_until, bindparam("now", type_=lease_until.type)))
        .limit(1)
    )


_CLAIM_PARTS = _lease_statement(
    simulator_parts, _parts.part_id, _parts.smsc_id, _parts.report, _parts.report_due_at
)
_ANY_LAPSED = _any_lease_ended(simulator_parts)


def any_lapsed(connection: Connection, now: datetime) -> bool:
    """Whether a report's lease has lapsed (its holder died or let it go)."""
    return bool(_ANY_LAPSED.rows(connection, now=now))


def claim_lapsed(
    connection: Connection, now: datetime, lease_until: datetime, limit: int
) -> list[OwedReport]:
    """Lease up to ``limit`` reports whose lease lapsed; each is due."""
    rows = _CLAIM_PARTS.rows(connection, now=now, lease_until=lease_until, limit=limit)
    return [OwedReport(*row) for row in rows]


def release_all(connection: Connection, now: datetime) -> int:
    """Give up every lease of the parts and the inbox: only when no other simulator runs."""
    parts = connection.execute(
        update(simulator_parts)
        .where(_parts.lease_until.is_not(None))
        .values(lease_until=_parts.report_due_at)
    )
    inbox = connection.execute(
        update(simulator_inbox).where(_inbox.lease_until > now).values(lease_until=now)
    )
    return int(parts.rowcount) + int(inbox.rowcount)


def forget_parts(
    connection: Connection, reported_before: datetime, silent_before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` parts reported before ``reported_before``, or never to be reported
    and due before ``silent_before``; how many."""
    # A report comes after it is due, so the due-time index bounds both kinds.
    stale = (
        select(_parts.part_id)
        .where(
            _parts.report_due_at < reported_before,
            or_(
                _parts.reported_at < reported_before,
                and_(_parts.report.is_(None), _parts.report_due_at < silent_before),
            ),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = connection.execute(delete(simulator_parts).where(AmongSelected(_parts.part_id, stale)))
    return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class WaitingIncoming:
    """An incoming message the simulated SMSC has still to deliver."""

    id: int
    source: str
    destination: str
    text: str


_ADD_INCOMING = PreparedBatch(
    {
        "source": _inbox.source.type,
        "destination": _inbox.destination.type,
        "text": _inbox.text.type,
        "created_at": _inbox.created_at.type,
        "lease_until": _inbox.lease_until.type,
    },
    lambda rows: rows.into(insert(simulator_inbox)),
)


def add_incoming(
    connection: Connection, messages: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """Queue (source, destination, text) messages for the simulated SMSC to deliver."""
    if messages:
        sources, destinations, texts = zip(*messages, strict=True)
        _ADD_INCOMING.execute_columns(
            connection,
            {
                "source": sources,
                "destination": destinations,
                "text": texts,
                "created_at": [now] * len(messages),
                "lease_until": [now] * len(messages),
            },
            len(messages),
        )


_CLAIM_INCOMING = _lease_statement(
    simulator_inbox, _inbox.id, _inbox.source, _inbox.destination, _inbox.text
)
_ANY_INCOMING = _any_lease_ended(simulator_inbox)


def any_incoming(connection: Connection, now: datetime) -> bool:
    """Whether a message waits that no simulator holds."""
    return bool(_ANY_INCOMING.rows(connection, now=now))


def claim_incoming(
    connection: Connection, now: datetime, lease_until: datetime, limit: int
) -> list[WaitingIncoming]:
    """Lease up to ``limit`` waiting messages, oldest first."""
    rows = _CLAIM_INCOMING.rows(connection, now=now, lease_until=lease_until, limit=limit)
    return sorted((WaitingIncoming(*row) for row in rows), key=lambda message: message.id)


_REMOVE_INCOMING = PreparedBatch(
    {"id": _inbox.id.type}, lambda rows: delete(simulator_inbox).where(_inbox.id == rows["id"])
)
_RELEASE_INCOMING = PreparedBatch(
    {"id": _inbox.id.type},
    lambda rows: (
        update(simulator_inbox)
        .where(_inbox.id == rows["id"])
        .values(lease_until=bindparam("claimable_at", type_=_inbox.lease_until.type))
    ),
)


def settle_incoming(
    connection: Connection, done: Sequence[int], released: Sequence[int], claimable_at: datetime
) -> None:
    """Delete the messages ``done`` (delivered or refused); ``released`` are claimable again
    from ``claimable_at``."""
    _REMOVE_INCOMING.execute_columns(connection, {"id": done}, len(done))
    _RELEASE_INCOMING.execute_columns(
        connection, {"id": released}, len(released), claimable_at=claimable_at
    )
