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
    """Store a part (a resent one replaces its copy); when it was the last one missing,
    remove the message's parts and return them."""
    mine = _of(key)
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
    return _take(connection, key)


def has_fragment(connection: Connection, key: MessageKey, seqnum: int) -> bool:
    """Whether part ``seqnum`` of ``key`` is stored."""
    found = select(fragments.c.seqnum).where(_of(key), fragments.c.seqnum == seqnum)
    return connection.execute(found).first() is not None


def take_stale(
    connection: Connection,
    before: datetime,
    *,
    connector: str | None = None,
    keep: MessageKey | None = None,
) -> list[FragmentedMessage]:
    """Remove and return the messages (of ``connector``, or of all) that got no part since
    ``before``, but ``keep``."""
    newest = func.max(fragments.c.received_at)
    query = select(
        fragments.c.connector,
        fragments.c.source,
        fragments.c.destination,
        fragments.c.reference,
        fragments.c.total,
    )
    if connector is not None:
        query = query.where(fragments.c.connector == connector)
    stale = connection.execute(
        query.group_by(
            fragments.c.connector,
            fragments.c.source,
            fragments.c.destination,
            fragments.c.reference,
            fragments.c.total,
        ).having(newest < before)
    ).all()
    keys = [key for key in (MessageKey(*row) for row in stale) if key != keep]
    return [message for message in (_take(connection, key) for key in keys) if message]


def _take(connection: Connection, key: MessageKey) -> FragmentedMessage | None:
    """Remove the parts of ``key`` and return them; None if another process took them first
    (its delete came first, so this one returns no rows)."""
    rows = connection.execute(
        fragments.delete()
        .where(_of(key))
        .returning(fragments.c.seqnum, fragments.c.data_coding, fragments.c.body)
    ).all()
    if not rows:
        return None
    return FragmentedMessage(key, tuple(Fragment(*row) for row in sorted(rows)))
