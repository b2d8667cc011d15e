"""Queries on accounts' contact bases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from smsgate.store.schema import contacts
from smsgate.store.upserts import upsert


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str
    fields: dict[str, str]


def upsert_contacts(connection: Connection, account_id: int, rows: Sequence[Contact]) -> None:
    """Add contacts, replacing the name and fields of phones already in the base.

    A phone must appear once in ``rows``: PostgreSQL refuses to change one row twice in a
    statement.
    """
    if not rows:
        return
    statement = upsert(connection, contacts)
    statement = statement.on_conflict_do_update(
        index_elements=[contacts.c.account_id, contacts.c.phone],
        set_={"name": statement.excluded.name, "fields": statement.excluded.fields},
    )
    values = [
        {"account_id": account_id, "phone": row.phone, "name": row.name, "fields": row.fields}
        for row in rows
    ]
    if connection.dialect.name == "postgresql":
        # One statement of many rows: psycopg's executemany sends a statement per row.
        connection.execute(statement.values(values))
    else:
        connection.execute(statement, values)


def contacts_page(
    connection: Connection, account_id: int, after_phone: str | None, limit: int
) -> list[Contact]:
    """Up to ``limit`` contacts by phone, from the one after ``after_phone``."""
    query = select(contacts.c.phone, contacts.c.name, contacts.c.fields).where(
        contacts.c.account_id == account_id
    )
    if after_phone is not None:
        query = query.where(contacts.c.phone > after_phone)
    rows = connection.execute(query.order_by(contacts.c.phone).limit(limit))
    return [Contact(phone, name, fields) for phone, name, fields in rows]


def field_names(connection: Connection, account_id: int) -> list[str]:
    """The names of the account's contact fields, in the order they first appear by phone
    (the import file's column order when one file made the base)."""
    query = (
        select(contacts.c.fields)
        .where(contacts.c.account_id == account_id)
        .order_by(contacts.c.phone)
    )
    names: dict[str, None] = {}
    result = connection.execution_options(yield_per=5000).execute(query)
    for fields in result.scalars():
        names.update(dict.fromkeys(fields))
    return list(names)
