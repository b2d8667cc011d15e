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
    received_at: datetime  # when its newest part came

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


def take_stale(connection: Connection, connector: str, before: datetime) -> list[FragmentedMessage]:
    """Remove and return the messages of ``connector`` that got no part since ``before``."""
    newest = func.max(fragments.c.received_at)
    stale = connection.execute(
        select(
            fragments.c.connector,
            fragments.c.source,
            fragments.c.destination,
            fragments.c.reference,
            fragments.c.total,
        )
        .where(fragments.c.connector == connector)
        .group_by(
            fragments.c.connector,
            fragments.c.source,
            fragments.c.destination,
            fragments.c.reference,
            fragments.c.total,
        )
        .having(newest < before)
    ).all()
    return [_take(connection, MessageKey(*row)) for row in stale]


def _take(connection: Connection, key: MessageKey) -> FragmentedMessage:
    mine = _of(key)
    rows = connection.execute(
        select(
            fragments.c.seqnum,
            fragments.c.data_coding,
            fragments.c.body,
            fragments.c.received_at,
        )
        .where(mine)
        .order_by(fragments.c.seqnum)
    ).all()
    connection.execute(fragments.delete().where(mine))
    return FragmentedMessage(
        key,
        tuple(Fragment(row.seqnum, row.data_coding, row.body) for row in rows),
        max(row.received_at for row in rows),
    )
