"""A report's parts read a page at a time, each page a read of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.messages import insert_parts
from smsgate.store.reports import MessageSelection, PageEnd, _parts_query, parts_page
from tests.store.parts import part_row
from tests.store.plans import plans_of

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def selection_of(account_ids: tuple[int, ...]) -> MessageSelection:
    return MessageSelection(
        account_ids=account_ids,
        start=NOW - timedelta(minutes=1),
        end=NOW + timedelta(minutes=1),
        states=None,
        destination=None,
        contacts_of=None,
    )


@pytest.mark.parametrize("accounts", [1, 3])  # an account alone, or with its sub-accounts
def test_pages_list_every_part_once_in_order_across_equal_times(
    database: Database, accounts: int
) -> None:
    admin = AccountAdmin(database)
    account_ids = [admin.create(f"pages-{n}", password="secret-password") for n in range(accounts)]
    # Parts of one request share their creation time: the pages go on by id within it.
    times = [NOW, NOW, NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=1), NOW]
    rows = [part_row(i, account_ids[i % accounts], at) for i, at in enumerate(times, start=1)]
    database.write_sync(lambda c: insert_parts(c, rows))
    selection = selection_of(tuple(account_ids))
    listed: list[int] = []
    after: PageEnd | None = None
    pages = 0
    while True:
        page, after = database.read_sync(
            partial(parts_page, selection=selection, zone="UTC", after=after, page_size=2)
        )
        if not page:
            break
        pages += 1
        listed += [part[0] for part in page]
        assert all(part[9] == Decimal("1.5") for part in page)
    assert listed == [1, 2, 3, 6, 4, 5]  # by creation time, then id
    assert pages == 3


def test_a_report_of_sub_accounts_reads_each_accounts_parts_by_the_index(
    database: Database,
) -> None:
    """As ``account_id IN (...)``, PostgreSQL scanned the whole table for every page of a
    report with sub-accounts (0.9 s a page among 5 million parts; 160 s for a report). SQLite
    always read the index for it."""
    admin = AccountAdmin(database)
    account_ids = [admin.create(f"busy-{n}", password="secret-password") for n in range(4)]
    rows = [
        part_row(i, account_ids[i % 4], NOW - timedelta(seconds=i % 60)) for i in range(1, 20_001)
    ]
    database.write_sync(lambda c: insert_parts(c, rows))
    database.write_sync(lambda c: c.exec_driver_sql("ANALYZE messages"))
    selection = selection_of(tuple(account_ids[:2]))
    page = _parts_query(selection, None, 5000, database.dialect)
    (plan,) = database.read_sync(lambda c: plans_of(c, lambda c: c.execute(page).all()))
    assert "ix_messages_account_id_created_at" in plan
    assert "Seq Scan on messages" not in plan and "SCAN messages" not in plan, plan


def test_a_report_of_hundreds_of_sub_accounts_is_read(database: Database) -> None:
    """SQLite takes at most 500 terms in a compound SELECT: merged per account there, the
    report of an account with 500 sub-accounts failed."""
    account_id = AccountAdmin(database).create("reseller", password="secret-password")
    database.write_sync(lambda c: insert_parts(c, [part_row(1, account_id, NOW)]))
    selection = selection_of((account_id, *range(10_000, 10_600)))
    page, _ = database.read_sync(
        partial(parts_page, selection=selection, zone="UTC", after=None, page_size=10)
    )
    assert [part[0] for part in page] == [1]
