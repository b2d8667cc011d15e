"""A report's parts read a page at a time, each page a read of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.messages import insert_parts
from smsgate.store.reports import MessageSelection, PageEnd, parts_page
from tests.store.parts import part_row

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_pages_list_every_part_once_in_order_across_equal_times(database: Database) -> None:
    account_id = AccountAdmin(database).create("pages", password="secret-password")
    # Parts of one request share their creation time: the pages go on by id within it.
    times = [NOW, NOW, NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=1), NOW]
    rows = [part_row(i, account_id, at) for i, at in enumerate(times, start=1)]
    database.write_sync(lambda c: insert_parts(c, rows))
    selection = MessageSelection(
        account_ids=(account_id,),
        start=NOW - timedelta(minutes=1),
        end=NOW + timedelta(minutes=1),
        states=None,
        destination=None,
        contacts_of=None,
    )
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
