"""Incoming messages: routing and storing them, reading them by period, and administering
incoming numbers and push targets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.inbound_routing import (
    RoutingRuleError,
    normalize_number,
    prefix_key,
    route_incoming,
    validate_prefix,
)
from smsgate.services.accounts import AdminError, account_of
from smsgate.services.sending import validate_callback_url
from smsgate.store import accounts as account_store
from smsgate.store import incoming as store
from smsgate.store.database import Database
from smsgate.store.incoming import IncomingRow
from smsgate.store.push import PushJob, enqueue_incoming_push

UNROUTED_LIST_LIMIT = 100
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


def incoming_fields(message: IncomingRow) -> dict[str, Any]:
    """A message as the Incoming endpoint and the instant push show it."""
    return {
        "Prefix": message.prefix,
        "Data": message.text,
        "SourceAddress": message.source,
        "DestinationAddress": message.destination,
        "ID": message.id,
        "CreatedDateUtc": message.created_at,
    }


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


def validate_push_url(raw: str) -> str:
    """Push targets are absolute http or https URLs."""
    try:
        url = validate_callback_url(raw)
    except InvalidArgument:
        url = None
    if url is None:
        raise AdminError(f"not an http or https URL: {raw}")
    return url


def _account_id(connection: Connection, login: str) -> int:
    return account_of(connection, login).id


def _describe(number: str, keyword: str) -> str:
    return f"{number} with prefix {keyword!r}" if keyword else number


class InboundAdmin:
    """The operator's side of incoming messages: numbers, push targets, unrouted messages."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add_number(self, login: str, number: str, prefix: str | None = None) -> str:
        """Give ``login`` the incoming ``number`` (for texts starting with ``prefix``);
        returns the route as normalised."""
        number, keyword = self._route(number, prefix)

        def work(connection: Connection) -> None:
            account_id = _account_id(connection, login)
            owner = store.route_owner(connection, number, prefix_key(keyword))
            if owner is not None:
                taken_by = account_store.account_login(connection, owner)
                raise AdminError(f"{_describe(number, keyword)} already belongs to {taken_by}")
            store.add_route(connection, account_id, number, keyword, prefix_key(keyword))
            account_store.bump_config_revision(connection)

        try:
            self.database.write_sync(work)
        except IntegrityError:  # added at the same moment by another admin
            raise AdminError(f"{_describe(number, keyword)} is already taken") from None
        return _describe(number, keyword)

    def remove_number(self, login: str, number: str, prefix: str | None = None) -> str:
        """Take the route away from ``login``; returns it as normalised."""
        number, keyword = self._route(number, prefix)

        def work(connection: Connection) -> None:
            if not store.remove_route(
                connection, _account_id(connection, login), number, prefix_key(keyword)
            ):
                raise AdminError(f"{login} does not own {_describe(number, keyword)}")
            account_store.bump_config_revision(connection)

        self.database.write_sync(work)
        return _describe(number, keyword)

    def list_numbers(self, login: str | None = None) -> list[dict[str, str]]:
        def work(connection: Connection) -> list[dict[str, str]]:
            account_id = _account_id(connection, login) if login is not None else None
            return [
                {"login": owned.login, "number": owned.number, "prefix": owned.prefix}
                for owned in store.list_routes(connection, account_id)
            ]

        return self.database.read_sync(work)

    def unrouted(self, limit: int = UNROUTED_LIST_LIMIT) -> list[dict[str, Any]]:
        """The newest messages no account owns, oldest first."""
        rows = self.database.read_sync(lambda c: store.read_unrouted(c, limit))
        return [
            {
                "id": row.id,
                "source": row.source,
                "destination": row.destination,
                "text": row.text,
                "created_at": row.created_at.isoformat(),
            }
            for row in rows
        ]

    def set_webhook(self, login: str, url: str | None, secret: str | None = None) -> None:
        """Push the account's incoming messages to ``url`` (None: stop pushing), signed with
        ``secret`` when given."""
        values = {
            "webhook_url": validate_push_url(url) if url is not None else None,
            "webhook_secret": secret or None,
        }

        def work(connection: Connection) -> None:
            account_store.update_account(connection, _account_id(connection, login), **values)
            account_store.bump_config_revision(connection)

        self.database.write_sync(work)

    @staticmethod
    def _route(number: str, prefix: str | None) -> tuple[str, str]:
        try:
            return normalize_number(number), validate_prefix(prefix) if prefix else ""
        except RoutingRuleError as error:
            raise AdminError(str(error)) from None
