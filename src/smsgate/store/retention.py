"""Deleting what is past the operator's retention: final parts, incoming messages and the
records of report builds, oldest first and a batch at a time, and sessions that expired."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Row, Table, delete, select

from smsgate.domain.states import FINAL, stored
from smsgate.store.reports import ReportBuildStatus
from smsgate.store.schema import incoming_messages, messages, reports, sessions

_FINAL = stored(FINAL)
# A report's record outlives its file (its id then answers "File not exist"), until this.
_REPORTS_ENDED = (ReportBuildStatus.DELETED.value, ReportBuildStatus.FAILED.value)


@dataclass(frozen=True)
class Retained:
    """A table the retention applies to: the columns that tell whether a row created before
    the cutoff may go, beside its id and creation time, and that rule."""

    table: Table
    columns: tuple[Column[Any], ...]
    may_go: Callable[[Row[Any], datetime], bool]


RETAINED = (
    # A part's retention runs from its last change of state: one scheduled further ahead
    # than the retention would otherwise go minutes after its delivery, its State then Unknown.
    Retained(
        messages,
        (messages.c.state, messages.c.reported_at),
        lambda row, before: row.state in _FINAL and row.reported_at < before,
    ),
    Retained(incoming_messages, (), lambda _row, _before: True),
    Retained(reports, (reports.c.status,), lambda row, _before: row.status in _REPORTS_ENDED),
)


def delete_old(
    connection: Connection, retained: Retained, before: datetime, after: int, limit: int
) -> tuple[int, int | None]:
    """Of the ``limit`` rows of the ``retained`` table that follow id ``after``, delete those
    created before ``before`` that its rule lets go; (how many, the id to go on after, or None
    once a row read was newer: ids follow creation, so no older one comes later).

    Read by id rather than by creation time, which no index of these tables leads with: the
    rows past the retention are the first ids, and a sweep reads no further than them.
    """
    table = retained.table
    rows = connection.execute(
        select(table.c.id, table.c.created_at, *retained.columns)
        .where(table.c.id > after)
        .order_by(table.c.id)
        .limit(limit)
    ).all()
    old = [row for row in rows if row.created_at < before]
    doomed = [row.id for row in old if retained.may_go(row, before)]
    if doomed:
        connection.execute(delete(table).where(table.c.id.in_(doomed)))
    going_on = len(old) == len(rows) == limit
    return len(doomed), rows[-1].id if going_on else None


def delete_expired_sessions(connection: Connection, expired_before: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the sessions that expired before ``expired_before`` (with a
    session TTL set); how many."""
    expired = (
        select(sessions.c.id).where(sessions.c.expires_at < expired_before).limit(limit)
    ).scalar_subquery()
    result = connection.execute(delete(sessions).where(sessions.c.id.in_(expired)))
    return int(result.rowcount)
