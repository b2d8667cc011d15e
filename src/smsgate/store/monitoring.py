"""Figures operators watch: the queue and the webhook backlog, read when metrics are scraped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from smsgate.domain.states import NOT_SUBMITTED, WAITING, MessageState, stored
from smsgate.store.schema import messages, push_jobs

_WAITING = stored(WAITING)
_NOT_SUBMITTED = stored(NOT_SUBMITTED)


@dataclass(frozen=True, slots=True)
class QueueFigures:
    depth: int  # parts not yet taken by an SMSC (queued, scheduled, being submitted)
    oldest_due: datetime | None  # the due time of the longest-waiting due part
    webhook_backlog: int  # pushes and status callbacks not yet taken by their receivers


def queue_figures(connection: Connection, now: datetime) -> QueueFigures:
    """All the figures in one query, each a range of an index."""
    depth = select(func.count()).where(messages.c.state.in_(_NOT_SUBMITTED))
    oldest = select(func.min(messages.c.due_at)).where(
        messages.c.state.in_(_WAITING), messages.c.due_at <= now
    )
    # A job whose due_at is NULL was given up.
    backlog = select(func.count()).select_from(push_jobs).where(push_jobs.c.due_at.is_not(None))
    row = connection.execute(
        select(depth.scalar_subquery(), oldest.scalar_subquery(), backlog.scalar_subquery())
    ).one()
    return QueueFigures(int(row[0]), row[1], int(row[2]))


def awaiting_reports(connection: Connection) -> bool:
    """Whether any part was taken by an SMSC and has no final state yet."""
    found = connection.execute(
        select(messages.c.id).where(messages.c.state == MessageState.SENT.value).limit(1)
    ).first()
    return found is not None
