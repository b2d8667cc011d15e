"""Conditions the statements of several tables share: a part's state, a lease that ended."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, or_

from smsgate.store.schema import messages


def state_unindexed_in(*states: str | BindParameter[str]) -> ColumnElement[bool]:
    """A part's state is one of ``states``, in a form no index answers (``state || ''``), for
    statements that find parts by id. As ``state = ...`` a planner may find the parts by the
    claim index's state instead and filter the ids: SQLite's lacking statistics, PostgreSQL's
    on statistics older than the last burst (saying no part is sent, say: 10 of 121 batches of
    receipts then read every sent part, up to 50 ms each)."""
    unindexed = messages.c.state.concat("")
    return or_(*(unindexed == state for state in states))


def parts_in_states(part_ids: Sequence[int], states: Iterable[str]) -> ColumnElement[bool]:
    """The parts of ``part_ids`` that are in one of ``states``, found by primary key."""
    return and_(messages.c.id.in_(part_ids), state_unindexed_in(*states))


def lease_ended(
    lease_until: ColumnElement[Any], now: datetime | BindParameter[datetime]
) -> ColumnElement[bool]:
    """A row's lease (of a part, a report build, a simulated report) has ended by ``now``:
    its holder died, or (the simulated SMSC's) its time has come."""
    return lease_until <= now
