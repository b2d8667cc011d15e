"""Incoming messages: routing and storing them, and reading them by period."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.inbound_routing import (
    RoutingRuleError,
    normalize_number,
    route_incoming,
)
from smsgate.store import incoming as store
from smsgate.store.database import Database
from smsgate.store.incoming import IncomingRow
from smsgate.store.push import PushJob, enqueue_incoming_push

# Incoming messages of a period read, and answered, at a time.
INCOMING_PAGE_ROWS = 5000
# A page of an account's incoming messages, as Incoming reads them.
IncomingPage = list[IncomingRow]


@dataclass(frozen=True, slots=True)
class RecordedIncoming:
    message: IncomingRow
    push: PushJob | None  # leased until the given time, for the caller's pusher


def record_incoming(
    connection: Connection,
    *,
    connector: str,
    source: str,
    destination: str,
    text: str,
    received_at: datetime,
    lease_until: datetime,
) -> RecordedIncoming:
    """Route and store one message and queue its push, all in the caller's transaction."""
    try:
        number = normalize_number(destination)
    except RoutingRuleError:
        number = destination.strip()  # no account can own it; kept as it came
    routes = dict(store.routes_of_number(connection, number))
    route = route_incoming(routes, text)
    account_id = route.account_id if route else None
    prefix = route.prefix if route else ""
    source = source.strip()
    message_id = store.insert_incoming(
        connection,
        account_id=account_id,
        prefix=prefix,
        source=source,
        destination=number,
        text=text,
        connector=connector,
        created_at=received_at,
    )
    message = IncomingRow(message_id, account_id, prefix, source, number, text, received_at)
    target = routes[route] if route else None
    if route is None or target is None:
        return RecordedIncoming(message, None)
    now = datetime.now(UTC)
    job_id = enqueue_incoming_push(
        connection, route.account_id, target.url, message_id, now, lease_until
    )
    job = PushJob(job_id, route.account_id, target.url, target.secret, 1, now, message)
    return RecordedIncoming(message, job)


async def read_period(
    database: Database, account_id: int, start: datetime, end: datetime
) -> AsyncIterator[IncomingPage]:
    """The account's messages created from ``start`` to ``end`` inclusive, oldest first, a
    page at a time, each page its own short read: a period of a busy number holds millions."""
    if end < start:
        raise InvalidArgument("maxDateUTC is before minDateUTC")
    after = None
    while True:
        page = await database.read(
            partial(
                store.read_period_page,
                account_id=account_id,
                start=start,
                end=end,
                after=after,
                limit=INCOMING_PAGE_ROWS,
            )
        )
        yield page
        if len(page) < INCOMING_PAGE_ROWS:
            return
        after = page[-1]
