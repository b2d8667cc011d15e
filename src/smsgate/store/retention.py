"""Deleting what is past the operator's retention: final parts, incoming messages and the
records of report builds, oldest first and a batch at a time, and sessions that expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, delete, select

from smsgate.domain.states import FINAL, stored
from smsgate.store.reports import ReportBuildStatus
from smsgate.store.schema import incoming_messages, messages, reports, sessions

_FINAL = stored(FINAL)
# A report's record outlives its file (its id then answers "File not exist"), until this.
_REPORTS_ENDED = (ReportBuildStatus.DELETED.value, ReportBuildStatus.FAILED.value)
# The tables the retention applies to.
RETAINED_TABLES = (messages, incoming_messages, reports)


def delete_old(
    connection: Connection, table: Table, before: datetime, after: int, limit: int
) -> tuple[int, int | None]:
    """Of the ``limit`` rows of ``table`` (parts, incoming messages or reports) that follow
    id ``after``, delete those created before ``before`` (parts: once final, and final before
    it too; reports: once their file is gone or none was made); (how many, the id to go on
    after, or None once a row read was newer: ids follow creation, so no older one comes
    later).

    A part's retention runs from its last change of state: one scheduled further ahead than
    the retention would otherwise go minutes after its delivery, its State then Unknown.

    Read by id rather than by creation time, which no index of either table leads with: the
    rows past the retention are the first ids, and a sweep reads no further than them.
    """
    columns = [table.c.id, table.c.created_at]
    if table is messages:
        columns += [messages.c.state, messages.c.reported_at]
    elif table is reports:
        columns.append(reports.c.status)
    rows = connection.execute(
        select(*columns).where(table.c.id > after).order_by(table.c.id).limit(limit)
    ).all()
    old = [row for row in rows if row.created_at < before]
    if table is messages:
        old_enough = [row for row in old if row.state in _FINAL and row.reported_at < before]
    elif table is reports:
        old_enough = [row for row in old if row.status in _REPORTS_ENDED]
    else:
        old_enough = old
    doomed = [row.id for row in old_enough]
    if doomed:
        connection.execute(delete(table).where(table.c.id.in_(doomed)))
    going_on = len(old) == len(rows) == limit
    return len(doomed), rows[-1].id if going_on else None


def delete_expired_sessions(connection: Connection, expired_before: datetime) -> int:
    """Delete the sessions that expired before ``expired_before`` (with a session TTL set);
    how many."""
    result = connection.execute(delete(sessions).where(sessions.c.expires_at < expired_before))
    return int(result.rowcount)
