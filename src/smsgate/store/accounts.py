"""Queries on accounts, their sender names, tariffs and sessions."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Update, bindparam, delete, insert, literal, select, update

from smsgate.domain.money import MONEY_LIMIT
from smsgate.store.prepared import BatchRows, Prepared, PreparedBatch, PreparedIn
from smsgate.store.schema import accounts, counters, sender_names, sessions, tariff_prefixes
from smsgate.store.upserts import upsert

CONFIG_COUNTER = "config"


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    login: str
    password_hash: str
    api_password_hash: str | None
    balance: Decimal
    price: Decimal | None
    dynamic_sender: bool
    blocked: bool
    parent_id: int | None
    flood_limit: int | None
    flood_window_seconds: int | None
    timezone: str | None


_ACCOUNT_COLUMNS = [getattr(accounts.c, name) for name in AccountRow.__dataclass_fields__]


def find_account(
    connection: Connection, *, login: str | None = None, id: int | None = None
) -> AccountRow | None:
    query = select(*_ACCOUNT_COLUMNS)
    query = (
        query.where(accounts.c.login == login)
        if login is not None
        else query.where(accounts.c.id == id)
    )
    row = connection.execute(query).one_or_none()
    return AccountRow(*row) if row is not None else None


def insert_account(connection: Connection, **values: object) -> int:
    result = connection.execute(insert(accounts).values(**values).returning(accounts.c.id))
    return int(result.scalar_one())


def update_account(connection: Connection, account_id: int, **values: object) -> None:
    connection.execute(update(accounts).where(accounts.c.id == account_id).values(**values))


_NEW_BALANCE = accounts.c.balance + bindparam("amount", type_=accounts.c.balance.type)
_CHANGE_BALANCE = Prepared(
    update(accounts)
    .where(
        accounts.c.id == bindparam("account_id"),
        _NEW_BALANCE >= 0,
        literal(MONEY_LIMIT, type_=accounts.c.balance.type) > _NEW_BALANCE,
    )
    .values(balance=_NEW_BALANCE)
    .returning(accounts.c.balance)
)
_READ_BALANCE = Prepared(select(accounts.c.balance).where(accounts.c.id == bindparam("account_id")))


def change_balance(connection: Connection, account_id: int, amount: Decimal) -> Decimal | None:
    """Add ``amount`` (negative to take) unless the balance would go below zero, or reach
    ``MONEY_LIMIT``.

    Returns the new balance, or None when the balance does not cover a negative amount (or
    would overflow).
    """
    balance = _CHANGE_BALANCE.scalar(connection, account_id=account_id, amount=amount)
    return Decimal(balance) if balance is not None else None


# In id order, as every writer locks accounts: two writers never wait on each other in a cycle
# (PostgreSQL locks the rows as the sort hands them out). PostgreSQL: other processes wait;
# SQLite's write lock covers it. NO KEY UPDATE, the lock an UPDATE of the balance takes, leaves
# free the key share that the foreign key's check takes when a transaction writes the account's
# messages: waiting for that could close a cycle with a worker whose receipts hold key shares
# of several accounts.
_LOCK_BALANCES = PreparedIn(
    lambda among: (
        select(accounts.c.id, accounts.c.balance)
        .where(among(accounts.c.id))
        .order_by(accounts.c.id)
        .with_for_update(key_share=True)
    )
)


def lock_balances(connection: Connection, account_ids: Collection[int]) -> dict[int, Decimal]:
    """The balances, held unchanged by anyone else until this transaction ends."""
    balances = {
        account_id: Decimal(balance)
        for account_id, balance in _LOCK_BALANCES.rows(connection, account_ids)
    }
    missing = set(account_ids) - balances.keys()
    if missing:
        raise LookupError(f"no account {min(missing)}")
    return balances


def lock_account(connection: Connection, account_id: int) -> None:
    """Hold the account's row (its balance among it) unchanged by anyone else until this
    transaction ends: what it guards is decided one transaction at a time."""
    lock_balances(connection, [account_id])


# The rows of a debit: an account, and the amount taken from its balance.
DEBIT_COLUMNS = {"account_id": accounts.c.id.type, "amount": accounts.c.balance.type}


def debit(rows: BatchRows) -> Update:
    """Each row's amount taken from its account's balance, where the balance covers it."""
    return (
        update(accounts)
        .where(accounts.c.id == rows["account_id"], accounts.c.balance >= rows["amount"])
        .values(balance=accounts.c.balance - rows["amount"])
    )


_TAKE_FROM_BALANCES = PreparedBatch(DEBIT_COLUMNS, debit)


def debit_columns(amounts: Mapping[int, Decimal]) -> dict[str, list[Any]]:
    """``amounts`` (by account) as the columns of a debit's rows, in the order of the accounts."""
    account_ids = sorted(amounts)
    return {
        "account_id": account_ids,
        "amount": [amounts[account_id] for account_id in account_ids],
    }


def take_from_balances(connection: Connection, amounts: Mapping[int, Decimal]) -> bool:
    """Take each amount from its account's balance in one statement, where the balance covers
    it; whether every balance did (if not, the caller rolls the transaction back)."""
    columns = debit_columns(amounts)
    return _TAKE_FROM_BALANCES.execute_columns(connection, columns, len(amounts)) == len(amounts)


def read_balance(connection: Connection, account_id: int) -> Decimal:
    balance: Decimal | None = _READ_BALANCE.scalar(connection, account_id=account_id)
    if balance is None:
        raise LookupError(f"no account {account_id}")
    return balance


def list_sender_names(connection: Connection, account_id: int) -> list[str]:
    query = select(sender_names.c.name).where(sender_names.c.account_id == account_id)
    return sorted(connection.execute(query).scalars())


def add_sender_name(connection: Connection, account_id: int, name: str) -> bool:
    """Register ``name``; False when the account had it already."""
    added = connection.execute(
        upsert(connection, sender_names)
        .values(account_id=account_id, name=name)
        .on_conflict_do_nothing()
        .returning(sender_names.c.name)
    )
    return added.first() is not None


def remove_sender_name(connection: Connection, account_id: int, name: str) -> bool:
    result = connection.execute(
        sender_names.delete().where(
            sender_names.c.account_id == account_id, sender_names.c.name == name
        )
    )
    return result.rowcount > 0


def read_tariff(connection: Connection, account_id: int) -> dict[str, Decimal]:
    query = select(tariff_prefixes.c.prefix, tariff_prefixes.c.price).where(
        tariff_prefixes.c.account_id == account_id
    )
    return {prefix: Decimal(price) for prefix, price in connection.execute(query)}


def set_tariff_price(connection: Connection, account_id: int, prefix: str, price: Decimal) -> None:
    statement = upsert(connection, tariff_prefixes).values(
        account_id=account_id, prefix=prefix, price=price
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[tariff_prefixes.c.account_id, tariff_prefixes.c.prefix],
            set_={"price": statement.excluded.price},
        )
    )


def session_key(session_id: str) -> str:
    """How a session id is kept: the first half of its SHA-256, so that a copy of the database
    (a backup) holds no API key a client could use. Half of it is 128 bits, as the id."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def insert_session(
    connection: Connection,
    session_id: str,
    account_id: int,
    now: datetime,
    expires_at: datetime | None,
) -> None:
    connection.execute(
        insert(sessions).values(
            id=session_key(session_id), account_id=account_id, created_at=now, expires_at=expires_at
        )
    )


def delete_sessions(connection: Connection, account_id: int) -> int:
    """End every session id of the account; how many there were."""
    result = connection.execute(delete(sessions).where(sessions.c.account_id == account_id))
    return int(result.rowcount)


def read_webhook(connection: Connection, account_id: int) -> dict[str, object] | None:
    """Where the account's incoming messages are pushed, and whether they are signed (the
    secret itself is not shown)."""
    row = connection.execute(
        select(accounts.c.webhook_url, accounts.c.webhook_secret).where(accounts.c.id == account_id)
    ).one()
    return {"url": row.webhook_url, "signed": row.webhook_secret is not None} if row[0] else None


_FIND_SESSION = Prepared(
    select(sessions.c.account_id, sessions.c.expires_at).where(sessions.c.id == bindparam("id"))
)


def find_session(connection: Connection, session_id: str) -> tuple[int, datetime | None] | None:
    rows = _FIND_SESSION.rows(connection, id=session_key(session_id))
    return (int(rows[0][0]), rows[0][1]) if rows else None


def account_login(connection: Connection, account_id: int) -> str:
    return str(
        connection.execute(select(accounts.c.login).where(accounts.c.id == account_id)).scalar_one()
    )


def bump_config_revision(connection: Connection) -> None:
    """Tell every process that account configuration changed (see ``counters``)."""
    # One statement: two first changes at once (PostgreSQL) cannot both insert the counter.
    connection.execute(
        upsert(connection, counters)
        .values(name=CONFIG_COUNTER, value=1)
        .on_conflict_do_update(
            index_elements=[counters.c.name], set_={"value": counters.c.value + 1}
        )
    )


def read_config_revision(connection: Connection) -> int:
    value = connection.execute(
        select(counters.c.value).where(counters.c.name == CONFIG_COUNTER)
    ).scalar()
    return int(value or 0)
