"""Queries on the parts of multi-part incoming messages (``incoming_fragments``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, insert, select

from smsgate.store.schema import incoming_fragments as fragments


@dataclass(frozen=True, slots=True)
class MessageKey:
    """What the parts of one message share."""

    connector: str
    source: str
    destination: str
    reference: int
    total: int


@dataclass(frozen=True, slots=True)
class Fragment:
    seqnum: int
    data_coding: int
    body: bytes


@dataclass(frozen=True, slots=True)
class FragmentedMessage:
    """The stored parts of one message, by seqnum; ``complete`` if none is missing."""

    key: MessageKey
    fragments: tuple[Fragment, ...]

    @property
    def complete(self) -> bool:
        return len(self.fragments) == self.key.total


_UNJOINED = fragments.c.joined_at.is_(None)


def _of(key: MessageKey) -> ColumnElement[bool]:
    return and_(
        fragments.c.connector == key.connector,
        fragments.c.source == key.source,
        fragments.c.destination == key.destination,
        fragments.c.reference == key.reference,
        fragments.c.total == key.total,
    )


def add_fragment(
    connection: Connection,
    key: MessageKey,
    fragment: Fragment,
    received_at: datetime,
) -> FragmentedMessage | None:
    """Store a part (a resent one replaces its copy); when it was the last one missing, mark
    the message's parts joined and return them. A copy of a part of a message joined already
    is dropped; any other part of its key starts a new message."""
    joined = connection.execute(
        select(fragments.c.seqnum, fragments.c.body).where(_of(key), ~_UNJOINED)
    ).all()
    if joined:
        if (fragment.seqnum, fragment.body) in {(row.seqnum, row.body) for row in joined}:
            return None
        connection.execute(fragments.delete().where(_of(key), ~_UNJOINED))
    mine = and_(_of(key), _UNJOINED)
    connection.execute(fragments.delete().where(mine, fragments.c.seqnum == fragment.seqnum))
    connection.execute(
        insert(fragments).values(
            connector=key.connector,
            source=key.source,
            destination=key.destination,
            reference=key.reference,
            total=key.total,
            seqnum=fragment.seqnum,
            data_coding=fragment.data_coding,
            body=fragment.body,
            received_at=received_at,
        )
    )
    stored = connection.execute(select(func.count()).where(mine)).scalar_one()
    if stored < key.total:
        return None
    return _take(connection, key, received_at)


def has_fragment(connection: Connection, key: MessageKey, seqnum: int) -> bool:
    """Whether part ``seqnum`` of ``key`` waits for the rest of its message."""
    found = select(fragments.c.seqnum).where(_of(key), _UNJOINED, fragments.c.seqnum == seqnum)
    return connection.execute(found).first() is not None


def take_if_stale(
    connection: Connection, key: MessageKey, seqnum: int, before: datetime, now: datetime
) -> FragmentedMessage | None:
    """Take the message of ``key`` waiting with a part ``seqnum`` when it got no part since
    ``before``: a new part of that number belongs to a new message that reuses the reference.
    Found by the table's key, whatever else waits."""
    if not has_fragment(connection, key, seqnum):
        return None
    latest = connection.execute(
        select(func.max(fragments.c.received_at)).where(_of(key), _UNJOINED)
    ).scalar_one()
    return _take(connection, key, now) if latest < before else None


def take_stale(connection: Connection, before: datetime, now: datetime) -> list[FragmentedMessage]:
    """Take and return the messages that got no part since ``before``; forget the parts of
    messages joined before ``before``."""
    connection.execute(fragments.delete().where(fragments.c.joined_at < before))
    query = select(
        fragments.c.connector,
        fragments.c.source,
        fragments.c.destination,
        fragments.c.reference,
        fragments.c.total,
    ).where(_UNJOINED)
    newest = func.max(fragments.c.received_at)
    stale = connection.execute(
        query.group_by(
            fragments.c.connector,
            fragments.c.source,
            fragments.c.destination,
            fragments.c.reference,
            fragments.c.total,
        ).having(newest < before)
    ).all()
    taken = (_take(connection, MessageKey(*row), now) for row in stale)
    return [message for message in taken if message]


def _take(connection: Connection, key: MessageKey, now: datetime) -> FragmentedMessage | None:
    """Mark the waiting parts of ``key`` joined and return them; None if another process took
    them first (its update came first, so this one finds none)."""
    rows = connection.execute(
        fragments.update()
        .where(_of(key), _UNJOINED)
        .values(joined_at=now)
        .returning(fragments.c.seqnum, fragments.c.data_coding, fragments.c.body)
    ).all()
    if not rows:
        return None
    return FragmentedMessage(key, tuple(Fragment(*row) for row in sorted(rows)))
