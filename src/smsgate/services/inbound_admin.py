"""The operator's side of incoming messages: who owns which number, where pushes go, and the
messages no account owns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from smsgate.domain.inbound_routing import (
    RoutingRuleError,
    normalize_number,
    prefix_key,
    validate_prefix,
)
from smsgate.domain.urls import http_url
from smsgate.services.accounts import AdminError, account_of
from smsgate.store import accounts as account_store
from smsgate.store import incoming as store
from smsgate.store.database import Database
from smsgate.store.push import redirect_incoming_pushes

UNROUTED_LIST_LIMIT = 100
# As many as a listing shows: a larger limit (a typo of digits) overflowed the database's integer.
MAX_UNROUTED_LISTED = 100_000
# The column's length: PostgreSQL refused a longer secret with a traceback, SQLite kept it.
MAX_WEBHOOK_SECRET_LENGTH = 200


def validate_push_url(raw: str) -> str:
    """Push targets are absolute http or https URLs."""
    url = http_url(raw)
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
        if secret is not None and len(secret) > MAX_WEBHOOK_SECRET_LENGTH:
            raise AdminError(f"a webhook secret is at most {MAX_WEBHOOK_SECRET_LENGTH} characters")
        values = {
            "webhook_url": validate_push_url(url) if url is not None else None,
            "webhook_secret": secret or None,
        }

        def work(connection: Connection) -> None:
            account_id = _account_id(connection, login)
            account_store.update_account(connection, account_id, **values)
            redirect_incoming_pushes(connection, account_id, values["webhook_url"])
            account_store.bump_config_revision(connection)

        self.database.write_sync(work)

    @staticmethod
    def _route(number: str, prefix: str | None) -> tuple[str, str]:
        try:
            return normalize_number(number), validate_prefix(prefix) if prefix else ""
        except RoutingRuleError as error:
            raise AdminError(str(error)) from None
