"""What a report lists: exactly the parts its filters select, in files that read back whole."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import openpyxl
from openpyxl.worksheet.worksheet import Worksheet

from smsgate.domain.states import MessageState
from tests.api.helpers import Deployment, message_rows, send_ok, state, wait_for
from tests.reports.helpers import (
    XLSX_TYPE,
    ZONE,
    Seed,
    csv_rows,
    listed_ids,
    local_text,
    order,
    period,
    ready,
    seed,
)

STATES = [
    MessageState.DELIVERED,
    MessageState.NOT_DELIVERED,
    MessageState.EXPIRED,
    MessageState.QUEUED,
    MessageState.SCHEDULED,
    MessageState.SUBMITTING,
    MessageState.SENT,
]


def test_state_filters_select_their_states(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    ids = seed(
        reports_server.database,
        account,
        [Seed(minutes=index, state=state) for index, state in enumerate(STATES)],
    )
    by_state = dict(zip(STATES, ids, strict=True))
    assert listed_ids(account) == ids
    assert listed_ids(account, state="deliver") == [by_state[MessageState.DELIVERED]]
    assert listed_ids(account, state="not_deliver") == [by_state[MessageState.NOT_DELIVERED]]
    assert listed_ids(account, state="expired") == [by_state[MessageState.EXPIRED]]
    in_progress = [MessageState.QUEUED, MessageState.SCHEDULED, MessageState.SUBMITTING]
    assert listed_ids(account, state="sent") == [
        by_state[state] for state in [*in_progress, MessageState.SENT]
    ]


def test_period_bounds_are_inclusive_and_in_utc(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    before, first, middle, last, after = seed(
        reports_server.database,
        account,
        [Seed(minutes=minute) for minute in (9, 10, 15, 20, 21)],
    )
    assert before < first < middle < last < after
    assert listed_ids(account, **period(10, 20)) == [first, middle, last]
    # the other spelling of the bounds, as Statistic reads them
    bounds = period(10, 20)
    assert listed_ids(
        account, startDateTime=bounds["startTime"], endDateTime=bounds["endTime"]
    ) == [first, middle, last]


def test_rows_are_in_creation_order(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    late, early = seed(reports_server.database, account, [Seed(minutes=30), Seed(minutes=5)])
    assert listed_ids(account) == [early, late]


def test_phone_filter_reads_the_number_as_sends_do(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    mine, _ = seed(
        reports_server.database,
        account,
        [Seed(minutes=1, destination="79001234567"), Seed(minutes=2, destination="79007654321")],
    )
    assert listed_ids(account, phone="79001234567") == [mine]
    assert listed_ids(account, phone="+7 (900) 123-45-67") == [mine]
    assert listed_ids(account, phone="7.900.123.45.67") == [mine]  # dots, as sends take them
    assert listed_ids(account, phone="79001230000") == []


def test_originator_filter_lists_the_parts_of_one_sender_name(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    shop, _, digits = seed(
        reports_server.database,
        account,
        [
            Seed(minutes=1, sender_name="Shop"),
            Seed(minutes=2, sender_name="Bank"),
            Seed(minutes=3, sender_name="123456789012345"),
        ],
    )
    assert listed_ids(account, originator="Shop") == [shop]
    assert listed_ids(account, originator="123456789012345") == [digits]
    assert listed_ids(account, originator="Nobody") == []


def test_sub_stat_adds_every_sub_account_and_never_the_parent_or_siblings(
    reports_server: Deployment,
) -> None:
    parent = reports_server.make_account()
    child = reports_server.make_account(parent=parent.login)
    grandchild = reports_server.make_account(parent=child.login)
    sibling = reports_server.make_account(parent=parent.login)
    stranger = reports_server.make_account()
    ids = {
        account.login: seed(reports_server.database, account, [Seed(minutes=minute)])[0]
        for minute, account in enumerate([parent, child, grandchild, sibling, stranger])
    }
    assert listed_ids(parent) == [ids[parent.login]]
    assert listed_ids(parent, sub_stat="1") == [
        ids[account.login] for account in (parent, child, grandchild, sibling)
    ]
    assert listed_ids(child, sub_stat="1") == [ids[child.login], ids[grandchild.login]]
    assert listed_ids(grandchild, sub_stat="1") == [ids[grandchild.login]]
    assert listed_ids(sibling, sub_stat="1") == [ids[sibling.login]]


def test_csv_reads_back_to_the_stored_parts(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    seeded = seed(
        reports_server.database,
        account,
        [
            Seed(minutes=1, text='Semi;colon, "quoted"\nand a new line', price=Decimal("1.25")),
            Seed(minutes=2, state=MessageState.QUEUED, text="Привет", part_count=2),
            Seed(minutes=3, state=MessageState.EXPIRED, price=Decimal("0")),
        ],
    )
    # and one sent for real through the API and the simulated SMSC, delivered before the report
    # is built (else the report and the rows read below could see different states)
    sent = [int(i) for i in send_ok(account, "79001112233", "Real one")]
    wait_for(lambda: state(account, str(sent[0]))["State"] == 0)
    header, *rows = csv_rows(ready(account, order(account, **whole_day_and_now())))
    assert header == [
        "Message ID",
        "Created (Europe/Moscow)",
        "Sent (Europe/Moscow)",
        "Sender",
        "Destination",
        "Text",
        "Parts",
        "State",
        "State description",
        "Reported (Europe/Moscow)",
        "Price",
        "Login",
    ]
    stored = message_rows(reports_server.database, seeded + sent)
    assert rows == [expected_csv_row(stored[part_id], account.login) for part_id in seeded + sent]


def whole_day_and_now() -> dict[str, str]:
    """From the seeded day to a day from now: seeded parts and parts sent now."""
    bounds = period()
    bounds["endTime"] = (datetime.now(ZONE) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    return bounds


def expected_csv_row(part: Any, login: str) -> list[str]:
    state = MessageState(part.state)
    submitted = part.submitted_at
    price = format(part.price.normalize(), "f").replace(".", ",")
    return [
        str(part.id),
        local_text(part.created_at),
        local_text(submitted) if submitted is not None else "",
        part.sender_name,
        part.destination,
        part.text,
        str(part.part_count),
        str(state.api_code),
        state.api_description,
        local_text(part.reported_at),
        price,
        login,
    ]


def test_xlsx_cells_are_typed(reports_server: Deployment) -> None:
    account = reports_server.make_account()
    seeded = seed(
        reports_server.database,
        account,
        [Seed(minutes=1, price=Decimal("1.2345")), Seed(minutes=2, text="=1+1")],
    )
    response = ready(account, order(account, type_load="1"))
    assert response.headers["content-type"] == XLSX_TYPE
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="report-{order_id(response)}.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Message ID", "Created (Europe/Moscow)", "Sent (Europe/Moscow)")
    assert len(rows) == 3
    stored = message_rows(reports_server.database, seeded)
    for row, part_id in zip(rows[1:], seeded, strict=True):
        part = stored[part_id]
        message_id, created, submitted, sender, destination, text, parts, code, _, reported = row[
            :10
        ]
        price, login = row[10:]
        assert message_id == part_id
        assert created == part.created_at.astimezone(ZONE).replace(tzinfo=None)
        assert submitted is None
        assert reported == part.reported_at.astimezone(ZONE).replace(tzinfo=None)
        assert isinstance(price, float) and Decimal(str(price)) == part.price
        assert (sender, destination, text, parts, code, login) == (
            part.sender_name,
            part.destination,
            part.text,
            1,
            0,
            account.login,
        )
    assert sheet.cell(row=3, column=6).data_type == "s"  # "=1+1" is text, never a formula


def order_id(response: httpx.Response) -> str:
    """The report id in the query of the download that answered ``response``."""
    return str(response.request.url.params["id_report"])


def test_times_are_shown_in_the_accounts_zone_across_a_clock_change(
    reports_server: Deployment,
) -> None:
    account = reports_server.make_account()
    reports_server.admin.set_timezone(account.login, "Europe/Berlin")
    # Berlin moved its clocks from 02:00 to 03:00 on 2025-03-30, at 01:00 UTC.
    before, after = seed(
        reports_server.database,
        account,
        [Seed(minutes=int(timedelta(days=20).total_seconds() // 60) + m) for m in (59, 60)],
    )
    bounds = {"startTime": "2025-03-30T00:00:00", "endTime": "2025-03-30T02:00:00"}
    header, *rows = csv_rows(ready(account, order(account, **bounds)))
    assert header[1] == "Created (Europe/Berlin)"
    assert [(int(row[0]), row[1]) for row in rows] == [
        (before, "2025-03-30 01:59:00"),
        (after, "2025-03-30 03:00:00"),
    ]
