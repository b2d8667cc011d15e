"""Administering accounts: the use cases behind ``smsgate admin``.

Every change bumps the configuration revision so running servers drop their caches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from smsgate.domain.accounts import MAX_LOGIN_LENGTH, is_valid_login
from smsgate.domain.errors import ApiError
from smsgate.domain.flood import MAX_FLOOD_LIMIT, MAX_FLOOD_WINDOW_SECONDS
from smsgate.domain.money import MINOR_UNIT, MONEY_LIMIT, MONEY_PLACES, decimal_text
from smsgate.domain.sender import validate_sender_name
from smsgate.domain.tariff import MAX_PREFIX_DIGITS, is_tariff_prefix
from smsgate.domain.timezones import check_zone
from smsgate.services.passwords import hash_password
from smsgate.store import accounts as store
from smsgate.store.database import Database
from smsgate.store.messages import owed_refunds

T = TypeVar("T")


class AdminError(Exception):
    """An admin request that cannot be carried out; the message says why."""


# An amount as an operator writes one. Decimal() also reads other scripts' digits, "1_000" and
# surrounding spaces: a pasted or mistyped amount would move money instead of failing.
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def parse_amount(raw: str | Decimal) -> Decimal:
    if isinstance(raw, str) and not _AMOUNT.fullmatch(raw):
        raise AdminError(f"not a number: {raw}")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise AdminError(f"not a number: {raw}") from None
    if not amount.is_finite():
        raise AdminError(f"not a number: {raw}")
    if abs(amount) >= MONEY_LIMIT:
        raise AdminError(f"{raw} is out of range: amounts stay below {MONEY_LIMIT:,}")
    if amount != amount.quantize(MINOR_UNIT):
        raise AdminError(f"at most {MONEY_PLACES} decimal places: {raw}")
    return amount


def account_of(connection: Connection, login: str) -> store.AccountRow:
    """The account of ``login``; ``AdminError`` when there is none."""
    account = store.find_account(connection, login=login)
    if account is None:
        raise AdminError(f"no such account: {login}")
    return account


class AccountAdmin:
    """Account changes made by the platform's operator."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _change(self, work: Callable[[Connection], T]) -> T:
        def run(connection: Connection) -> T:
            result = work(connection)
            store.bump_config_revision(connection)
            return result

        return self.database.write_sync(run)

    def create(
        self,
        login: str,
        *,
        password: str,
        api_password: str | None = None,
        balance: Decimal = Decimal(0),
        price: Decimal | None = None,
        sender_names: Iterable[str] = (),
        dynamic_sender: bool = False,
        parent: str | None = None,
    ) -> int:
        if not is_valid_login(login):
            raise AdminError(
                f"login must be 1-{MAX_LOGIN_LENGTH} characters without surrounding spaces"
            )
        if not password:
            raise AdminError("password must not be empty")
        if balance < 0:
            raise AdminError("balance must not be negative")
        if price is not None and price < 0:
            raise AdminError("price must not be negative")
        names = [self._valid_sender(name) for name in sender_names]
        password_hash = hash_password(password)
        api_password_hash = hash_password(api_password) if api_password else None

        def work(connection: Connection) -> int:
            if store.find_account(connection, login=login) is not None:
                raise AdminError(f"account already exists: {login}")
            parent_id = account_of(connection, parent).id if parent else None
            account_id = store.insert_account(
                connection,
                login=login,
                password_hash=password_hash,
                api_password_hash=api_password_hash,
                balance=balance,
                price=price,
                dynamic_sender=dynamic_sender,
                blocked=False,
                parent_id=parent_id,
                created_at=datetime.now(UTC),
            )
            for name in names:
                store.add_sender_name(connection, account_id, name)
            return account_id

        try:
            return self._change(work)
        except IntegrityError:
            # PostgreSQL: another admin created it between the check and the insert.
            raise AdminError(f"account already exists: {login}") from None

    def credit(self, login: str, amount: Decimal) -> Decimal:
        def work(connection: Connection) -> Decimal:
            account = account_of(connection, login)
            balance = store.change_balance(connection, account.id, amount)
            if balance is None:
                raise AdminError(
                    f"balance {decimal_text(account.balance)} cannot go below zero or reach "
                    f"{MONEY_LIMIT:,} (asked {amount})"
                )
            # Room is left for the refunds its unsent parts may yet be owed: refused at the
            # limit, a refund would be lost.
            owed = owed_refunds(connection, account.id) if amount > 0 else Decimal(0)
            if balance + owed >= MONEY_LIMIT:
                raise AdminError(
                    f"balance {decimal_text(account.balance)} plus {amount} leaves no room "
                    f"under {MONEY_LIMIT:,} for the {decimal_text(owed)} its unsent parts may "
                    "be refunded"
                )
            return balance

        return self._change(work)

    def show(self, login: str) -> dict[str, Any]:
        def work(connection: Connection) -> dict[str, Any]:
            account = account_of(connection, login)
            parent = (
                store.account_login(connection, account.parent_id) if account.parent_id else None
            )
            return {
                "login": account.login,
                "balance": decimal_text(account.balance),
                "price": decimal_text(account.price) if account.price is not None else None,
                "sender_names": store.list_sender_names(connection, account.id),
                "dynamic_sender": account.dynamic_sender,
                "blocked": account.blocked,
                "tariff": {
                    p: decimal_text(v)
                    for p, v in sorted(store.read_tariff(connection, account.id).items())
                },
                "parent": parent,
                "flood_limit": account.flood_limit,
                "flood_window_seconds": account.flood_window_seconds,
                "timezone": account.timezone,
                "webhook": store.read_webhook(connection, account.id),
            }

        return self.database.read_sync(work)

    def set_blocked(self, login: str, blocked: bool) -> None:
        self._change(lambda c: store.update_account(c, account_of(c, login).id, blocked=blocked))

    def set_passwords(self, login: str, *, password: str | None, api_password: str | None) -> None:
        if not password and not api_password:
            raise AdminError("give --password or --api-password")
        values = {}
        if password:
            values["password_hash"] = hash_password(password)
        if api_password:
            values["api_password_hash"] = hash_password(api_password)
        self._change(lambda c: store.update_account(c, account_of(c, login).id, **values))

    def revoke_sessions(self, login: str) -> int:
        """End every session id of the account (API processes drop theirs within a second);
        how many there were."""
        return self._change(lambda c: store.delete_sessions(c, account_of(c, login).id))

    def set_dynamic_sender(self, login: str, enabled: bool) -> None:
        self._change(
            lambda c: store.update_account(c, account_of(c, login).id, dynamic_sender=enabled)
        )

    def set_flood_limit(self, login: str, limit: int | None, window_seconds: int | None) -> None:
        if limit is not None and not 1 <= limit <= MAX_FLOOD_LIMIT:
            raise AdminError(f"flood limit must be from 1 to {MAX_FLOOD_LIMIT:,}")
        if window_seconds is not None and not 1 <= window_seconds <= MAX_FLOOD_WINDOW_SECONDS:
            raise AdminError(
                f"flood window must be from 1 to {MAX_FLOOD_WINDOW_SECONDS:,} seconds (10 years)"
            )
        self._change(
            lambda c: store.update_account(
                c,
                account_of(c, login).id,
                flood_limit=limit,
                flood_window_seconds=window_seconds,
            )
        )

    def set_timezone(self, login: str, zone: str | None) -> None:
        """Set the account's SendByTime zone (an IANA name), or with None use the platform's."""
        if zone is not None:
            try:
                check_zone(zone)
            except ValueError as error:
                raise AdminError(str(error)) from None
        self._change(lambda c: store.update_account(c, account_of(c, login).id, timezone=zone))

    def add_sender(self, login: str, name: str) -> None:
        name = self._valid_sender(name)

        def work(connection: Connection) -> None:
            if not store.add_sender_name(connection, account_of(connection, login).id, name):
                raise AdminError(f"{login} has the sender name {name!r} already")

        self._change(work)

    def remove_sender(self, login: str, name: str) -> None:
        def work(connection: Connection) -> None:
            if not store.remove_sender_name(connection, account_of(connection, login).id, name):
                raise AdminError(f"{login} has no sender name {name!r}")

        self._change(work)

    def set_tariff(self, login: str, prefix: str, price: Decimal) -> None:
        if not is_tariff_prefix(prefix):
            raise AdminError(f"prefix must be 1-{MAX_PREFIX_DIGITS} digits: {prefix}")
        if price < 0:
            raise AdminError("price must not be negative")
        self._change(lambda c: store.set_tariff_price(c, account_of(c, login).id, prefix, price))

    def tariff(self, login: str) -> dict[str, str]:
        def work(connection: Connection) -> dict[str, str]:
            prices = store.read_tariff(connection, account_of(connection, login).id)
            return {prefix: decimal_text(price) for prefix, price in sorted(prices.items())}

        return self.database.read_sync(work)

    @staticmethod
    def _valid_sender(name: str) -> str:
        try:
            return validate_sender_name(name)
        except ApiError as error:
            raise AdminError(error.desc) from None
