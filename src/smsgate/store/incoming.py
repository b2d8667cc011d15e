"""Queries on incoming numbers and incoming (mobile-originated) messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select

from smsgate.domain.dates import through_its_last_digit
from smsgate.domain.inbound_routing import InboundRoute
from smsgate.store.pages import following
from smsgate.store.prepared import Prepared
from smsgate.store.schema import accounts, inbound_numbers, incoming_messages


@dataclass(frozen=True, slots=True)
class IncomingRow:
    id: int
    account_id: int | None
    prefix: str
    source: str
    destination: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OwnedNumber:
    login: str
    number: str
    prefix: str


_INCOMING_COLUMNS = [incoming_messages.c[name] for name in IncomingRow.__dataclass_fields__]


@dataclass(frozen=True, slots=True)
class PushTarget:
    """Where an account's incoming messages are pushed, and the key that signs them."""

    url: str
    secret: str | None


_ROUTES_OF_NUMBER = Prepared(
    select(
        inbound_numbers.c.account_id,
        inbound_numbers.c.number,
        inbound_numbers.c.prefix,
        accounts.c.webhook_url,
        accounts.c.webhook_secret,
    )
    .join(accounts, accounts.c.id == inbound_numbers.c.account_id)
    .where(inbound_numbers.c.number == bindparam("number"))
)


def routes_of_number(
    connection: Connection, number: str
) -> list[tuple[InboundRoute, PushTarget | None]]:
    """Every route of ``number`` with the push target of the route's account, if any."""
    return [
        (InboundRoute(account_id, owned, prefix), PushTarget(url, secret) if url else None)
        for account_id, owned, prefix, url, secret in _ROUTES_OF_NUMBER.rows(
            connection, number=number
        )
    ]


_INSERT_INCOMING = Prepared(
    insert(incoming_messages)
    .values(
        {
            name: bindparam(name, type_=incoming_messages.c[name].type)
            for name in (
                "account_id",
                "prefix",
                "source",
                "destination",
                "text",
                "connector",
                "created_at",
            )
        }
    )
    .returning(incoming_messages.c.id)
)


def insert_incoming(
    connection: Connection,
    *,
    account_id: int | None,
    prefix: str,
    source: str,
    destination: str,
    text: str,
    connector: str,
    created_at: datetime,
) -> int:
    """Store one message; returns its id."""
    return int(
        _INSERT_INCOMING.scalar(
            connection,
            account_id=account_id,
            prefix=prefix,
            source=source,
            destination=destination,
            text=text,
            connector=connector,
            created_at=created_at,
        )
    )


def read_period_page(
    connection: Connection,
    account_id: int,
    start: datetime,
    end: datetime,
    after: IncomingRow | None,
    limit: int,
) -> list[IncomingRow]:
    """Up to ``limit`` of the account's messages created from ``start`` to ``end`` inclusive,
    oldest first, after ``after`` (the last of the page before) when given."""
    created_at = incoming_messages.c.created_at
    conditions = [
        incoming_messages.c.account_id == account_id,
        created_at <= through_its_last_digit(end),
    ]
    if after is None:
        conditions.append(created_at >= start)
    else:
        conditions += following(created_at, incoming_messages.c.id, after.created_at, after.id)
    query = (
        select(*_INCOMING_COLUMNS)
        .where(*conditions)
        .order_by(created_at, incoming_messages.c.id)
        .limit(limit)
    )
    return [IncomingRow(*row) for row in connection.execute(query)]


def read_unrouted(connection: Connection, limit: int) -> list[IncomingRow]:
    """The newest ``limit`` messages no account owns, oldest first."""
    query = (
        select(*_INCOMING_COLUMNS)
        .where(incoming_messages.c.account_id.is_(None))
        .order_by(incoming_messages.c.id.desc())
        .limit(limit)
    )
    return [IncomingRow(*row) for row in reversed(connection.execute(query).all())]


def route_owner(connection: Connection, number: str, prefix_key: str) -> int | None:
    """The account that owns ``number`` for the casefolded keyword (or "")."""
    owner = connection.execute(
        select(inbound_numbers.c.account_id).where(
            inbound_numbers.c.number == number, inbound_numbers.c.prefix_key == prefix_key
        )
    ).scalar()
    return int(owner) if owner is not None else None


def add_route(
    connection: Connection, account_id: int, number: str, prefix: str, prefix_key: str
) -> None:
    connection.execute(
        insert(inbound_numbers).values(
            number=number, prefix_key=prefix_key, prefix=prefix, account_id=account_id
        )
    )


def remove_route(connection: Connection, account_id: int, number: str, prefix_key: str) -> bool:
    result = connection.execute(
        inbound_numbers.delete().where(
            inbound_numbers.c.account_id == account_id,
            inbound_numbers.c.number == number,
            inbound_numbers.c.prefix_key == prefix_key,
        )
    )
    return result.rowcount > 0


def list_routes(connection: Connection, account_id: int | None = None) -> list[OwnedNumber]:
    """Owned numbers by number and keyword, of one account or of all."""
    query = (
        select(accounts.c.login, inbound_numbers.c.number, inbound_numbers.c.prefix)
        .join(accounts, accounts.c.id == inbound_numbers.c.account_id)
        .order_by(inbound_numbers.c.number, inbound_numbers.c.prefix_key)
    )
    if account_id is not None:
        query = query.where(inbound_numbers.c.account_id == account_id)
    return [OwnedNumber(*row) for row in connection.execute(query)]
